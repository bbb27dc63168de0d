"""Where a model trains: distribution strategies (TensorFlow and JAX backends).

`get_strategy(name)` returns an object with a `scope()` context manager:
a `tf.distribute.Strategy` on the TensorFlow backend, or a
`keras.distribution.DataParallel` on the JAX backend. `training.fit` creates
the model and optimizer inside `run_scope(strategy)`. On JAX, `get_strategy`
first joins the other processes of a multi-process run
(`keras_zoo.distribute.multi_process.initialize`), so JAX strategies span every process's
devices.

`batch_size` is always the GLOBAL batch: the examples in one optimizer step,
over all replicas. It must divide by the replica count; each replica gets
`batch_size // replicas` (see `placement`).
"""

import contextlib
import json
import os

import keras

from keras_zoo.distribute import devices, multi_process, sharding
from keras_zoo.errors import InvalidArgumentError, unknown_name

STRATEGIES = ("auto", "cpu", "default", "one_device", "mirrored", "multi_worker", "tpu",
              "data_parallel", "model_parallel")

# MultiWorkerMirroredStrategy and TPUStrategy start a server or initialise the
# TPU system, which TensorFlow allows once per process, and MirroredStrategy
# objects over the same devices collide; so they are made once and kept.
_PROCESS_STRATEGIES = {}


def get_strategy(name="auto", *, tpu_resolver=None):
    """Returns the distribution strategy the zoo uses for `name`.

    Args:
        name: one of
            - `"auto"`: on TensorFlow, in order: a TPU if one is attached
              (TPUStrategy), several local GPUs (MirroredStrategy), a
              `TF_CONFIG` naming several workers (MultiWorkerMirroredStrategy),
              else the default strategy. On JAX: `keras.distribution.DataParallel`
              over all devices (of all processes, see
              `keras_zoo.distribute.multi_process`) when there is more than one, else the
              default.
            - `"cpu"` / `"default"`: the default strategy (one device).
            - `"one_device"`: `tf.distribute.OneDeviceStrategy` on the first
              GPU, else the CPU.
            - `"mirrored"`: `tf.distribute.MirroredStrategy` over the local
              GPUs (or the logical CPUs when there are several and no GPUs).
            - `"multi_worker"`: `tf.distribute.MultiWorkerMirroredStrategy`
              from `TF_CONFIG` (trained by `keras_zoo.training.multi_worker`).
            - `"tpu"`: `tf.distribute.TPUStrategy` (see `tpu_strategy`).
            - `"data_parallel"`: `keras.distribution.DataParallel` (JAX).
            - `"model_parallel"`, `"model_parallel:BxM"`:
              `keras.distribution.ModelParallel` (JAX) over a ("batch",
              "model") mesh of B x M devices (default 1 x all); see
              `keras_zoo.distribute.sharding`.
        tpu_resolver: a `TPUClusterResolver` to use instead of the one found
            from the environment (for `"tpu"` and `"auto"`).

    Returns:
        An object with a `scope()` context manager.

    Raises:
        UnknownNameError: `name` is not one of `STRATEGIES`.
        InvalidArgumentError: what `name` needs is not there (no TPU, fewer
            than 2 devices for `"mirrored"`, no `TF_CONFIG`, wrong backend),
            or a one-device strategy in a run of several JAX processes.

    Example:

    >>> strategy = get_strategy("auto")
    >>> with strategy.scope():
    ...     model = create_model("mlp")
    """
    backend = keras.backend.backend()
    processes = multi_process.initialize()  # JAX: before anything starts JAX
    if sharding.is_model_parallel_name(name):
        _require_backend("model_parallel", "jax", backend)
        return sharding.model_parallel(name)
    if not isinstance(name, str) or name not in STRATEGIES:
        raise unknown_name("strategy", name, STRATEGIES)
    import tensorflow as tf

    if name == "auto":
        if backend == "jax":
            return _data_parallel() if len(devices.jax_devices()) > 1 else tf.distribute.get_strategy()
        if tpu_resolver is not None or devices.tpu_attached():
            return tpu_strategy(tpu_resolver)
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        if _tf_config_workers() > 1:
            return _multi_worker()
        return tf.distribute.get_strategy()
    if name in ("cpu", "default"):
        if processes > 1:
            raise InvalidArgumentError(
                f"Strategy {name!r} trains on one device, but this is one of {processes} JAX "
                f"processes; use 'data_parallel', 'model_parallel' or 'auto' to train over all "
                f"of them. Received: strategy={name!r}")
        return tf.distribute.get_strategy()
    if name == "data_parallel":
        _require_backend(name, "jax", backend)
        found = len(devices.jax_devices())
        if found < 2:
            raise InvalidArgumentError(
                f"Strategy 'data_parallel' needs more than one device; found {found}. "
                f"On CPU set XLA_FLAGS=--xla_force_host_platform_device_count=8 before start-up. "
                f"Received: strategy='data_parallel'"
            )
        return _data_parallel()
    _require_backend(name, "tensorflow", backend)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        logical = (tf.config.list_logical_devices("GPU")
                   or tf.config.list_logical_devices("CPU"))
        if len(logical) < 2:
            raise InvalidArgumentError(
                f"Strategy 'mirrored' needs at least 2 GPUs (or 2 logical CPUs); this "
                f"machine has {len(logical)} device. Use strategy='auto'. "
                f"Received: strategy={name!r}"
            )
        # One per device set: two MirroredStrategy objects in a process would
        # reuse each other's collective instance keys.
        key = ("mirrored",) + tuple(d.name for d in logical)
        if key not in _PROCESS_STRATEGIES:
            _PROCESS_STRATEGIES[key] = tf.distribute.MirroredStrategy([d.name for d in logical])
        return _PROCESS_STRATEGIES[key]
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise InvalidArgumentError(
                "Strategy 'multi_worker' needs the TF_CONFIG environment variable "
                "describing the cluster; it is not set (see docs/distribution.md, 'Run on several "
                "machines'). Received: strategy='multi_worker'"
            )
        return _multi_worker()
    # tpu
    if tpu_resolver is None and not devices.tpu_attached():
        raise InvalidArgumentError(
            "Strategy 'tpu' found no TPU (no COLAB_TPU_ADDR or TPU_NAME variable, no "
            "/dev/accel* or /dev/vfio device). On a Colab TPU runtime (no TensorFlow) use "
            "KERAS_BACKEND=jax with strategy='data_parallel'. Received: strategy='tpu'"
        )
    return tpu_strategy(tpu_resolver)


def _require_backend(name, needed, backend):
    if backend != needed:
        raise InvalidArgumentError(
            f"Strategy {name!r} needs the {needed} Keras backend (KERAS_BACKEND={needed}); "
            f"the current backend is {backend}. Received: strategy={name!r}"
        )


def _data_parallel():
    return multi_process.DataParallel(devices=devices.jax_devices())


def _tf_config_workers():
    """The number of workers (chief included) `TF_CONFIG` names, 0 if unset."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as e:
        raise InvalidArgumentError(
            f"TF_CONFIG is not valid JSON with a 'cluster' entry ({e}). Received: "
            f"TF_CONFIG={raw!r}"
        ) from e
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _multi_worker():
    import tensorflow as tf

    if "multi_worker" not in _PROCESS_STRATEGIES:
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        try:
            _PROCESS_STRATEGIES["multi_worker"] = tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=options)
        except RuntimeError as e:  # "Collective ops must be configured at program startup"
            raise InvalidArgumentError(
                "MultiWorkerMirroredStrategy must be created before TensorFlow runs any op: "
                "call `keras_zoo.get_strategy('multi_worker')` first thing in the program "
                f"({e}). Received: strategy='multi_worker'"
            ) from e
    return _PROCESS_STRATEGIES["multi_worker"]


def is_multi_worker(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` (trained by
    `keras_zoo.training.multi_worker`, since Keras 3 `fit` fails there)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this process writes the run's files: always, except for the
    non-chief workers of a multi-worker strategy and JAX processes other
    than process 0."""
    if keras.backend.backend() == "jax":
        return multi_process.is_first_process()
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


# TPU ---------------------------------------------------------------------------------


def tpu_strategy(resolver=None):
    """Connects to the TPU, initialises it and returns a `TPUStrategy`.

    Once per process (TensorFlow initialises the TPU system once); later
    calls return the same strategy. Train with `precision="mixed_bfloat16"`
    (what `precision="auto"` picks on TPU).

    Args:
        resolver: a `tf.distribute.cluster_resolver.TPUClusterResolver`;
            None finds it from the environment (`devices.tpu_resolver()`).

    Returns:
        A `tf.distribute.TPUStrategy`.
    """
    import tensorflow as tf

    if "tpu" not in _PROCESS_STRATEGIES:
        resolver = resolver or devices.tpu_resolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _PROCESS_STRATEGIES["tpu"] = tf.distribute.TPUStrategy(resolver)
    return _PROCESS_STRATEGIES["tpu"]


def strategy_name(strategy):
    """A short name for the record, e.g. "MirroredStrategy", "DataParallel"."""
    if hasattr(strategy, "device_mesh"):
        return type(strategy).__name__
    import tensorflow as tf

    for public in ("MultiWorkerMirroredStrategy", "TPUStrategy", "MirroredStrategy",
                   "OneDeviceStrategy"):  # the classes behind them have other names
        if isinstance(strategy, getattr(tf.distribute, public)):
            return public
    if strategy is tf.distribute.get_strategy():
        return "default"
    return type(strategy).__name__


def placement(strategy, batch_size):
    """Returns what a run records about where it trains, checking the batch.

    Args:
        strategy: what `get_strategy` returned.
        batch_size: the GLOBAL batch size (all replicas together).

    Returns:
        `{"strategy", "replicas", "global_batch_size", "per_replica_batch_size",
        "device_kind"}`.

    Raises:
        InvalidArgumentError: `batch_size` does not divide by the replicas.
    """
    replicas = devices.num_replicas(strategy)
    if batch_size % replicas:
        raise InvalidArgumentError(
            f"`batch_size` is the global batch (all replicas together) and must divide by "
            f"the {replicas} replicas of {strategy_name(strategy)}; use e.g. "
            f"{max(replicas, batch_size // replicas * replicas)}. Received: batch_size={batch_size}"
        )
    return {
        "strategy": strategy_name(strategy),
        "replicas": replicas,
        "global_batch_size": batch_size,
        "per_replica_batch_size": batch_size // replicas,
        "device_kind": devices.device_kind(),
    }


@contextlib.contextmanager
def run_scope(strategy):
    """The scope a whole run (build, fit, evaluate) happens in.

    A `keras.distribution.Distribution` (JAX) is set globally for the
    duration only (Keras distributes the data when `fit` runs, not only when
    variables are made) and the previous one restored after. Nothing for a
    `tf.distribute.Strategy`, whose scope is only needed to build.
    """
    if not hasattr(strategy, "device_mesh"):
        yield
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(strategy)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def with_input_options(dataset, strategy):
    """Sets the auto-shard policy of a `tf.data.Dataset` for `strategy`.

    Several workers: `AUTO` shards by file when the source is read from
    several files and by DATA otherwise (each worker keeps its share of every
    global batch), so no example is read twice per step. The zoo's pipelines
    read from a cache, so DATA it is; one worker: sharding is off.
    """
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        policy.DATA if is_multi_worker(strategy) else policy.OFF)
    return dataset.with_options(options)


# MirroredStrategy with steps_per_execution > 1 --------------------------------------


def fix_steps_per_execution(model, strategy):
    """Makes `model.fit`/`evaluate` work under MirroredStrategy with
    `steps_per_execution > 1` (keras-team/keras#19246).

    Keras 3 runs the steps of one execution in a `tf.while_loop` whose body
    calls `strategy.run` inside a `tf.cond` (stop when the data runs out).
    Under MirroredStrategy the replica functions cross-replica-sync
    (`merge_call`) inside that `tf.cond` branch, which leaves a placeholder
    unfed: "You must feed a value for placeholder tensor". This replaces the
    train and test functions by a loop of exactly `n` steps with no `tf.cond`,
    `n` being `steps_per_execution` or, for the last execution of an epoch,
    the batches left (known from the dataset's cardinality). A no-op for
    other strategies and for `steps_per_execution == 1`.

    Call it after `model.compile`, which resets the functions.

    Args:
        model: a compiled `keras.Model` (TensorFlow backend).
        strategy: the strategy it was built under.

    Returns:
        The model.
    """
    import tensorflow as tf

    if (keras.backend.backend() != "tensorflow" or model.steps_per_execution <= 1
            or not isinstance(strategy, tf.distribute.MirroredStrategy)):
        return model
    model.train_function = _CountedSteps(model, strategy, model.train_step)
    model.test_function = _CountedSteps(model, strategy, model.test_step)
    return model


class _CountedSteps:
    """Runs `steps_per_execution` steps per call, without a `tf.cond`."""

    def __init__(self, model, strategy, step):
        import tensorflow as tf
        from keras.src.backend.tensorflow.trainer import reduce_per_replica

        self.model = model
        self.iterator = None
        self.taken = 0

        def one_step(data):
            outputs = strategy.run(step, args=(data,))
            return reduce_per_replica(outputs, strategy, reduction="auto")

        @tf.function(reduce_retracing=True)
        def run(iterator, steps):
            outputs = one_step(next(iterator))
            for _ in tf.range(steps - 1):
                outputs = one_step(next(iterator))
            return outputs

        self.run = run

    def __call__(self, iterator):
        import tensorflow as tf

        if iterator is not self.iterator:  # Keras starts a new pass over the data
            self.iterator, self.taken = iterator, 0
        steps = self.model.steps_per_execution
        total = int(getattr(iterator, "_cardinality", tf.data.UNKNOWN_CARDINALITY))
        if total >= 0:  # finite, known: never ask past the end
            steps = min(steps, total - self.taken)
        elif total != tf.data.INFINITE_CARDINALITY:
            steps = 1  # unknown length: one step per call is always right
        if steps <= 0:
            raise StopIteration
        self.taken += steps
        return self.run(iterator, tf.constant(steps))
