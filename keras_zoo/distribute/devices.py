"""Device probes: which accelerator this process trains on, and how many replicas a strategy has."""

import glob
import os

import keras


def jax_devices():
    return keras.distribution.list_devices()


def tpu_attached():
    """Whether a TPU is reachable, checked cheaply (never a network call).

    True when `COLAB_TPU_ADDR` (a Colab TPU node) or `TPU_NAME` (a Cloud TPU
    node) is set, or on a TPU VM (`/dev/accel*` or numbered `/dev/vfio/*`
    devices).
    """
    if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
        return True
    vfio = [p for p in glob.glob("/dev/vfio/*") if os.path.basename(p).isdigit()]
    return bool(glob.glob("/dev/accel*") or vfio)


def tpu_resolver():
    """Returns the `TPUClusterResolver` for the attached TPU.

    `COLAB_TPU_ADDR` -> `grpc://` that address (Colab TPU node runtimes);
    `TPU_NAME` -> that name (Cloud TPU node); otherwise `tpu="local"` (a TPU
    VM, TPU attached to this host).
    """
    import tensorflow as tf

    resolvers = tf.distribute.cluster_resolver
    if os.environ.get("COLAB_TPU_ADDR"):
        return resolvers.TPUClusterResolver(tpu="grpc://" + os.environ["COLAB_TPU_ADDR"])
    if os.environ.get("TPU_NAME"):
        return resolvers.TPUClusterResolver(tpu=os.environ["TPU_NAME"])
    return resolvers.TPUClusterResolver(tpu="local")


def device_kind():
    """Returns the kind of accelerator training runs on: "tpu", "gpu" or "cpu".

    Cheap: never initialises a TPU (see `tpu_attached`).
    """
    if keras.backend.backend() == "jax":
        import jax

        platform = jax.devices()[0].platform
        return platform if platform in ("tpu", "gpu") else "cpu"
    if tpu_attached():
        return "tpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def tensorflow_devices(kind):
    """The names of the physical devices of `kind` ("TPU", "GPU") TensorFlow sees.

    Imports TensorFlow; on a TPU host a TensorFlow built with TPU support
    takes the TPU here, so call it after JAX has its devices (`jax_devices`).
    """
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices(kind)]


# Replicas and batch sizes ------------------------------------------------------------


def num_replicas(strategy):
    """The number of model replicas a step runs on (devices, over all workers)."""
    if isinstance(strategy, keras.distribution.ModelParallel):  # the "batch" axis
        mesh = strategy.device_mesh
        return int(mesh.shape[mesh.axis_names.index(strategy.batch_dim_name)])
    if hasattr(strategy, "device_mesh"):  # a keras.distribution.Distribution (JAX)
        return int(strategy.device_mesh.devices.size)
    return int(strategy.num_replicas_in_sync)


