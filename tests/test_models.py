"""The shared model check, run for every registered model.

Parametrised over `list_models()`, so a model is checked the moment it is
registered: build (default and tiny), output shape, no NaN, one fit step on
`tf.data`, a `.keras` round trip in a fresh process, and head overrides.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo.training.compile import compile_model
from tests import open_data_matrix
from tests.helpers import DEEPER_VARIANTS, sample_batch, tiny_args, tiny_model, distinct_models

MODELS = kz.list_models()


def _outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


# Models above this many parameters are built with one block (their default
# widths, context and vocabulary otherwise); `test_memory.py` checks their
# analytic count, which counts the default depth, against such builds.
_BUILD_LIMIT = 20_000_000


def _default_build_args(name):
    from keras_zoo.distribute import memory

    if memory.has_estimate(name) and memory.count_parameters(name) > _BUILD_LIMIT:
        return {"num_layers": 1}
    return {}


@pytest.mark.parametrize("name", MODELS)
def test_builds_with_defaults(name):
    args = _default_build_args(name)
    model = kz.create_model(name, **args)
    if args:
        from keras_zoo.distribute import memory

        assert model.count_params() == memory.count_parameters(name, **args)
    assert isinstance(model, keras.Model)
    assert model.name == name
    assert model.count_params() > 0
    assert not model.compiled, "builders must not compile"
    assert all(layer.name for layer in model.layers)


def _tiny_forward(name):
    """Builds the tiny variant and checks its output on a batch of 4; returns
    `(model, x, y)`."""
    info = kz.model_info(name)
    model = tiny_model(name)
    x, y = sample_batch(name, model, batch_size=4)
    inputs = x if y is not None else np.ones((4, model.latent_dim), "float32")
    out = _outputs(model, inputs)
    assert out.shape[0] == 4
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    args = tiny_args(name)
    if info.task in ("classification", "image_classification", "text_classification"):
        assert out.shape == (4, args["num_classes"])
    elif info.task == "seq2seq":
        assert out.shape == (4, args["output_length"], args["vocab_size"])
    elif info.task == "language_modeling":
        assert out.shape == (4, args["sequence_length"], args["vocab_size"])
    elif info.task == "masked_language_modeling":  # and the [MASK] id
        assert out.shape == (4, args["sequence_length"], args["vocab_size"] + 1)
    elif info.task == "image_generation":
        assert out.shape == (4,) + tuple(args["input_shape"])
    return model, x, y


@pytest.mark.parametrize("name", sorted(DEEPER_VARIANTS))
def test_tiny_forward_of_a_deeper_variant(name):
    """Built and run forward; its training step is its shallower sibling's (the same
    builder and layer kinds, more blocks)."""
    deeper, sibling = _tiny_forward(name)[0], tiny_model(DEEPER_VARIANTS[name])
    assert kz.model_info(name).defaults == kz.model_info(DEEPER_VARIANTS[name]).defaults
    assert {type(layer) for layer in deeper.layers} == {type(layer) for layer in sibling.layers}
    assert len(deeper.layers) > len(sibling.layers)


# The open-data matrix (tests/test_open_data.py) fits and evaluates every classifier and
# the GAN through `kz.fit` on TensorFlow and on JAX; the fit step here is for the rest.
_FITTED_BY_THE_MATRIX = open_data_matrix.fitted_models()


@pytest.mark.parametrize("name", distinct_models())
def test_tiny_forward(name):
    _tiny_forward(name)


@pytest.mark.parametrize("name", [n for n in distinct_models() if n not in _FITTED_BY_THE_MATRIX])
def test_tiny_fit_step(name):
    model, x, y = _tiny_forward(name)
    compile_model(model, kz.model_info(name).task)
    data = x if y is None else (x, y)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(2)
    history = model.fit(dataset, epochs=1, verbose=0)
    losses = [v[-1] for k, v in history.history.items() if "loss" in k]
    assert losses and np.isfinite(losses).all()


@pytest.mark.parametrize("name", [n for n in MODELS if "num_classes" in kz.model_info(n).defaults])
def test_num_classes_override_changes_head(name):
    model = tiny_model(name, num_classes=7)
    x, _ = sample_batch(name, model, batch_size=2)
    assert _outputs(model, x).shape == (2, 7)


@pytest.mark.parametrize("name", [n for n in MODELS if "vocab_size" in kz.model_info(n).defaults])
def test_vocab_size_override(name):
    model = tiny_model(name, vocab_size=23)
    x, _ = sample_batch(name, model, batch_size=2, vocab_size=23)
    out = _outputs(model, x)
    if kz.model_info(name).task in ("seq2seq", "language_modeling"):
        assert out.shape[-1] == 23
    assert np.isfinite(out).all()


# One fresh process: plain Keras first (keras_zoo not yet imported, so none of its
# classes registered), then keras_zoo.load_model.
_RELOAD = """
import json, sys
import numpy as np
import keras


def reload(load):
    results = {}
    for name, entry in json.load(open(sys.argv[1])).items():
        data = np.load(entry["data"])
        try:
            model = load(entry["path"])
        except Exception as e:
            results[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
            continue
        out = np.asarray(model(data["x"], training=False))
        results[name] = {"max_diff": float(np.max(np.abs(out - data["out"])))}
    return results


plain = reload(keras.saving.load_model)
assert "keras_zoo" not in sys.modules
import keras_zoo
print(json.dumps({"plain": plain, "zoo": reload(keras_zoo.load_model)}))
"""


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Saves every tiny model, freshly built, with inputs and outputs."""
    root = tmp_path_factory.mktemp("saved")
    index = {}
    for name in MODELS:
        model = tiny_model(name)
        x, _ = sample_batch(name, model, batch_size=3, seed=1)
        if kz.model_info(name).task == "image_generation":
            x = np.random.default_rng(1).normal(size=(3, model.latent_dim)).astype("float32")
        path = str(root / f"{name}.keras")
        model.save(path)
        np.savez(root / f"{name}.npz", x=x, out=_outputs(model, x))
        index[name] = {"path": path, "data": str(root / f"{name}.npz")}
    with open(root / "index.json", "w") as f:
        json.dump(index, f)
    return root / "index.json"


@pytest.fixture(scope="module")
def reloaded(saved_models):
    """`{"plain": ..., "zoo": ...}`: each saved model loaded in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(saved_models)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", MODELS)
def test_keras_round_trip_in_fresh_process(name, reloaded):
    result = reloaded["zoo"][name]
    assert "error" not in result, result
    assert result["max_diff"] < 1e-5


@pytest.mark.parametrize("name", MODELS)
def test_plain_keras_load_never_silently_untrained(name, reloaded):
    """Without importing keras_zoo: identical predictions, or a clear error."""
    result = reloaded["plain"][name]
    if "error" in result:
        assert result["error"].strip(), result
    else:
        assert result["max_diff"] < 1e-5, result
