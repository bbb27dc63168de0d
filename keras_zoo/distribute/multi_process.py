"""Several JAX processes training one model: one process per host (or per GPU).

Every process runs the same command. `get_strategy` (so `fit` and the CLI)
first calls `initialize()`, which joins the processes with
`jax.distributed.initialize` before JAX starts when the environment says
this process is one of several:

- `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator's `host:port`, process
  0's; or every process's, comma-separated), `KERAS_DISTRIBUTION_NUM_PROCESSES`
  and `KERAS_DISTRIBUTION_PROCESS_ID`: Keras's own variables, read by
  `keras.distribution.initialize`; JAX's `JAX_COORDINATOR_ADDRESS` may stand
  for the first. Any one of them set means "initialize"; what is missing JAX
  detects from the cluster.
- a Slurm job step of several tasks (`SLURM_NTASKS` > 1), an Open MPI job of
  several ranks (`OMPI_COMM_WORLD_SIZE` > 1) or a Cloud TPU VM: JAX detects
  the coordinator, process count and id itself.

On CPU the processes exchange gradients over Gloo (JAX's
`jax_cpu_collectives_implementation`, set to "gloo" unless already chosen).
Then `jax.devices()` lists every process's devices, and `data_parallel`,
`model_parallel` and `auto` spread over all of them. Each process reads the
same dataset (same seed) and feeds its own rows of every global batch
(`DataParallel`, `ModelParallel` below); process 0 alone writes the run
folder (`strategies.is_chief`), the others train in a temporary one.

```shell
# two processes on one machine, two CPU devices each (4 devices in all):
export KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2
export KERAS_DISTRIBUTION_JOB_ADDRESSES=127.0.0.1:12355 KERAS_DISTRIBUTION_NUM_PROCESSES=2
KERAS_DISTRIBUTION_PROCESS_ID=0 keras-zoo train mlp --dataset digits \\
    --strategy data_parallel --seed 1 --output runs/mlp &
KERAS_DISTRIBUTION_PROCESS_ID=1 keras-zoo train mlp --dataset digits \\
    --strategy data_parallel --seed 1 --output runs/mlp
```
"""

import os

import keras
import numpy as np

from keras_zoo.errors import InvalidArgumentError

# Keras's variables (keras.distribution.initialize) and JAX's coordinator one.
VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
             "KERAS_DISTRIBUTION_PROCESS_ID", "JAX_COORDINATOR_ADDRESS")
_SLURM = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
          "SLURM_LOCALID")  # what JAX's Slurm detection needs


def launcher(environ=None, tpu=None):
    """Which environment makes this process one of several, or None.

    Reads environment variables only (no JAX call, no network).

    Args:
        environ: a mapping of environment variables; None for `os.environ`.
        tpu: whether this host has a TPU; None checks the devices
            (`devices.tpu_attached`).

    Returns:
        `"variables"` (one of `VARIABLES` is set), `"slurm"`, `"openmpi"`,
        `"tpu"` (a Cloud TPU VM, maybe one host of a pod slice), or None.
    """
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in VARIABLES):
        return "variables"
    if all(environ.get(name) for name in _SLURM) and _count(environ, "SLURM_NTASKS") > 1:
        return "slurm"
    if environ.get("OMPI_MCA_orte_hnp_uri") and _count(environ, "OMPI_COMM_WORLD_SIZE") > 1:
        return "openmpi"
    if tpu is None:
        from keras_zoo.distribute import devices

        tpu = devices.tpu_attached() and not environ.get("COLAB_TPU_ADDR")
    return "tpu" if tpu else None


def _count(environ, name):
    try:
        return int(environ.get(name, "1"))
    except ValueError:
        return 1


def initialize():
    """Joins the other processes of this run, once, before JAX starts.

    A no-op on another backend, when `launcher()` finds no cluster, or when
    `jax.distributed` is already initialized (by this function or by the
    program itself).

    Returns:
        The number of processes.

    Raises:
        InvalidArgumentError: the variables are incomplete or wrong, or JAX
            already ran something in this process.
    """
    if keras.backend.backend() != "jax":
        return 1
    import jax

    if jax.distributed.is_initialized():
        return jax.process_count()
    how = launcher()
    if how is None:
        return 1  # never touches JAX: jax.process_count() would start it
    if jax.config.jax_cpu_collectives_implementation is None:  # older JAX: none on CPU
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    settings = ", ".join(f"{name}={os.environ[name]}" for name in VARIABLES
                         if os.environ.get(name))
    try:
        keras.distribution.initialize()  # reads KERAS_DISTRIBUTION_*; JAX the rest
    except ValueError as e:
        if how == "tpu" and "coordinator_address" in str(e):
            return 1  # a TPU VM that is no pod slice (JAX found no other host)
        raise InvalidArgumentError(
            f"Could not join the other JAX processes ({e}). Set "
            "KERAS_DISTRIBUTION_JOB_ADDRESSES (process 0's host:port), "
            "KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID (0 .. count-1) "
            f"on every process. Received: {settings or how}") from e
    except RuntimeError as e:  # "must be called before any JAX calls ..."
        raise InvalidArgumentError(
            f"This process is one of several ({how}), but JAX already ran before the "
            "processes could join: call keras_zoo.get_strategy(...) (or kz.fit) before "
            f"anything else that uses JAX ({e}). Received: {settings or how}") from e
    return jax.process_count()


def process_count():
    """The number of JAX processes of this run (1 unless `initialize` joined several)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count() if jax.distributed.is_initialized() else 1


def is_first_process():
    """Whether this is process 0 (always true with one process)."""
    if process_count() == 1:
        return True
    import jax

    return jax.process_index() == 0


def agreed_seed(seed):
    """Process 0's `seed`, on every process (so they build the same weights).

    With one process, `seed` itself. Call it on every process.
    """
    if seed is None or process_count() == 1:
        return seed
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.asarray(seed, np.int32)))


# Feeding each process its rows --------------------------------------------------------


def batch_shards_of(process_ids, batch_axis):
    """The batch-axis indices whose devices include a given process.

    Args:
        process_ids: an array shaped like the device mesh: for each device,
            whether it belongs to this process (bool).
        batch_axis: the index of the batch axis in the mesh.

    Returns:
        Sorted list of indices along the batch axis.
    """
    mine = np.moveaxis(np.asarray(process_ids, bool), batch_axis, 0)
    return [i for i in range(mine.shape[0]) if mine[i].any()]


def process_rows(dataset, shards, num_shards):
    """Keeps this process's rows of every batch of `dataset`.

    Every batch is cut into `num_shards` equal parts along its first
    dimension (one per index of the mesh's batch axis) and the parts in
    `shards` are kept, in order: the process-local data that
    `jax.make_array_from_process_local_data` puts together into the global
    batch. Every batch must divide by `num_shards` (the zoo pads evaluation
    batches, `data.pipeline.pad_batches`).
    """
    import tensorflow as tf

    shards = tf.constant(shards, tf.int32)
    kept = int(shards.shape[0])

    def rows(t):
        shape = tf.shape(t)
        parts = tf.reshape(t, tf.concat([[num_shards, shape[0] // num_shards], shape[1:]], 0))
        out = tf.reshape(tf.gather(parts, shards), tf.concat([[-1], shape[1:]], 0))
        static = t.shape[0]
        return tf.ensure_shape(out, [None if static is None else static // num_shards * kept]
                               + t.shape[1:].as_list())

    return dataset.map(lambda *batch: tf.nest.map_structure(rows, batch if len(batch) > 1
                                                            else batch[0]))


class _FeedsProcessRows:
    """`distribute_dataset`: each process keeps its rows of every global batch.

    Keras's own (`rebatch` then `shard` across processes) gives processes
    different numbers of batches when the last one is partial (evaluation),
    and the processes then wait on each other for ever.
    """

    def distribute_dataset(self, dataset):
        if not self._is_multi_process or not self.auto_shard_dataset:
            return dataset
        import jax

        mesh = self.device_mesh.backend_mesh
        here = np.vectorize(lambda d: d.process_index == jax.process_index())(mesh.devices)
        axis = list(mesh.axis_names).index(self.batch_dim_name)
        return process_rows(dataset, batch_shards_of(here, axis), mesh.devices.shape[axis])


class DataParallel(_FeedsProcessRows, keras.distribution.DataParallel):
    """`keras.distribution.DataParallel`, each process feeding its rows."""


class ModelParallel(_FeedsProcessRows, keras.distribution.ModelParallel):
    """`keras.distribution.ModelParallel`, each process feeding its rows."""


def check_model_groups(mesh, batch_axis, name):
    """Refuses a mesh whose "model" groups span several processes.

    Each group of devices that shares a batch index holds one copy of the
    weights, split among them; when that spans processes no process holds
    whole weights, and saving (`model.keras`, checkpoints, `get_weights`)
    cannot read them.

    Args:
        mesh: a `jax.sharding.Mesh`.
        batch_axis: the index of the batch axis.
        name: the strategy name, for the message.

    Raises:
        InvalidArgumentError: a group spans processes.
    """
    processes = np.vectorize(lambda d: d.process_index)(mesh.devices)
    groups = np.moveaxis(processes, batch_axis, 0).reshape(processes.shape[batch_axis], -1)
    if any(len(set(group)) > 1 for group in groups):
        shape = "x".join(str(s) for s in mesh.devices.shape)
        local = mesh.devices.size // len(set(processes.flat))
        raise InvalidArgumentError(
            f"The model axis of mesh {shape} spans several processes; it must fit within one "
            f"process's {local} devices (weights split across hosts cannot be saved), e.g. "
            f"'model_parallel' or 'model_parallel:{mesh.devices.size // local}x{local}'. "
            f"Received: strategy={name!r}")
