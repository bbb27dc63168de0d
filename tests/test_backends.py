"""Every registered model on the JAX backend too (the session runs on TensorFlow).

The backend is fixed when Keras is imported, so the check runs in a fresh
process with `KERAS_BACKEND=jax`, over `list_models()`: build the tiny
variant, forward pass, one training step through `fit` that changes the weights
(for the models the open-data matrix does not fit through `kz.fit` on JAX: the
language models, the masked LM, seq2seq and the DCGAN's own adversarial step),
and a `.keras` save and reload with identical predictions. `test_models.py`
checks the same on
TensorFlow. The same process also runs the IMDB and catalogue checks below on JAX
(a process of its own each cost seconds of start-up).
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import keras_zoo as kz
from tests import open_data_matrix
from tests.helpers import DEEPER_VARIANTS, distinct_models

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Trained on JAX by the open-data matrix's process (tests/test_open_data.py); the DCGAN's
# own adversarial step is trained here, its weights checked to change.
_FITTED_BY_THE_MATRIX = open_data_matrix.fitted_models() - {"dcgan"}

_ON_JAX = r"""
import json, os, sys, tempfile
import keras
import numpy as np
import tensorflow as tf
import keras_zoo as kz
from keras_zoo.training import compile_model
from tests.helpers import DEEPER_VARIANTS, sample_batch, tiny_model

results = {"backend": keras.backend.backend(), "models": {}}
folder = tempfile.mkdtemp()
for name in kz.list_models():
    try:
        # The deeper variants' training step is their sibling's.
        train = name not in DEEPER_VARIANTS and name not in FITTED_BY_THE_MATRIX
        model = tiny_model(name)
        x, y = sample_batch(name, model, batch_size=4)
        inputs = x if y is not None else np.ones((4, model.latent_dim), "float32")
        out = keras.ops.convert_to_numpy(model(inputs, training=False))
        compile_model(model, kz.model_info(name).task)
        before = [np.array(w) for w in model.trainable_weights]
        data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(4)
        history = model.fit(data, epochs=1, verbose=0).history if train else {}
        changed = not train or any(not np.array_equal(b, np.asarray(w))
                                   for b, w in zip(before, model.trainable_weights))
        out = keras.ops.convert_to_numpy(model(inputs, training=False))
        path = os.path.join(folder, name + ".keras")
        model.save(path)
        again = keras.ops.convert_to_numpy(kz.load_model(path)(inputs, training=False))
        results["models"][name] = {
            "losses": {k: float(v[-1]) for k, v in history.items() if "loss" in k},
            "dtype": str(out.dtype), "finite": bool(np.isfinite(out).all()),
            "weights_changed": changed, "reload_diff": float(np.max(np.abs(again - out))),
        }
    except Exception as e:
        results["models"][name] = {"error": f"{type(e).__name__}: {e}"[:1000]}
""".replace("FITTED_BY_THE_MATRIX", repr(sorted(_FITTED_BY_THE_MATRIX))) + "\n"
# then _IMDB, on the same backend: results["imdb"]


def _run(script, backend):
    """Runs `script` and the IMDB check (on JAX the catalogue check too) in a fresh
    process on `backend`: their results, read back as JSON."""
    run = subprocess.run(
        [sys.executable, "-c", script + _IMDB + "results['imdb'] = imdb\n"
         + ("print(json.dumps(results))\n" if backend == "tensorflow" else _CATALOGUE
            + "results['catalogue'] = catalogue\nprint(json.dumps(results))\n")],
        cwd=ROOT, capture_output=True, text=True,
        timeout=1800, env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert results["imdb"]["backend"] == backend
    return results


@pytest.fixture(scope="module")
def jax_results():
    results = _run(_ON_JAX, "jax")
    assert results["backend"] == "jax"
    return results


def _built_and_reloaded(result):
    assert "error" not in result, result["error"]
    assert result["dtype"] == "float32" and result["finite"]
    assert result["reload_diff"] < 1e-5


@pytest.mark.parametrize("name", sorted(DEEPER_VARIANTS))
def test_deeper_variants_build_run_and_reload_on_jax(name, jax_results):
    _built_and_reloaded(jax_results["models"][name])  # trained as their sibling


@pytest.mark.parametrize("name", sorted(_FITTED_BY_THE_MATRIX))
def test_builds_and_reloads_on_jax(name, jax_results):
    _built_and_reloaded(jax_results["models"][name])  # trained by the open-data matrix


@pytest.mark.parametrize("name", [n for n in distinct_models() if n not in _FITTED_BY_THE_MATRIX])
def test_builds_trains_and_reloads_on_jax(name, jax_results):
    result = jax_results["models"][name]
    _built_and_reloaded(result)
    assert result["losses"], "no loss logged"
    assert all(abs(v) < float("inf") for v in result["losses"].values()), result
    if name == "dcgan":
        assert set(result["losses"]) == {"d_loss", "g_loss"}
    assert result["weights_changed"], "the training step did not update the weights"


# The IMDB pipeline keeps each review's last 200 tokens; it once did so with
# `TextVectorization(ragged=True)`, which raises on JAX, so every text
# classifier failed on `imdb_reviews` there. The same checks on both backends.
_IMDB = r"""
import json
import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
import keras_zoo as kz

words = [f"w{i}" for i in range(300)]
texts = [" ".join(words), " ".join(words[:5])]

def as_dataset(self, split, **kwargs):
    return tf.data.Dataset.from_tensor_slices({"text": texts * 8, "label": [1, 0] * 8})

with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    ds = kz.load_dataset("imdb_reviews", "test", batch_size=2, vocabulary=["", "[UNK]", *words])
    x = np.asarray(next(iter(ds))[0])
    result = kz.fit("transformer_classifier", "imdb_reviews", epochs=1, steps_per_epoch=1,
                    batch_size=4, verbose=0, model_args={"embed_dim": 8, "num_heads": 1, "ff_dim": 8})
imdb = {"backend": keras.backend.backend(), "shape": list(x.shape),
        "first": x[0].tolist(), "second": x[1].tolist(), "metrics": sorted(result.metrics)}
"""


def test_imdb_pipeline_keeps_the_last_tokens_and_trains_on_tensorflow():
    _check_imdb(_run("import json\nresults = {}\n", "tensorflow")["imdb"], "tensorflow")


def test_imdb_pipeline_keeps_the_last_tokens_and_trains_on_jax(jax_results):
    _check_imdb(jax_results["imdb"], "jax")  # run by the module's JAX process


def _check_imdb(result, backend):
    assert result["backend"] == backend and result["shape"] == [2, 200]
    assert result["first"] == [i + 2 for i in range(100, 300)]  # w100 ... w299
    assert result["second"] == [2, 3, 4, 5, 6] + [0] * 195
    assert result["metrics"] == ["accuracy", "loss"]


# Any tfds catalogue name trains on JAX too (keras_zoo.data.catalogue); mock examples.
_CATALOGUE = r"""
import json
import keras
import tensorflow_datasets as tfds
import keras_zoo as kz

with tfds.testing.mock_data(num_examples=10):
    result = kz.fit("simple_cnn", "svhn_cropped", epochs=1, steps_per_epoch=2, batch_size=4,
                    verbose=0)
catalogue = {"backend": keras.backend.backend(),
             "input_shape": list(result.model.input_shape[1:]),
             "metrics": {k: float(v) for k, v in result.metrics.items()}}
"""


def test_a_catalogue_dataset_trains_on_jax(jax_results):
    result = jax_results["catalogue"]  # run by the module's JAX process
    assert result["backend"] == "jax" and result["input_shape"] == [32, 32, 3]
    assert sorted(result["metrics"]) == ["accuracy", "loss"]
    assert all(abs(v) < float("inf") for v in result["metrics"].values())
