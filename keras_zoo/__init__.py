"""keras-zoo: known-good Keras 3 models by name, fitted on TensorFlow Datasets.

```python
import keras_zoo as kz

kz.list_models(family="cnn")
result = kz.fit("simple_cnn", "digits")
result.metrics
```

`import keras_zoo` itself is cheap: the public names below load Keras,
TensorFlow, every model and the offline tfds builders on first use (PEP 562
module `__getattr__`), so the `keras-zoo` command answers `--help`, `list`,
`info` and `datasets` without importing TensorFlow.
"""

from keras_zoo._cpu import default_onednn
from keras_zoo._version import __version__  # noqa: F401

# Before anything imports TensorFlow: oneDNN on where TensorFlow leaves it off and it
# pays (AVX2 without AVX-512; `keras_zoo/_cpu.py`). A TF_ENABLE_ONEDNN_OPTS of the
# user's is kept; TensorFlow imported before keras_zoo keeps its own default.
default_onednn()

# public name -> the module defining it.
_EXPORTS = {
    "DamagedRunFileError": "keras_zoo.errors",
    "DatasetNotAvailableError": "keras_zoo.errors",
    "IncompatibleError": "keras_zoo.errors",
    "InvalidArgumentError": "keras_zoo.errors",
    "RunFolderInUseError": "keras_zoo.errors",
    "UnknownNameError": "keras_zoo.errors",
    "WeightsError": "keras_zoo.errors",
    "ZooError": "keras_zoo.errors",
    "dataset_spec": "keras_zoo.data",
    "list_datasets": "keras_zoo.data",
    "load_dataset": "keras_zoo.data",
    "get_strategy": "keras_zoo.distribute",
    "Expected": "keras_zoo.recipes",
    "TrainingRecipe": "keras_zoo.recipes",
    "recipe": "keras_zoo.recipes",
    "ExportError": "keras_zoo.export",
    "export": "keras_zoo.export",
    "ModelInfo": "keras_zoo.models",
    "create_model": "keras_zoo.weights",
    "list_models": "keras_zoo.models",
    "model_info": "keras_zoo.models",
    "register_model": "keras_zoo.models",
    "FitResult": "keras_zoo.training",
    "evaluate": "keras_zoo.training",
    "fit": "keras_zoo.training",
    "Prediction": "keras_zoo.training",
    "predict": "keras_zoo.training",
    "load_model": "keras_zoo.runs",
    "WeightsEntry": "keras_zoo.weights",
    "enable_lora": "keras_zoo.weights",
    "list_weights": "keras_zoo.weights",
    "merge_lora": "keras_zoo.weights",
    "publish": "keras_zoo.weights",
    "register_weights": "keras_zoo.weights",
    "TuneResult": "keras_zoo.training",
    "tune": "keras_zoo.training",
}

__all__ = sorted(_EXPORTS)


def _load():
    """Imports everything the public API needs, once (as an eager import would)."""
    import importlib

    from keras_zoo._quiet import filtered_stderr

    with filtered_stderr():  # TensorFlow's native start-up notices
        importlib.import_module("keras_zoo.data")  # registers the offline tfds builders
        for name, module in _EXPORTS.items():
            globals()[name] = getattr(importlib.import_module(module), name)


def __getattr__(name):
    if name in _EXPORTS:
        _load()
        return globals()[name]
    raise AttributeError(f"module 'keras_zoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
