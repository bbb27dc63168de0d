"""The model registry: register, list, describe and build models (it imports no model).

A model is a builder function decorated with `@register_model`. Its name is
the registry key, its keyword arguments (all with defaults) are the knobs a
user may override, and its docstring's first line is the description.

```python
@register_model(family="cnn", task="image_classification",
                dataset="cifar10", reference="He et al. 2015")
def resnet20(input_shape=(32, 32, 3), num_classes=10, dropout=0.0):
    \"\"\"ResNet-20 for 32x32 images.\"\"\"
    return build_cifar_resnet(depth=20, ...)
```
"""

import dataclasses
import fnmatch
import inspect
import types

from keras_zoo.errors import InvalidArgumentError, is_integer, unknown_name

FAMILIES = ("dense", "cnn", "rnn", "transformer", "gan")

# task -> the kinds of data (see `keras_zoo.data`) a model of that task reads.
TASKS = (
    "classification",  # features or flattened images -> class probabilities
    "image_classification",  # (H, W, C) floats -> class probabilities
    "text_classification",  # (T,) token ids -> class probabilities
    "seq2seq",  # (T_in,) token ids -> (T_out, vocab) logits
    "language_modeling",  # (T,) token ids -> (T, vocab) next-token logits
    "masked_language_modeling",  # (T,) ids with [MASK]s -> (T, vocab + 1) original-token logits
    "image_generation",  # noise -> images; trained on images alone
)

_REGISTRY = {}


def _registry():
    """The registry; `import keras_zoo.models` fills it with the zoo's own models."""
    return _REGISTRY


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a registered model.

    Attributes:
        name: registry key, the builder function's name.
        family: one of `FAMILIES`.
        task: one of `TASKS`; decides compile defaults.
        inputs: kinds of dataset the model reads (`"image"`, `"features"`,
            `"text"`, `"seq2seq"`, `"lm"`).
        description: one line, from the builder's docstring.
        dataset: the default dataset's name.
        reference: the paper or example the architecture follows.
        defaults: the builder's keyword arguments and their defaults.
        tiny: small overrides used by the tests to build the model fast.
    """

    name: str
    family: str
    task: str
    inputs: tuple
    description: str
    dataset: str
    reference: str
    defaults: types.MappingProxyType
    tiny: types.MappingProxyType

    @property
    def outputs(self):
        """What the model outputs, in words (shape, dtype, and what the head computes)."""
        return describe_outputs(self.task, self.defaults)

    def to_dict(self):
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "inputs": list(self.inputs),
            "description": self.description,
            "dataset": self.dataset,
            "reference": self.reference,
            "defaults": dict(self.defaults),
            "outputs": self.outputs,
        }


def describe_outputs(task, defaults):
    """What a model of `task` with builder `defaults` outputs, in words."""
    if task == "image_generation":
        return ("images (B, H, W, C) in [-1, 1] from the generator (tanh); the "
                "discriminator outputs float32 logits")
    if task == "language_modeling":
        return "(B, sequence_length, vocab_size) float32 next-token logits"
    if task == "masked_language_modeling":
        return ("(B, sequence_length, vocab_size + 1) float32 logits of the original tokens "
                "(the last id is [MASK])")
    if task == "seq2seq":
        return "(B, output_length, vocab_size) float32 logits"
    if defaults.get("classifier_activation") == "softmax":
        return ("(B, num_classes) float32 class probabilities (softmax head; "
                "classifier_activation=None for logits)")
    return "(B, num_classes) float32 logits"


@dataclasses.dataclass(frozen=True)
class _Entry:
    info: ModelInfo
    builder: object


def register_model(*, family, task, dataset, reference, inputs=None, tiny=None):
    """Decorator registering a model builder under its function name.

    Args:
        family: one of `FAMILIES`.
        task: one of `TASKS`.
        dataset: name of the dataset the model is fitted on by default.
        reference: paper or example the architecture follows.
        inputs: kinds of data accepted; defaults to the task's own kind.
        tiny: dict of overrides giving a small, fast variant for tests.

    Returns:
        The decorator; it returns the builder unchanged.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}. Received: family={family!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}. Received: task={task!r}")
    if inputs is None:
        inputs = (_DEFAULT_INPUTS[task],)

    def decorator(builder):
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        signature = inspect.signature(builder)
        defaults = {}
        for param in signature.parameters.values():
            if param.default is inspect.Parameter.empty or param.kind in (
                param.VAR_POSITIONAL,
                param.VAR_KEYWORD,
            ):
                raise ValueError(
                    f"Model builder {name!r}: every argument needs a default and "
                    f"*args/**kwargs are not allowed. Received: {param}"
                )
            defaults[param.name] = param.default
        unknown_tiny = set(tiny or {}) - set(defaults)
        if unknown_tiny:
            raise ValueError(f"{name}: tiny names unknown arguments {sorted(unknown_tiny)}")
        doc = inspect.getdoc(builder) or ""
        info = ModelInfo(
            name=name,
            family=family,
            task=task,
            inputs=tuple(inputs),
            description=doc.splitlines()[0] if doc else "",
            dataset=dataset,
            reference=reference,
            defaults=types.MappingProxyType(defaults),
            tiny=types.MappingProxyType(dict(tiny or {})),
        )
        _REGISTRY[name] = _Entry(info, builder)
        return builder

    return decorator


_DEFAULT_INPUTS = {
    "classification": "features",
    "image_classification": "image",
    "text_classification": "text",
    "seq2seq": "seq2seq",
    "language_modeling": "lm",
    "masked_language_modeling": "lm",  # the pipeline masks it (keras_zoo.data.masking)
    "image_generation": "image",
}


def list_models(pattern=None, *, family=None, task=None):
    """Returns the sorted names of registered models.

    Args:
        pattern: optional fnmatch wildcard, e.g. `"resnet*"`.
        family: keep only this family (one of `FAMILIES`).
        task: keep only this task (one of `TASKS`).

    Example:

    >>> list_models("resnet*")
    ['resnet20', 'resnet32', 'resnet56']
    """
    if family is not None and family not in FAMILIES:
        raise unknown_name("family", family, FAMILIES)
    if task is not None and task not in TASKS:
        raise unknown_name("task", task, TASKS)
    names = []
    for name, entry in _registry().items():
        if pattern is not None and not fnmatch.fnmatch(name, pattern):
            continue
        if family is not None and entry.info.family != family:
            continue
        if task is not None and entry.info.task != task:
            continue
        names.append(name)
    return sorted(names)


def _entry(name):
    if not isinstance(name, str) or name not in _registry():
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name]


def model_info(name):
    """Returns the `ModelInfo` record of a registered model."""
    return _entry(name).info


def check_overrides(name, overrides):
    """Checks override names and types against the builder's arguments.

    Raises:
        InvalidArgumentError: naming the argument, the value received and
            what is accepted.
    """
    defaults = _entry(name).info.defaults
    for key, value in overrides.items():
        if key not in defaults:
            raise InvalidArgumentError(
                f"Model {name!r} has no argument {key!r}. Received: {key}={value!r}. "
                f"Accepted: {', '.join(sorted(defaults))}."
            )
        _check_type(name, key, value, defaults[key])


def _check_type(name, key, value, default):
    if default is None or value is None:  # None ("none", "off") is the builder's to check
        return
    accepted = None
    if isinstance(default, bool):
        ok, accepted = isinstance(value, bool), "a bool"
    elif isinstance(default, int):
        ok, accepted = is_integer(value), "an int"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        accepted = "a number"
    elif isinstance(default, (tuple, list)):
        ok, accepted = isinstance(value, (tuple, list)), "a tuple"
    elif isinstance(default, str):  # None too, e.g. classifier_activation=None for logits
        ok, accepted = value is None or isinstance(value, str), "a string or None"
    else:
        ok = True
    if not ok:
        raise InvalidArgumentError(
            f"Argument {key!r} of model {name!r} must be {accepted}. "
            f"Received: {key}={value!r} ({type(value).__name__})"
        )


def build_model(name, **overrides):
    """Builds a registered model with random weights, uncompiled.

    `keras_zoo.create_model` is the public door (it also loads weights);
    this is the registry's part: the overrides checked, the builder called.

    Args:
        name: registry key, see `list_models()`.
        **overrides: builder arguments that replace the defaults.

    Returns:
        A `keras.Model` (Functional), not compiled.
    """
    entry = _entry(name)
    check_overrides(name, overrides)
    return entry.builder(**{key: _plain(value) for key, value in overrides.items()})


def _plain(value):
    """NumPy scalars (`np.int64(8)`, as notebooks pass) as Python's; Keras layers refuse them."""
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") and hasattr(value, "dtype") else value
