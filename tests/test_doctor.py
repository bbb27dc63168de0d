"""`keras-zoo doctor` and the JAX compilation cache, on faked TPU and GPU machines.

The probes of `keras_zoo.distribute.devices` are replaced (as in
`test_distribute.py`), so a CPU-only machine plays a Colab TPU, a TPU whose
TensorFlow took it, and a GPU; the cache's folder logic runs against a fake
`jax` module, and once for real in a JAX subprocess.
"""

import os
import subprocess
import sys
import types

import pytest

from keras_zoo.cli import commands as cli
from keras_zoo.distribute import compile_cache, devices, doctor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_machine(monkeypatch, *, backend, kind, jax_names=(), tf_tpus=(), tf_gpus=(),
                 attached=False, installed=None):
    installed = {"tensorflow": "2.21.0", "keras": "3.15.1"} if installed is None else installed
    monkeypatch.setattr(doctor, "_backend", lambda: backend)
    monkeypatch.setattr(devices, "device_kind", lambda: kind)
    monkeypatch.setattr(devices, "jax_devices", lambda: list(jax_names))
    monkeypatch.setattr(devices, "tpu_attached", lambda: attached)
    monkeypatch.setattr(devices, "tensorflow_devices",
                        lambda k: list({"TPU": tf_tpus, "GPU": tf_gpus}[k]))
    monkeypatch.setattr(doctor, "installed", installed.get)
    monkeypatch.setattr(compile_cache, "enable",
                        lambda backend=None: {"dir": "/c/jax", "on": backend == "jax", "why": "x"})


def findings(diagnosis):
    return dict(diagnosis.findings)


TPUS = [f"tpu:{i}" for i in range(8)]


def test_colab_tpu_where_tensorflow_took_the_tpu(monkeypatch):
    fake_machine(monkeypatch, backend="jax", kind="tpu", jax_names=TPUS, attached=True,
                 tf_tpus=["/physical_device:TPU:0"])
    diagnosis = doctor.diagnose()
    assert len(diagnosis.problems) == 1
    assert diagnosis.problems[0].startswith(
        "TensorFlow sees the TPU and JAX is the backend: install tensorflow-cpu")
    found = findings(diagnosis)
    assert found["devices"].startswith("8 x tpu")
    assert found["tensorflow sees"] == "1 x tpu"
    assert found["batch multiple"].startswith("8 ")
    assert found["precision"] == "mixed_bfloat16"
    assert found["steps_per_execution"] == "32" and found["jit_compile"] == "True"
    assert found["jax compile cache"].startswith("on: /c/jax")


def test_healthy_colab_tpu(monkeypatch):
    fake_machine(monkeypatch, backend="jax", kind="tpu", jax_names=TPUS, attached=True,
                 installed={"tensorflow-cpu": "2.21.0", "jax": "0.10.2", "libtpu": "0.0.42"})
    diagnosis = doctor.diagnose()
    assert diagnosis.ok(), diagnosis.problems
    assert "tensorflow 2.21.0" in findings(diagnosis)["versions"]  # the CPU one, by its label
    assert "libtpu 0.0.42" in findings(diagnosis)["versions"]


def test_tpu_attached_but_jax_fell_back_to_the_cpu(monkeypatch):
    fake_machine(monkeypatch, backend="jax", kind="cpu", jax_names=["cpu:0"], attached=True)
    (problem,) = doctor.diagnose().problems
    assert problem.startswith("a TPU is attached but JAX runs on the CPU")


def test_tpu_on_the_tensorflow_backend_says_use_jax(monkeypatch):
    fake_machine(monkeypatch, backend="tensorflow", kind="tpu", attached=True)
    (problem,) = doctor.diagnose().problems
    assert "KERAS_BACKEND=jax" in problem


def test_two_tensorflows_installed(monkeypatch):
    fake_machine(monkeypatch, backend="jax", kind="cpu", jax_names=["cpu:0"],
                 installed={"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0"})
    (problem,) = doctor.diagnose().problems
    assert problem.startswith("tensorflow and tensorflow-cpu are both installed")


def test_gpu_on_jax_and_on_tensorflow(monkeypatch):
    fake_machine(monkeypatch, backend="jax", kind="gpu", jax_names=["gpu:0"],
                 tf_gpus=["/physical_device:GPU:0"])
    diagnosis = doctor.diagnose()
    assert diagnosis.ok()  # both see the GPU: a note, not a failure
    found = findings(diagnosis)
    assert "both see the GPU" in found["note"]
    assert found["precision"] == "mixed_float16" and found["steps_per_execution"] == "4"
    assert found["batch multiple"].startswith("1 ")
    fake_machine(monkeypatch, backend="tensorflow", kind="gpu", tf_gpus=["/physical_device:GPU:0"])
    diagnosis = doctor.diagnose()
    assert diagnosis.ok() and findings(diagnosis)["jit_compile"] == "auto"
    assert findings(diagnosis)["jax compile cache"].startswith("off")
    fake_machine(monkeypatch, backend="tensorflow", kind="cpu")
    assert findings(doctor.diagnose())["jit_compile"].startswith(
        "True for transformer, False otherwise")
    fake_machine(monkeypatch, backend="jax", kind="cpu", jax_names=["cpu:0"])
    assert findings(doctor.diagnose())["jit_compile"] == "True"


def test_cli_doctor_prints_one_line_per_problem(monkeypatch, capsys):
    fake_machine(monkeypatch, backend="jax", kind="tpu", jax_names=TPUS, attached=True,
                 tf_tpus=["/physical_device:TPU:0"])
    assert cli.main(["doctor"]) == 2
    out, err = capsys.readouterr()
    assert "backend" in out and "batch multiple" in out and "precision" in out
    assert [line for line in err.splitlines() if line.strip()] == [
        "problem: TensorFlow sees the TPU and JAX is the backend: install tensorflow-cpu "
        "(pip install -e '.[tpu]', see the README's Install)"]
    fake_machine(monkeypatch, backend="jax", kind="cpu", jax_names=["cpu:0"])
    assert cli.main(["doctor"]) == 0
    assert "problem" not in capsys.readouterr().err


# the compilation cache ------------------------------------------------------------------


@pytest.fixture
def fake_jax(monkeypatch):
    updates = {}
    config = types.SimpleNamespace(jax_compilation_cache_dir=None,
                                   update=lambda k, v: updates.__setitem__(k, v))
    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(config=config))
    monkeypatch.setattr(compile_cache, "_STATE", {})
    for name in (compile_cache.ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return config, updates


def test_cache_folder_names(monkeypatch):
    assert compile_cache.cache_dir({"XDG_CACHE_HOME": "/x"}) == "/x/keras_zoo/jax"
    assert compile_cache.cache_dir({"HOME": "/h"}).endswith(os.path.join(".cache", "keras_zoo", "jax"))
    for off in ("0", "off", "", "False"):
        assert compile_cache.cache_dir({compile_cache.ENV: off}) is None
    assert compile_cache.cache_dir({compile_cache.ENV: "/tmp/mine"}) == "/tmp/mine"


def test_cache_on_in_the_folder(fake_jax, monkeypatch, tmp_path):
    config, updates = fake_jax
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    state = compile_cache.enable("jax")
    assert state["on"] and state["dir"] == str(tmp_path / "keras_zoo" / "jax")
    assert updates["jax_compilation_cache_dir"] == state["dir"]
    assert updates["jax_persistent_cache_min_compile_time_secs"] == 0
    assert compile_cache.enable("jax") == state  # once per process


def test_cache_off_on_tensorflow_when_asked_and_when_not_writable(fake_jax, monkeypatch, tmp_path):
    config, updates = fake_jax
    assert not compile_cache.enable("tensorflow")["on"] and not updates
    monkeypatch.setenv(compile_cache.ENV, "0")
    assert "turned off" in compile_cache.enable("jax")["why"] and not updates
    monkeypatch.setattr(compile_cache, "_STATE", {})
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "file" / "jax"))  # under a file
    state = compile_cache.enable("jax")  # never raises: just off, and says why
    assert not state["on"] and "cannot create" in state["why"] and not updates


def test_cache_set_outside_is_kept(fake_jax):
    config, updates = fake_jax
    config.jax_compilation_cache_dir = "/theirs"
    assert compile_cache.enable("jax")["dir"] == "/theirs" and not updates


def test_the_cache_fills_on_jax_and_stays_off_on_tensorflow(tmp_path):
    # Keras 3.15 itself imports JAX when it is installed, whatever the backend; what must not
    # happen on TensorFlow is the zoo configuring it (or making its folder).
    code = ("import sys, keras_zoo.distribute; import keras; jax = sys.modules.get('jax'); "
            "print(bool(jax and jax.config.jax_compilation_cache_dir)); "
            "keras.ops.convert_to_numpy(keras.ops.matmul(keras.ops.ones((8, 8)), "
            "keras.ops.ones((8, 8))))")
    for backend in ("jax", "tensorflow"):
        env = dict(os.environ, KERAS_BACKEND=backend, KERAS_ZOO_JAX_CACHE=str(tmp_path / backend),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        if backend == "jax":
            assert os.listdir(tmp_path / "jax"), "no cache entry written on JAX (CPU)"
        else:
            assert out.stdout.split()[-1] == "False"  # TensorFlow: JAX's cache not set
            assert not (tmp_path / "tensorflow").exists()
