"""The `keras-zoo` command.

- `commands.py`: argument parsing and the commands, a thin layer over the public API.
- `catalog.py`, `_catalog_data.py`: the static model/dataset catalog (no TensorFlow needed).
"""

from keras_zoo.cli.commands import main

__all__ = ["main"]
