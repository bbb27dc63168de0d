"""keras-zoo: known-good Keras 3 models by name, fitted on TensorFlow Datasets.

```python
import keras_zoo as kz

kz.list_models(family="cnn")
result = kz.fit("simple_cnn", "digits")
result.metrics
```
"""

import os as _os
import sys as _sys

# TensorFlow prints C++ start-up notices (oneDNN, CPU features) at import.
# Hide them unless the user asked (TF_CPP_MIN_LOG_LEVEL set, or `--verbose`).
if "TF_CPP_MIN_LOG_LEVEL" not in _os.environ and "--verbose" not in _sys.argv:
    _os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

__version__ = "0.1.0"

from keras_zoo import models as _models  # noqa: E402,F401  registers every model
from keras_zoo.data import list_datasets, load_dataset, dataset_spec  # noqa: E402
from keras_zoo.distribute import get_strategy  # noqa: E402
from keras_zoo.errors import (  # noqa: E402
    DatasetNotAvailableError,
    IncompatibleError,
    InvalidArgumentError,
    UnknownNameError,
    ZooError,
)
from keras_zoo.registry import (  # noqa: E402
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
)
from keras_zoo.training import FitResult, evaluate, fit, load_model  # noqa: E402

__all__ = [
    "DatasetNotAvailableError",
    "FitResult",
    "IncompatibleError",
    "InvalidArgumentError",
    "ModelInfo",
    "UnknownNameError",
    "ZooError",
    "create_model",
    "dataset_spec",
    "evaluate",
    "fit",
    "get_strategy",
    "list_datasets",
    "list_models",
    "load_dataset",
    "load_model",
    "model_info",
    "register_model",
]
