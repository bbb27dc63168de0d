"""Shared test helpers: tiny models and random data in each model's format."""

import numpy as np

import keras_zoo as kz


def tiny_args(name, **overrides):
    """The builder arguments of a model's tiny test variant."""
    info = kz.model_info(name)
    return {**info.defaults, **info.tiny, **overrides}


def tiny_model(name, **overrides):
    """Builds the tiny test variant of a registered model."""
    return kz.create_model(name, **{**kz.model_info(name).tiny, **overrides})


def sample_batch(name, model, batch_size=4, seed=0, **overrides):
    """Returns `(x, y)` random data shaped for `model`; `y` is None for GANs.

    Token inputs are drawn from `1..vocab_size-1` of the model's arguments.
    """
    info = kz.model_info(name)
    rng = np.random.default_rng(seed)
    if info.task == "image_generation":  # trained on images alone
        shape = (batch_size,) + tuple(tiny_args(name, **overrides)["input_shape"])
        return rng.random(shape).astype("float32"), None
    shape = (batch_size,) + tuple(model.inputs[0].shape[1:])
    if "int" in str(model.inputs[0].dtype):
        vocab_size = tiny_args(name, **overrides)["vocab_size"]
        x = rng.integers(1, vocab_size, size=shape).astype("int32")
    else:
        x = rng.random(shape).astype("float32")
    out = tuple(model.output.shape)  # (B, classes) or (B, T, vocab)
    y = rng.integers(0, out[-1], size=(batch_size,) + out[1:-1]).astype("int32")
    return x, y
