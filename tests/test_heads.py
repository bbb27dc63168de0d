"""Heads that cannot fail silently, and float32 at the boundaries of trained models."""

import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import keras_zoo as kz
from keras_zoo import (
    data,  # noqa: F401  registers the offline tfds builders
    training,
)
from keras_zoo.distribute import precision

CLASSIFIER_TASKS = ("classification", "image_classification", "text_classification")


def _digits(split):
    x, y = tfds.as_numpy(tfds.load("digits", split=split, as_supervised=True, batch_size=-1))
    return x.astype("float32") / 255.0, y


def test_the_plain_keras_snippet_learns_digits():
    """Issue 13, point 1, exactly as a user types it: Keras's plain compile, no
    from_logits. simple_cnn's `padding="auto"` keeps the keras-io valid padding
    where the image allows it and takes "same" for 8x8 digits."""
    keras.utils.set_random_seed(0)
    x, y = _digits("train")
    x_test, y_test = _digits("test")
    m = kz.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=10)
    assert m.get_layer("block1_conv").padding == "same"
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=10, verbose=0)
    accuracy = m.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.90


@pytest.mark.parametrize("name", kz.list_models())
def test_every_head_outputs_what_info_says(name):
    info = kz.model_info(name)
    text = kz.model_info(name).outputs
    if info.task in CLASSIFIER_TASKS:
        assert info.defaults["classifier_activation"] == "softmax"
        assert "probabilities" in text
        model = kz.create_model(name, **info.tiny)
        assert not training.outputs_logits(model)
        assert model.layers[-1].dtype_policy.name == "float32"
        x = np.ones((2,) + tuple(model.inputs[0].shape[1:]),  # token 1: not padding
                    dtype=model.inputs[0].dtype)
        probs = keras.ops.convert_to_numpy(model(x))
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
        logits = kz.create_model(name, **info.tiny, classifier_activation=None)
        assert training.outputs_logits(logits)
    elif info.task in ("language_modeling", "masked_language_modeling", "seq2seq"):
        assert "logits" in text
        assert training.outputs_logits(kz.create_model(name, **info.tiny))
    else:
        assert "images" in text


@pytest.mark.parametrize("name", kz.list_models())
def test_info_gives_the_rank_and_sizes_of_the_real_output(name):
    """`(B, sequence_length, vocab_size + 1)` is checked against the built model's shape."""
    info = kz.model_info(name)
    model = kz.create_model(name, **info.tiny)
    model = getattr(model, "generator", model)  # a GAN describes its generator's images
    shape = tuple(model.outputs[0].shape)
    args = {**info.defaults, **info.tiny}
    words = re.search(r"\(B, ([^)]*)\)", info.outputs).group(1).split(", ")
    assert len(words) == len(shape) - 1, (info.outputs, shape)
    for word, size in zip(words, shape[1:]):
        base, _, plus = word.partition(" + ")
        if base in args:
            assert args[base] + int(plus or 0) == size, (word, shape)


@pytest.mark.parametrize("name", kz.list_models())
def test_float32_copy_of_a_mixed_model(name):
    info = kz.model_info(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = kz.create_model(name, **info.tiny)
        training.compile_model(mixed, info.task, steps_per_execution=1)
    finally:
        keras.config.set_dtype_policy(previous)
    assert precision.is_mixed(mixed)
    copy = precision.float32_copy(mixed)
    assert not precision.is_mixed(copy)
    assert all(layer.dtype_policy.name == "float32" for layer in precision._all_layers(copy)
               if hasattr(layer, "dtype_policy"))
    for a, b in zip(mixed.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert precision.float32_copy(copy) is copy


def _litert_outputs(saved_model, x):
    """Converts a SavedModel with `tf.lite.TFLiteConverter` and runs it on `x`."""
    tflite = tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
    interpreter = tf.lite.Interpreter(model_content=tflite)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.float32 and out["dtype"] == np.float32
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"])


def test_mixed_training_saves_float32_and_exports_to_litert(tmp_path):
    """Issue 13, point 2: a CNN trained in mixed_bfloat16 (the CPU default with
    AVX512-BF16 or AMX) gives float32 models, backbones and exports; LiteRT
    converts them and runs them."""
    run = tmp_path / "run"
    result = kz.fit("simple_cnn", "digits", epochs=1, precision="mixed_bfloat16",
                    output_dir=run, seed=0, model_args={"filters": (8, 16), "padding": "same"},
                    verbose=0)
    assert json.loads((run / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert not precision.is_mixed(result.model)
    for file in ("model.keras", os.path.join("checkpoints", "best.keras")):
        saved = kz.load_model(run / file)
        assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}, file
    x, _ = _digits("test[:16]")
    loaded = kz.load_model(run)
    expected = loaded.predict(x, verbose=0)
    assert expected.dtype == np.float32
    np.testing.assert_allclose(result.model.predict(x, verbose=0), expected, atol=1e-6)

    # What a Keras user does: cut a headless backbone, export it with Keras, convert.
    for name, model in (("returned", result.model), ("loaded", loaded)):
        backbone = keras.Model(model.inputs, model.get_layer("flatten").output)
        features = keras.ops.convert_to_numpy(backbone(x))
        assert features.dtype == np.float32, name
        exported = str(tmp_path / f"{name}_backbone")
        backbone.export(exported, verbose=False)
        np.testing.assert_allclose(_litert_outputs(exported, x), features, atol=1e-4)
    exported = str(tmp_path / "saved_model")
    result.model.export(exported, verbose=False)
    np.testing.assert_allclose(_litert_outputs(exported, x), expected, atol=1e-4)
