"""Architecture facts of the dense and convolutional models."""

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo.models import cnn


@pytest.mark.parametrize("name, blocks", [("resnet20", 3), ("resnet32", 5), ("resnet56", 9)])
@pytest.mark.parametrize("shortcut, projections", [("A", 0), ("B", 2)])
def test_resnet_depth_and_names(name, blocks, shortcut, projections):
    model = kz.create_model(name, width=4, shortcut=shortcut)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    shortcuts = [l for l in convs if "shortcut" in l.name]
    assert len(convs) - len(shortcuts) + 1 == 6 * blocks + 2  # convs + Dense = depth
    # Option B projects where stages 2 and 3 change the shape; option A pads zeros.
    assert len(shortcuts) == projections
    assert model.get_layer(f"stage3_block{blocks}_out").output.shape[1:] == (8, 8, 16)


def test_resnet20_matches_the_paper_size_and_its_recipe_decays_weights():
    from keras_zoo import recipes

    model = kz.create_model("resnet20")
    assert model.count_params() == 271_098  # "0.27M" in He et al., table 6 (option A)
    assert not model.losses  # like keras.applications: no regularizer in the model
    recipes.apply_l2(model, kz.recipe("resnet20", "cifar10").weight_decay)
    assert len(model.losses) == 20  # L2 on the 19 conv kernels and the Dense kernel
    assert len(kz.create_model("resnet20", width=4, weight_decay=1e-4).losses) == 20


def test_option_a_shortcut_subsamples_and_pads_zero_channels():
    from keras_zoo.models.layers import ShortcutA

    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    y = keras.ops.convert_to_numpy(ShortcutA(2, 4)(x))
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])  # identity in the middle
    assert not y[..., :2].any() and not y[..., 4:].any()


def test_simple_cnn_is_the_keras_io_convnet():
    model = kz.create_model("simple_cnn", input_shape=(28, 28, 1))
    assert model.count_params() == 34_826  # keras-io 'Simple MNIST convnet' summary
    assert model.get_layer("block2_pool").output.shape[1:] == (5, 5, 64)


@pytest.mark.parametrize("input_shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_models_accept_small_and_large_images(input_shape):
    for name in ("mlp", "simple_cnn", "resnet20"):
        args = kz.recipe(name, "digits").model_args if input_shape[0] == 8 else None
        model = kz.create_model(name, input_shape=input_shape, **kz.model_info(name).tiny,
                                **(args or {}))
        assert model.output.shape == (None, 10)


def test_bad_arguments_are_refused():
    with pytest.raises(kz.InvalidArgumentError, match="depth=21"):
        cnn._cifar_resnet(21, "resnet21", (32, 32, 3), 10, 16, 0.0, 1e-4, None)
    with pytest.raises(kz.InvalidArgumentError, match="shortcut"):
        kz.create_model("resnet20", shortcut="C")
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
    model = kz.create_model("resnet20", width=4, shortcut="B")
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    history = model.fit(x, np.array([0, 1, 2]), batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
