"""Models by name: the registry, shared layers and metrics, one module per family.

Importing this package registers every model (`@register_model` on each builder).

- `registry.py`: register, list, describe and build models (imports no model).
- `layers.py`, `metrics.py`: custom layers, losses and metrics, registered serializable.
- `dense.py`, `cnn.py`, `rnn.py`, `transformer.py`, `gan.py`, `bert.py`: the families.
"""

from keras_zoo.models import bert, cnn, dense, gan, metrics, rnn, transformer  # noqa: F401  registers them
from keras_zoo.models.registry import (
    FAMILIES,
    TASKS,
    ModelInfo,
    build_model,
    check_overrides,
    describe_outputs,
    list_models,
    model_info,
    register_model,
)

__all__ = ["FAMILIES", "TASKS", "ModelInfo", "build_model", "check_overrides", "describe_outputs",
           "list_models", "model_info", "register_model"]
