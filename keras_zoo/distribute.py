"""Where a model trains: distribution strategy, precision, steps per execution.

Every object returned by `get_strategy` has a `scope()` context manager;
`training.fit` creates the model and optimizer inside it.
"""

import os

import keras

from keras_zoo.errors import InvalidArgumentError, unknown_name

STRATEGIES = ("auto", "cpu", "default", "one_device", "mirrored", "multi_worker", "tpu",
              "data_parallel")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def get_strategy(name="auto"):
    """Returns the distribution strategy the zoo uses for `name`.

    Args:
        name: one of `"auto"` (the best strategy for the machine; for now the
            default strategy), `"cpu"`/`"default"` (the default strategy, one
            device), `"one_device"` (`tf.distribute.OneDeviceStrategy` on the
            first GPU, else the CPU), `"mirrored"` (several GPUs),
            `"multi_worker"`, `"tpu"`, `"data_parallel"` (JAX backend).

    Returns:
        An object with a `scope()` context manager, e.g. a
        `tf.distribute.Strategy`.

    Example:

    >>> strategy = get_strategy("auto")
    >>> with strategy.scope():
    ...     model = create_model("mlp")
    """
    if not isinstance(name, str) or name not in STRATEGIES:
        raise unknown_name("strategy", name, STRATEGIES)
    import tensorflow as tf

    if name in ("auto", "cpu", "default"):
        return tf.distribute.get_strategy()
    backend = keras.backend.backend()
    if name == "one_device":
        _require_backend(name, "tensorflow", backend)
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        _require_backend(name, "tensorflow", backend)
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) < 2:
            raise InvalidArgumentError(
                f"Strategy 'mirrored' needs at least 2 GPUs; this machine has {len(gpus)}. "
                f"Use strategy='auto'. Received: strategy={name!r}"
            )
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise InvalidArgumentError(
                "Strategy 'multi_worker' needs the TF_CONFIG environment variable "
                "describing the cluster; it is not set. Received: strategy='multi_worker'"
            )
        raise InvalidArgumentError(
            "Strategy 'multi_worker' is not supported by fit yet: Keras 3 `model.fit` "
            "fails under MultiWorkerMirroredStrategy (keras-team/keras#20585). "
            "Received: strategy='multi_worker'"
        )
    if name == "tpu":
        if not (os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")):
            raise InvalidArgumentError(
                "Strategy 'tpu' found no TPU (neither TPU_NAME nor COLAB_TPU_ADDR is set). "
                "On a Colab TPU runtime use KERAS_BACKEND=jax with strategy='data_parallel'. "
                "Received: strategy='tpu'"
            )
        raise InvalidArgumentError(
            "Strategy 'tpu' (tf.distribute.TPUStrategy) is not supported yet; use "
            "KERAS_BACKEND=jax with strategy='data_parallel'. Received: strategy='tpu'"
        )
    # data_parallel
    _require_backend(name, "jax", backend)
    devices = keras.distribution.list_devices()
    if len(devices) < 2:
        raise InvalidArgumentError(
            f"Strategy 'data_parallel' needs more than one device; found {len(devices)}. "
            f"On CPU set XLA_FLAGS=--xla_force_host_platform_device_count=8 before start-up. "
            f"Received: strategy='data_parallel'"
        )
    raise InvalidArgumentError(
        "Strategy 'data_parallel' (keras.distribution.DataParallel) is not supported by "
        "fit yet. Received: strategy='data_parallel'"
    )


def _require_backend(name, needed, backend):
    if backend != needed:
        raise InvalidArgumentError(
            f"Strategy {name!r} needs the {needed} Keras backend (KERAS_BACKEND={needed}); "
            f"the current backend is {backend}. Received: strategy={name!r}"
        )


def resolve_precision(precision, family=None):
    """Returns the Keras dtype policy name to train with.

    Args:
        precision: `"auto"`, `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.
        family: the model family (`"cnn"`, `"rnn"`, ...). `"auto"` will choose
            per device and family (bfloat16 helps CNNs and Transformers on CPUs
            with AMX, slows LSTMs); for now it always resolves to `"float32"`.

    Returns:
        A dtype policy name accepted by `keras.config.set_dtype_policy`.
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InvalidArgumentError(
            f"`precision` must be one of {', '.join(PRECISIONS)}. "
            f"Received: precision={precision!r}"
        )
    if precision == "auto":
        return "float32"  # Seam: a later issue picks per device and `family`.
    return precision


def steps_per_execution(strategy=None, family=None):
    """Returns the `steps_per_execution` passed to `model.compile`.

    Keras's default (1) for now; the one place to tune it per device. Keep it
    1 under `MirroredStrategy` (keras-team/keras#19246).
    """
    return 1
