"""Fast checks that scripts/benchmark.py and scripts/generation_benchmark.py run and print
what they measure (no timing asserted)."""

import importlib.util
import os
import sys

import pytest

import keras_zoo as kz
from keras_zoo.distribute import defaults

_SCRIPTS = os.path.join(os.path.dirname(__file__), os.pardir, "scripts")


def _benchmark(name="benchmark"):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_SCRIPTS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_every_column(capsys, monkeypatch):
    monkeypatch.setattr(defaults, "_this_cpu", lambda: "avx512_bf16")  # CNNs train in bf16
    benchmark = _benchmark()
    rows = benchmark.main(["--quick", "--model", "simple_cnn", "--repeats", "1",
                           "--epochs", "2", "--train-examples", "256",
                           "--pipeline-batches", "2"])
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    for column in benchmark.COLUMNS:
        assert f" {column} " in header
    assert len(rows) == 1 and set(rows[0]) == set(benchmark.COLUMNS)
    assert rows[0]["precision"] == "mixed_bfloat16"
    assert float(rows[0]["fit speed-up"].rstrip("x")) > 0
    assert "ratios are what we track" in out


def test_forward_flops_counts_conv_and_dense():
    benchmark = _benchmark()
    model = kz.create_model("simple_cnn", input_shape=(8, 8, 1), filters=(2,), dropout=0.0,
                            padding="same")
    conv = 2 * 3 * 3 * 1 * 2 * 8 * 8
    dense = 2 * (4 * 4 * 2) * 10
    assert benchmark.forward_flops(model) == conv + dense


def test_offline_data_serves_tfds_splits():
    benchmark = _benchmark()
    case = benchmark.Case("mnist", train=100, test=20, epochs=2)
    raw = benchmark.make_data(case)
    with benchmark.offline_data(raw):
        ds = kz.load_dataset("mnist", "train[90%:]", batch_size=5, shuffle=False)
        x, y = next(iter(ds))
    assert x.shape == (5, 28, 28, 1) and y.shape == (5,)
    assert sum(1 for _ in ds.unbatch()) == 10


@pytest.mark.parametrize(
    "device, family, expected",
    [("cpu", "cnn", "mixed_bfloat16"), ("cpu", "transformer", "float32"),
     ("cpu", "rnn", "float32"), ("cpu", "dense", "float32"), ("cpu", None, "float32"),
     ("gpu", "rnn", "mixed_float16"), ("tpu", "rnn", "mixed_bfloat16")],
)
def test_resolve_precision_auto_per_device_and_family(device, family, expected):
    cpu = "avx512_bf16"  # this machine's kind, so the test does not depend on the CPU
    assert defaults.resolve_precision("auto", family, device, cpu=cpu) == expected
    assert defaults.resolve_precision("float32", family, device, cpu=cpu) == "float32"


@pytest.mark.parametrize("flags, kind, cnn, vectors", [
    ("fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8", "amx", "mixed_bfloat16", "AVX-512, "),
    ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", "avx512_bf16", "mixed_bfloat16",
     "AVX-512, "),
    ("fpu sse2 avx2 fma", "none", "float32", "AVX2, "),
    (None, "none", "float32", ""),  # no flags line (e.g. not Linux)
])
def test_auto_precision_on_cpu_follows_the_cpu_flags(tmp_path, monkeypatch, flags, kind, cnn,
                                                     vectors):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\n"
                       + (f"flags\t\t: {flags}\n" if flags else "") + "\n")
    assert defaults.cpu_kind(str(cpuinfo)) == kind
    assert defaults.cpu_description(str(cpuinfo)) == (
        f"Some CPU, {os.cpu_count()} cores, {vectors}bfloat16 kind {kind}")
    monkeypatch.setattr(defaults, "_this_cpu", lambda: defaults.cpu_kind(str(cpuinfo)))
    assert defaults.resolve_precision("auto", "cnn", "cpu") == cnn
    assert defaults.resolve_precision("auto", "rnn", "cpu") == "float32"
    assert defaults.resolve_precision("mixed_bfloat16", "rnn", "cpu") == "mixed_bfloat16"



@pytest.mark.parametrize("flags, wanted", [
    ("fpu sse2 avx2 fma", True),  # AVX2 only: TensorFlow leaves oneDNN off
    ("fpu sse2 avx2 avx512f avx512_bf16", False),  # AVX-512: TensorFlow turns it on itself
    ("fpu sse2 sse4_2", False),  # no AVX2: not measured, TensorFlow's default
    (None, False),  # no flags line (e.g. not Linux)
])
def test_onednn_is_turned_on_before_tensorflow_where_tensorflow_leaves_it_off(
        tmp_path, monkeypatch, flags, wanted):
    from keras_zoo import _cpu

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\n" + (f"flags\t\t: {flags}\n" if flags else "") + "\n")
    assert _cpu.onednn_wanted(_cpu.cpu_flags(str(cpuinfo))) is wanted
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow")  # as before TensorFlow's import
    assert _cpu.default_onednn(str(cpuinfo)) == ("1" if wanted else None)
    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") == ("1" if wanted else None)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # the user's choice stays
    assert _cpu.default_onednn(str(cpuinfo)) is None
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # too late: TensorFlow read it
    assert _cpu.default_onednn(str(cpuinfo)) is None
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ


def test_this_process_runs_oneDNN_where_the_cpu_wants_it():
    """The suite imports keras_zoo first (tests/conftest.py), as a user does."""
    from tensorflow.python.util import _pywrap_util_port

    from keras_zoo import _cpu

    if _cpu.onednn_wanted(_cpu.cpu_flags()):
        assert _pywrap_util_port.IsMklEnabled()


def test_defaults_reject_bad_values():
    with pytest.raises(kz.InvalidArgumentError, match="Received: precision='float16'"):
        defaults.resolve_precision("float16", "cnn", "cpu")
    with pytest.raises(kz.InvalidArgumentError, match="Received: device='npu'"):
        defaults.steps_per_execution("npu")


def test_steps_per_execution_and_jit_compile():
    assert defaults.steps_per_execution("cpu", "cnn") > 1
    mirrored = type("Mirrored", (), {"num_replicas_in_sync": 2})()  # the zoo fixes #19246
    assert defaults.steps_per_execution("gpu", "cnn", mirrored) == defaults.steps_per_execution(
        "gpu", "cnn")
    assert defaults.jit_compile("cpu", "cnn", backend="tensorflow") is False
    assert defaults.jit_compile("cpu", "transformer", backend="tensorflow") is True
    # Keras refuses XLA under TensorFlow's op determinism (a seeded run), with a warning.
    assert defaults.jit_compile("cpu", "transformer", "tensorflow", deterministic=True) is False
    assert defaults.jit_compile("gpu", "cnn", backend="tensorflow") == "auto"
    assert defaults.jit_compile("cpu", "cnn", backend="jax") is True
    assert defaults.jit_compile("cpu", "transformer", "jax", deterministic=True) is True


def test_an_unseeded_transformer_fit_compiles_with_xla_and_a_seeded_one_without():
    import keras
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def as_dataset(self, split, **kwargs):
        texts = ["a good film", "a bad film", "good", "bad"] * 2
        return tf.data.Dataset.from_tensor_slices({"text": texts, "label": [1, 0] * 4})

    compiled = {}
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        for seed in (None, 0):
            result = kz.fit("transformer_classifier", "imdb_reviews", epochs=1,
                            steps_per_epoch=2, batch_size=4, seed=seed, verbose=0,
                            model_args={"embed_dim": 8, "num_heads": 1, "ff_dim": 8})
            compiled[seed] = result.model.jit_compile
    on_tf = keras.backend.backend() == "tensorflow"
    assert compiled == {None: True, 0: not on_tf}


def test_generation_benchmark_prints_each_pair_and_the_median(capsys):
    benchmark = _benchmark("generation_benchmark")
    tiny = [f"{k}={v}" for k, v in kz.model_info("gpt_mini").tiny.items()]
    ratios = benchmark.main(["--weights", "none", "--tokens", "12", "--pairs", "2",
                             "--batch-size", "2"] + [a for t in tiny for a in ("--model-arg", t)])
    out = capsys.readouterr().out
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
    assert out.count("same ids: yes") == 2  # cached and uncached sample the same tokens
    assert "12 new tokens" in out and "median speed-up over 2 pairs" in out


def test_published_models_are_the_keras_io_examples():
    """`--published` times the examples' own models: the parameter counts they print."""
    benchmark = _benchmark()
    counts = {"simple_cnn": 34_826, "transformer_classifier": 657_758,
              "bilstm_classifier": 2_757_761}
    for name, count in counts.items():
        model, loss = benchmark.published_model(name)
        assert model.count_params() == count, name
        assert not any(getattr(layer, "mask_zero", False) for layer in model._flatten_layers())
    assert benchmark.published_model("bilstm_classifier")[1] == "binary_crossentropy"


def test_published_timing_skips_the_first_epoch_and_refuses_other_models():
    benchmark = _benchmark()
    clock = type("Clock", (), {"whole": [9.0, 2.0, 3.0, 4.0], "seconds": [8.0, 1.0, 2.0, 3.0]})
    assert benchmark._timed(clock) == (3.0, 2.0)
    warm_up = type("Clock", (), {"whole": [9.0], "seconds": [8.0]})
    assert benchmark._timed(warm_up) == (None, None)
    with pytest.raises(SystemExit):
        benchmark.main(["--published", "--model", "resnet20"])


def test_xla_benchmark_times_both_arms_in_pairs(capsys):
    ratios = _benchmark("xla_benchmark").main(
        ["--model", "mlp", "--dataset", "digits", "--pairs", "1", "--epochs", "2", "--steps", "2"])
    out = capsys.readouterr().out
    assert len(ratios) == 1 and ratios[0] > 0
    assert "CPU: " in out and "pair 1/1" in out and "mlp: XLA / no XLA" in out


def test_device_mode_names_the_accelerator_and_prints_the_readme_row(monkeypatch):
    import types

    import jax
    import keras
    import tensorflow as tf

    from keras_zoo.distribute import devices

    benchmark = _benchmark()
    monkeypatch.setattr(devices, "device_kind", lambda: "gpu")
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind: [types.SimpleNamespace(name="/physical_device:GPU:0")] * 2
                        if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"device_name": "NVIDIA H100 80GB HBM3"})
    gpu = benchmark.device_description()
    assert gpu == "GPU: 2 x NVIDIA H100 80GB HBM3, tensorflow"
    monkeypatch.setattr(devices, "device_kind", lambda: "tpu")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    monkeypatch.setattr(jax, "devices", lambda: [types.SimpleNamespace(device_kind="TPU v5 lite")] * 8)
    assert benchmark.device_description() == "TPU: 8 x TPU v5 lite, jax"
    row = benchmark.readme_row(gpu, [{"model": "simple_cnn", "speed-up": "2.40x",
                                      "precision": "mixed_float16"}])
    assert row.startswith("| GPU: 2 x NVIDIA H100 80GB HBM3, tensorflow | 2.40x (mixed_float16) | "
                          "not measured | not measured | 20")
    with pytest.raises(SystemExit):
        benchmark.main(["--device", "--model", "resnet20"])
