"""`diagnose()`: what `keras-zoo doctor` prints: backend, devices, versions, defaults, problems.

Everything here is read from the probes (`devices.py`), the defaults
(`defaults.py`) and the compilation cache (`compile_cache.py`); nothing is
trained. A problem is something that makes training fail or run on the wrong
device, with the way out in the same line; the rest are findings.
"""

import dataclasses
import importlib.metadata
import os
import platform
import sys

from keras_zoo._version import __version__
from keras_zoo.distribute import compile_cache, defaults, devices

# (label, distribution names tried in order): the versions doctor reports.
_VERSIONS = (
    ("keras", ("keras",)),
    ("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-tpu")),
    ("jax", ("jax",)),
    ("jaxlib", ("jaxlib",)),
    ("libtpu", ("libtpu",)),
    ("tensorflow-datasets", ("tensorflow-datasets",)),
)
_FIX_TPU = "install tensorflow-cpu (pip install -e '.[tpu]', see the README's Install)"


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """`findings`: (label, text) pairs in print order; `problems`: one line each."""

    findings: tuple
    problems: tuple

    def ok(self):
        return not self.problems


def installed(distribution):
    """The installed version of `distribution`, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions():
    """{label: version or None} of the libraries the zoo runs on, Python and keras-zoo."""
    found = {}
    for label, names in _VERSIONS:
        found[label] = next((v for v in map(installed, names) if v), None)
    found["python"] = platform.python_version()
    found["keras_zoo"] = __version__
    return found


def _backend():
    import keras

    return keras.backend.backend()


def _describe(names):
    """'8 x cpu' style: how many devices of each platform in `names` ("cpu:0", ...)."""
    counts = {}
    for name in names:
        kind = str(name).split(":")[0].lower()
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} x {kind}" for kind, n in counts.items()) or "none"


def diagnose():
    """Returns a `Diagnosis` of this process: findings and problems (see the module)."""
    findings, problems = [], []
    backend = _backend()
    findings.append(("backend", backend))

    # Devices: JAX's first (on a TPU host, whichever framework starts first holds the TPU).
    kind = devices.device_kind()
    if backend == "jax":
        names = devices.jax_devices()
        findings.append(("devices", f"{_describe(names)} (JAX; kind {kind})"))
    else:
        names = [kind]
        findings.append(("devices", f"kind {kind} (TensorFlow)"))
    attached = devices.tpu_attached()
    tf_tpus = devices.tensorflow_devices("TPU")
    tf_gpus = devices.tensorflow_devices("GPU")
    findings.append(("tensorflow sees", _describe(
        ["tpu"] * len(tf_tpus) + ["gpu"] * len(tf_gpus)) if tf_tpus or tf_gpus
        else "CPU only"))

    # The TPU conflict: one framework holds a TPU; JAX must be the one.
    if backend == "jax":
        if tf_tpus:
            problems.append(
                "TensorFlow sees the TPU and JAX is the backend: " + _FIX_TPU)
        elif attached and kind != "tpu":
            problems.append(
                "a TPU is attached but JAX runs on the CPU (libtpu missing, or TensorFlow or "
                "another process holds the TPU): " + _FIX_TPU + ", and restart the runtime")
        elif kind == "gpu" and tf_gpus:
            findings.append(("note", "TensorFlow and JAX both see the GPU: an op TensorFlow "
                             "places there takes GPU memory beside JAX's; tensorflow-cpu "
                             "for the input pipeline avoids it"))
    elif kind == "tpu" and not tf_tpus:
        problems.append("a TPU is attached but the backend is tensorflow, which does not see "
                        "it: run on JAX (KERAS_BACKEND=jax), the zoo's TPU path")
    both = [name for name in ("tensorflow", "tensorflow-cpu", "tensorflow-tpu") if installed(name)]
    if len(both) > 1:
        problems.append(
            f"{' and '.join(both)} are both installed into the same tensorflow/ folder: "
            f"pip uninstall -y {' '.join(both)} && pip install 'tensorflow-cpu>=2.21' "
            f"(JAX backend) or 'tensorflow>=2.21'")

    found = versions()
    findings.append(("versions", ", ".join(f"{k} {v}" for k, v in found.items() if v)
                     + "".join(f", {k} not installed" for k in ("jax",) if not found[k])))

    # What every batch must divide by: plan.batch_multiple of the strategy "auto" picks
    # (DataParallel over all JAX devices when there are several; tf.distribute splits any).
    multiple = len(names) if backend == "jax" and len(names) > 1 else 1
    findings.append(("batch multiple", f"{multiple}" + (
        f" (data_parallel over {multiple} devices: batch sizes must divide by it)"
        if multiple > 1 else " (any batch size)")))

    cache = compile_cache.enable(backend)  # done on import of the package; says what it did
    findings.append(("jax compile cache", f"{'on' if cache['on'] else 'off'}: "
                     f"{cache['dir'] or '-'} ({cache['why']})"))

    device = kind if kind in defaults.DEVICES else "cpu"
    if device == "cpu":
        cpu = defaults.cpu_kind()
        bf16 = defaults.CPU_BF16_FAMILIES[cpu]
        precision = (f"mixed_bfloat16 for {', '.join(bf16)}, float32 otherwise (CPU kind {cpu})"
                     if bf16 else f"float32 (CPU kind {cpu})")
    else:
        precision = defaults.resolve_precision("auto", device=device)
    findings.append(("precision", precision))
    findings.append(("steps_per_execution", str(defaults.steps_per_execution(device))))
    jit = defaults.jit_compile(device, backend=backend)
    families = [f for f in defaults.CPU_JIT_FAMILIES
                if defaults.jit_compile(device, f, backend) is not jit]  # a CPU under TensorFlow
    findings.append(("jit_compile", f"True for {', '.join(families)}, {jit} otherwise (False for "
                     "a seeded run: op determinism)" if families else str(jit)))
    env = {k: os.environ[k] for k in ("KERAS_BACKEND", "XLA_FLAGS", compile_cache.ENV,
                                      "COLAB_TPU_ADDR", "TPU_NAME") if k in os.environ}
    if env:
        findings.append(("environment", ", ".join(f"{k}={v}" for k, v in env.items())))
    findings.append(("python executable", sys.executable))
    return Diagnosis(tuple(findings), tuple(problems))
