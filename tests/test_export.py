"""Export: a SavedModel of every registered model serves raw inputs in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo.cli import commands as cli
from keras_zoo.export import serving_model
from tests.helpers import distinct_models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
out = {}
for name, path, x, dtype in json.load(open(sys.argv[1])):
    loaded = tf.saved_model.load(path)  # a reference kept while serving
    out[name] = np.asarray(loaded.serve(np.asarray(x, dtype=dtype))).tolist()
json.dump(out, open(sys.argv[2], "w"))
"""


def raw_batch(name, serving, seed=0):
    rng = np.random.default_rng(seed)
    spec = serving.inputs[0]
    shape = (2,) + tuple(spec.shape[1:])
    if "int" in str(spec.dtype):
        args = {**kz.model_info(name).defaults, **kz.model_info(name).tiny}
        return rng.integers(1, args["vocab_size"], size=shape).astype("int32")
    if spec.name == "pixels":
        return rng.uniform(0, 255, size=shape).astype("float32")
    return rng.standard_normal(shape).astype("float32")


def test_savedmodel_of_every_model_serves_in_a_fresh_process(tmp_path):
    jobs, expected = [], {}
    for name in distinct_models():
        model = kz.create_model(name, **kz.model_info(name).tiny)
        serving = serving_model(model)
        x = raw_batch(name, serving)
        expected[name] = np.asarray(serving(x, training=False))
        path = str(tmp_path / name)
        assert kz.export(model, path) == path
        jobs.append([name, path, x.tolist(), str(x.dtype)])
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "serve.py").write_text(SERVE)
    proc = subprocess.run([sys.executable, str(tmp_path / "serve.py"), str(tmp_path / "jobs.json"),
                           str(tmp_path / "out.json")], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=""), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads((tmp_path / "out.json").read_text())
    assert sorted(got) == sorted(distinct_models())
    for name, values in got.items():
        np.testing.assert_allclose(np.asarray(values), expected[name], rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def test_image_models_take_pixels_in_0_255_and_gans_give_them():
    model = kz.create_model("simple_cnn", **kz.model_info("simple_cnn").tiny)
    serving = serving_model(model)
    assert serving.inputs[0].name == "pixels"
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(serving(x)), np.asarray(model(x / 255.0)), atol=1e-5)
    gan = kz.create_model("dcgan", **kz.model_info("dcgan").tiny)
    images = np.asarray(serving_model(gan)(np.zeros((2, gan.generator.input_shape[-1]), "float32")))
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.max() > 1.0
    tokens = kz.create_model("gpt_mini", **kz.model_info("gpt_mini").tiny)
    assert serving_model(tokens) is tokens  # token ids pass as they are


def test_litert_export_runs_in_the_interpreter(tmp_path):
    import tensorflow as tf

    model = kz.create_model("simple_cnn", **kz.model_info("simple_cnn").tiny)
    path = kz.export(model, str(tmp_path / "cnn.tflite"), format="litert")
    x = np.random.default_rng(0).uniform(0, 255, size=(1, 28, 28, 1)).astype("float32")
    interpreter = tf.lite.Interpreter(model_path=path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, np.asarray(model(x / 255.0)), atol=1e-4)


def test_onnx_without_tf2onnx_is_a_clear_error(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    with pytest.raises(kz.ExportError, match=r"needs tf2onnx.*keras-zoo\[onnx\]"):
        kz.export(kz.create_model("mlp", **kz.model_info("mlp").tiny), str(tmp_path / "m.onnx"),
                  format="onnx")
    with pytest.raises(kz.InvalidArgumentError, match="Received: format='tflite'"):
        kz.export(kz.create_model("mlp"), str(tmp_path / "m"), format="tflite")


def test_cli_export_of_a_run_folds_the_scaling(tmp_path, capsys):
    import tensorflow as tf

    run_dir = str(tmp_path / "run")
    result = kz.fit("mlp", "digits", epochs=1, steps_per_epoch=1, output_dir=run_dir, verbose=0,
                    model_args={"hidden_units": (8,)}, precision="float32")
    out = str(tmp_path / "served")
    assert cli.main(["export", run_dir, "--out", out]) == 0
    assert "exported" in capsys.readouterr().out
    x = np.random.default_rng(0).uniform(0, 255, size=(3, 8, 8, 1)).astype("float32")
    loaded = tf.saved_model.load(out)
    np.testing.assert_allclose(np.asarray(loaded.serve(x)), np.asarray(result.model(x / 255.0)),
                               atol=1e-5)
    assert cli.main(["export", run_dir, "--out", out, "--format", "coreml"]) == 2
