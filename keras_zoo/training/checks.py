"""Checks of a run's arguments against the dataset and this machine, before anything runs.

`training.fit` calls these while it resolves its arguments, so a mistake is
one `ZooError` (CLI exit code 2, one line) instead of a Keras or TensorFlow
error from deep inside the first step:

- `check_model_args`: activation names resolved up front (never evaluated),
  overrides that contradict the dataset (`input_shape`, `sequence_length`,
  `output_length`; `num_classes` or `vocab_size` smaller than the
  dataset's) refused, and sizes whose training state cannot fit in this
  machine's memory refused with the estimate.
- `check_batch_fits`: a batch whose inputs alone cannot fit in memory.
"""

import math
import os

import keras

from keras_zoo.distribute.memory import bytes_per_parameter
from keras_zoo.errors import IncompatibleError, InvalidArgumentError

# Dataset arguments an override must equal, and those it may only raise.
_EQUAL = ("input_shape", "sequence_length", "output_length")
_AT_LEAST = {"num_classes": "classes", "vocab_size": "token ids"}


def memory_bytes():
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n):
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000


def activation_names():
    """The activation names Keras resolves: the public functions of `keras.activations`."""
    return sorted(name for name in dir(keras.activations)
                  if not name.startswith("_") and name not in ("get", "serialize", "deserialize")
                  and callable(getattr(keras.activations, name)))


def check_model_args(info, spec, args, given):
    """Checks a model's builder arguments for a dataset, before the model is built.

    Args:
        info: the model's `ModelInfo`.
        spec: the dataset's `DatasetSpec`.
        args: every builder argument (the dataset's, then the user's).
        given: the arguments the user gave.

    Raises:
        InvalidArgumentError: an unknown activation name, or sizes whose
            training state cannot fit in memory.
        IncompatibleError: an override contradicting the dataset.
    """
    for key, value in given.items():
        # `classifier_activation` is checked by the builders (None or "softmax").
        if key.endswith("activation") and key != "classifier_activation" and isinstance(
                value, str) and value not in activation_names():
            raise InvalidArgumentError(
                f"Unknown activation {value!r} for argument {key!r} of model {info.name!r}. "
                f"Received: {key}={value!r}. Accepted: {', '.join(activation_names())}.")
    dataset_args = spec.model_args()
    for key, value in given.items():
        if key not in dataset_args:
            continue
        expected = dataset_args[key]
        if key in _EQUAL and _as_tuple(value) != _as_tuple(expected):
            raise IncompatibleError(
                f"Dataset {spec.name!r} has {key}={expected!r}, but model {info.name!r} was "
                f"given {key}={value!r}; drop the override (the dataset sets it). "
                f"Received: {key}={value!r}")
        if key in _AT_LEAST and isinstance(value, int) and value < expected:
            raise IncompatibleError(
                f"Dataset {spec.name!r} has {expected} {_AT_LEAST[key]}, but model "
                f"{info.name!r} was given {key}={value}, too few to predict them all; use at "
                f"least {expected} (or drop the override). Received: {key}={value}")
    if any(isinstance(v, (int, float, tuple, list)) and not isinstance(v, bool)
           for v in given.values()):
        _check_weights_fit(info.name, args, given)


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else value


def count_params_without_weights(name, args):
    """The parameter count of `create_model(name, **args)`, allocating no weights.

    The model is built inside a `keras.StatelessScope` that leaves its
    variables uninitialized, so even a model of 10**11 parameters costs
    only its graph. Keras keeps such variables in a global list to
    initialize them at the next scope exit; they are taken off it again,
    through Keras's private `global_state` (no public way), so nothing ever
    allocates them.
    """
    from keras.src.backend.common import global_state

    from keras_zoo.models import registry

    key = "uninitialized_variables"
    pending = list(global_state.get_global_attribute(key) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = registry.build_model(name, **args)
        return model.count_params()
    finally:
        global_state.set_global_attribute(key, pending)


def _check_weights_fit(name, args, given):
    memory = memory_bytes()
    if memory is None:
        return
    params = count_params_without_weights(name, args)
    needed = params * bytes_per_parameter("adam")  # a lower bound: activations come on top
    if needed > memory:
        received = ", ".join(f"{k}={v!r}" for k, v in given.items())
        raise InvalidArgumentError(
            f"Model {name!r} with these arguments has {params:,} parameters: training needs "
            f"about {_size(needed)} (weights, gradients and Adam's two moments in float32, "
            f"before activations), more than this machine's {_size(memory)} of memory. "
            f"Choose smaller sizes. Received: {received}")


def check_batch_fits(spec, batch_size):
    """Refuses a batch whose input tensor alone cannot fit in this machine's memory.

    Raises:
        InvalidArgumentError: naming the estimate and the memory.
    """
    memory = memory_bytes()
    if memory is None:
        return
    if spec.input_shape is not None:
        per_example, what = 4 * math.prod(spec.input_shape), f"{tuple(spec.input_shape)} float32"
    else:
        length = (spec.sequence_length or 1) + (spec.output_length or 0)
        per_example, what = 4 * length, f"{length} int32 tokens"
    needed = batch_size * per_example
    if needed > memory:
        raise InvalidArgumentError(
            f"One batch of {batch_size:,} examples of dataset {spec.name!r} ({what} each) takes "
            f"about {_size(needed)} before any activation, more than this machine's "
            f"{_size(memory)} of memory. Choose a smaller batch_size. "
            f"Received: batch_size={batch_size}")
