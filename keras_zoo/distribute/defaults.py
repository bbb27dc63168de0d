"""Training defaults per device and model family, with the evidence for each.

Pure functions of `(device, family)`: `device` is `"tpu"`, `"gpu"` or `"cpu"`
(see `keras_zoo.distribute.devices.device_kind`), `family` a registry family
(`"dense"`, `"cnn"`, `"rnn"`, `"transformer"`, `"gan"`) or None for a model
passed as an object. CPU figures come from `python scripts/benchmark.py`
(and its `--ablate` table) on the 2-core AMX development machine; they are
ratios measured side by side in one run, printed by that script with the CPU kind.
"""

import functools
import os

from keras_zoo._cpu import cpu_flags
from keras_zoo.errors import InvalidArgumentError

DEVICES = ("tpu", "gpu", "cpu")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# The dtype policies a precision resolves to, and the pure 16-bit ones.
POLICIES = (*PRECISIONS[1:], "bfloat16", "float16")

# Families whose training gains from bfloat16 on a CPU with AMX (oneDNN bf16
# kernels). Measured with `benchmark.py --ablate` sizes (--quick data, 2
# interleaved repeats, keras-io side: numpy into model.fit, 2026-11, load ~3-4
# on the 2 cores, so single ratios are noisy): bf16/fp32 = 1.45x simple_cnn,
# 1.82x resnet20 (BatchNorm keeps float32 variables). transformer_classifier
# (embed_dim 32) keeps float32: 4 interleaved A/B repeats of model.fit gave
# bf16/fp32 0.94x at steps_per_execution 1 and 16; a tf.profiler trace of one
# step shows only 12.8 of 55.6 ms in matmuls (the rest is attention dropout's
# random numbers, masking, softmax, LayerNorm), so bf16 can gain at most 1.12x
# there. RNNs keep float32 (bilstm_classifier: 0.56x and 2.4x here, no signal;
# 0.8x measured 2026-11 on the AVX512-BF16 machine). "dense" and "gan" are not measured.
_CPU_BF16_FAMILIES = ("cnn",)

# CPU kind (see `cpu_kind`) -> the families trained in mixed_bfloat16 there.
CPU_BF16_FAMILIES = {
    # Intel Sapphire Rapids and later: AMX tiles run bf16 matmuls natively.
    # Measured above: bf16/fp32 1.45x simple_cnn, 1.82x resnet20.
    "amx": _CPU_BF16_FAMILIES,
    # AVX512-BF16 without AMX (this development machine, AMD EPYC, 2 cores):
    # bf16 matmul peak about 0.40 TFLOP/s (`scripts/benchmark.py`), and
    # mixed_bfloat16 trained simple_cnn 1.19x faster than float32 (measured
    # 2026-11, scripts/benchmark.py); still a gain, so CNNs keep bfloat16.
    "avx512_bf16": _CPU_BF16_FAMILIES,
    # No bf16 instructions: oneDNN converts bf16 to float32 around every op,
    # so bf16 can only add work; not measured (no such CPU here), float32.
    "none": (),
}


def cpu_kind(cpuinfo="/proc/cpuinfo"):
    """What bfloat16 support the CPU has: `"amx"`, `"avx512_bf16"` or `"none"`.

    Read from the `flags` line of `/proc/cpuinfo` (Linux); `"none"` where
    there is no such file (macOS, Windows) or no bf16 flag.
    """
    flags = cpu_flags(cpuinfo)
    if {"amx_bf16", "amx_tile"} & flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    return "none"


def cpu_description(cpuinfo="/proc/cpuinfo"):
    """This CPU in words, for benchmark printouts and the results table: model name,
    cores, widest vector instructions, bfloat16 kind.

    E.g. `"AMD EPYC 7B13, 2 cores, AVX2, bfloat16 kind none"`; the model name is
    `platform.processor()` where `/proc/cpuinfo` has none.
    """
    import platform

    name = platform.processor() or "unknown"
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            name = next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = cpu_flags(cpuinfo)
    vectors = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"))
                    if flag in flags), None)
    parts = [name, f"{os.cpu_count()} cores", vectors, f"bfloat16 kind {cpu_kind(cpuinfo)}"]
    return ", ".join(part for part in parts if part)


@functools.lru_cache(maxsize=None)
def _this_cpu():
    return cpu_kind()  # read once per process


def _device(device):
    """`device`, checked; None: this process's (probed, so keep this module light)."""
    if device is None:
        from keras_zoo.distribute.devices import device_kind

        return device_kind()
    if device not in DEVICES:
        raise InvalidArgumentError(
            f"`device` must be one of {', '.join(DEVICES)}. Received: device={device!r}"
        )
    return device


def resolve_precision(precision, family=None, device=None, cpu=None):
    """Returns the Keras dtype policy name to train with.

    Args:
        precision: `"auto"`, `"float32"`, `"mixed_bfloat16"` or
            `"mixed_float16"`; anything but `"auto"` is returned as is.
        family: the model family, or None (an unregistered model).
        device: `"tpu"`, `"gpu"` or `"cpu"`; None for this process's
            (`devices.device_kind`).
        cpu: the CPU's bf16 support, a key of `CPU_BF16_FAMILIES`; None
            reads this machine's (`cpu_kind`, once per process).

    Returns:
        A dtype policy name for `keras.config.set_dtype_policy`. `"auto"`
        gives `"mixed_bfloat16"` on TPU (its native matmul type),
        `"mixed_float16"` on GPU (tensor cores; Keras's loss scaling keeps
        it stable), and on CPU `"mixed_bfloat16"` for the families that
        measured faster on that kind of CPU (CNNs with AMX or AVX512-BF16),
        `"float32"` for everything else (see `CPU_BF16_FAMILIES`).

    Example:

    >>> resolve_precision("auto", "cnn", "cpu", cpu="avx512_bf16")
    'mixed_bfloat16'
    >>> resolve_precision("auto", "cnn", "cpu", cpu="none")
    'float32'
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InvalidArgumentError(
            f"`precision` must be one of {', '.join(PRECISIONS)}. "
            f"Received: precision={precision!r}"
        )
    device = _device(device)
    if precision != "auto":
        return precision
    if device == "tpu":
        return "mixed_bfloat16"
    if device == "gpu":
        return "mixed_float16"
    if cpu is None:
        cpu = _this_cpu()
    if cpu not in CPU_BF16_FAMILIES:
        raise InvalidArgumentError(
            f"`cpu` must be one of {', '.join(CPU_BF16_FAMILIES)}. Received: cpu={cpu!r}")
    return "mixed_bfloat16" if family in CPU_BF16_FAMILIES[cpu] else "float32"


# Batches run per `tf.function` call. On this CPU 16 vs 1 measured (same
# ablation) 0.97x simple_cnn, 0.89x resnet20, 1.01x transformer_classifier,
# 2.33x bilstm_classifier (noisy): no measurable cost on the big-step models,
# a gain where steps are short and Python dispatch shows, so 16 for every
# family. TPUs need many steps per call to hide the host round-trip (Keras's
# TPU guides use 32 or more); GPUs gain a little from a few. Plain Keras fails
# under MirroredStrategy with more than 1 (keras-team/keras#19246); the zoo's
# fix_steps_per_execution makes it work, so the same values hold there.
_STEPS_PER_EXECUTION = {"tpu": 32, "gpu": 4, "cpu": 16}


def steps_per_execution(device=None, family=None, strategy=None):
    """Returns the `steps_per_execution` passed to `model.compile`.

    Args:
        device: `"tpu"`, `"gpu"` or `"cpu"`; None for this process's.
        family: the model family, or None.
        strategy: the distribution strategy in use, or None for the default.
            Under `MirroredStrategy` the zoo's own train function runs the
            steps (`distribute.fix_steps_per_execution`, keras-team/keras#19246),
            so the device's value holds there too.

    Returns:
        The device's value in `_STEPS_PER_EXECUTION`.
    """
    return _STEPS_PER_EXECUTION[_device(device)]


# Families compiled with XLA on a CPU under TensorFlow. Measured on the 2-core
# Xeon with AMX, 2026-12-08, float32, epochs timed after a warm-up, XLA / no XLA:
# transformer_classifier 1.49x (`scripts/benchmark.py --model transformer_classifier
# --ablate --repeats 2`; its 32-wide matmuls leave most of the step to softmax,
# masks and LayerNorm, which XLA fuses), gpt_mini 1.23x and bert_mini 1.07x
# (`scripts/xla_benchmark.py [--model bert_mini]`; bert's step is mostly its
# 4,097-logit head's matmul). Not the others: simple_cnn in mixed_bfloat16 0.67x
# (`xla_benchmark.py --model simple_cnn --dataset digits --steps 20`),
# bilstm_classifier 1.10x (`--ablate --quick`, repeats 0.86x and 1.34x: noise),
# dcgan 0.73x (docs/performance.md). XLA compiles for 3-5 s before the first step.
# The fusion does not depend on the instruction set; not measured on an AVX2-only
# CPU. (The older `--ablate` figure of 0.02x for the transformer timed one epoch
# with its compile.)
CPU_JIT_FAMILIES = ("transformer",)


def jit_compile(device=None, family=None, backend=None, deterministic=False):
    """Returns the `jit_compile` passed to `model.compile`.

    On a CPU under TensorFlow: True for the families in `CPU_JIT_FAMILIES`
    (XLA fuses the small Transformers' elementwise work), False otherwise;
    elsewhere Keras's "auto" (XLA where the model supports it). Under op
    determinism (a seeded run) Keras refuses XLA on TensorFlow, so False
    there. JAX always compiles, so there it is True. `device` and `backend`
    None: this process's.
    """
    device = _device(device)
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend == "jax":
        return True
    if deterministic:
        return False
    if device == "cpu":
        return family in CPU_JIT_FAMILIES
    return "auto"
