"""Architecture facts of the dense and convolutional models."""

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo.models import cnn


@pytest.mark.parametrize("name, blocks", [("resnet20", 3), ("resnet32", 5), ("resnet56", 9)])
def test_resnet_depth_and_names(name, blocks):
    model = kz.create_model(name, width=4)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    shortcuts = [l for l in convs if "shortcut" in l.name]
    assert len(convs) - len(shortcuts) + 1 == 6 * blocks + 2  # convs + Dense = depth
    assert len(shortcuts) == 2  # projections where stages 2 and 3 change the shape
    assert model.get_layer(f"stage3_block{blocks}_out").output.shape[1:] == (8, 8, 16)


def test_resnet20_matches_the_paper_size_and_decays_weights():
    model = kz.create_model("resnet20")
    assert 0.26e6 < model.count_params() < 0.28e6  # "0.27M" in He et al., table 6
    assert len(model.losses) == 22  # L2 on the 21 conv kernels and the Dense kernel
    assert not kz.create_model("resnet20", width=4, weight_decay=0.0).losses


@pytest.mark.parametrize("input_shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_models_accept_small_and_large_images(input_shape):
    for name in ("mlp", "simple_cnn", "resnet20"):
        model = kz.create_model(name, input_shape=input_shape, **kz.model_info(name).tiny)
        assert model.output.shape == (None, 10)


def test_bad_arguments_are_refused():
    with pytest.raises(kz.InvalidArgumentError, match="depth=21"):
        cnn._cifar_resnet(21, "resnet21", (32, 32, 3), 10, 16, 0.0, 1e-4, None)
    with pytest.raises(kz.InvalidArgumentError, match="input_shape"):
        kz.create_model("resnet20", input_shape=(2, 2, 1))
    with pytest.raises(kz.InvalidArgumentError, match="too small"):
        kz.create_model("simple_cnn", input_shape=(8, 8, 1), padding="valid")
    with pytest.raises(kz.InvalidArgumentError, match="hidden_units"):
        kz.create_model("mlp", hidden_units=())
    with pytest.raises(kz.InvalidArgumentError, match="classifier_activation"):
        kz.create_model("simple_cnn", classifier_activation="sigmoid")


def test_resnet_fits_an_odd_batch():
    """A strided 1x1 conv crashed TF 2.21's oneDNN kernels on odd batch sizes."""
    model = kz.create_model("resnet20", width=4)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    history = model.fit(x, np.array([0, 1, 2]), batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
