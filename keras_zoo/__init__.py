"""keras-zoo: known-good Keras 3 models by name, fitted on TensorFlow Datasets.

```python
import keras_zoo as kz

kz.list_models(family="cnn")
result = kz.fit("simple_cnn", "digits")
result.metrics
```
"""

__version__ = "0.1.0"

from keras_zoo._quiet import filtered_stderr as _filtered_stderr

with _filtered_stderr():  # TensorFlow's native start-up notices
    from keras_zoo import models as _models  # noqa: F401  registers every model
    from keras_zoo.data import dataset_spec, list_datasets, load_dataset
    from keras_zoo.distribute import get_strategy
    from keras_zoo.errors import (
        DamagedRunFileError,
        DatasetNotAvailableError,
        IncompatibleError,
        InvalidArgumentError,
        RunFolderInUseError,
        UnknownNameError,
        WeightsError,
        ZooError,
    )
    from keras_zoo.recipes import Expected, TrainingRecipe, recipe
    from keras_zoo.export import ExportError, export
    from keras_zoo.registry import (
        ModelInfo,
        create_model,
        list_models,
        model_info,
        register_model,
    )
    from keras_zoo.training import FitResult, evaluate, fit, load_model
    from keras_zoo.weights import (
        WeightsEntry,
        enable_lora,
        list_weights,
        merge_lora,
        publish,
        register_weights,
    )
    from keras_zoo.tuning import TuneResult, tune

__all__ = [
    "DamagedRunFileError",
    "DatasetNotAvailableError",
    "Expected",
    "ExportError",
    "FitResult",
    "IncompatibleError",
    "InvalidArgumentError",
    "ModelInfo",
    "RunFolderInUseError",
    "TrainingRecipe",
    "TuneResult",
    "UnknownNameError",
    "WeightsEntry",
    "WeightsError",
    "ZooError",
    "create_model",
    "dataset_spec",
    "enable_lora",
    "evaluate",
    "export",
    "fit",
    "get_strategy",
    "list_datasets",
    "list_models",
    "list_weights",
    "load_dataset",
    "load_model",
    "merge_lora",
    "model_info",
    "publish",
    "recipe",
    "register_model",
    "register_weights",
    "tune",
]
