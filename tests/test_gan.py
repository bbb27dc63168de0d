"""DCGAN training, sampling, saving, and the PNG pictures of keras_zoo.runs.plots."""

import os

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo.models import gan
from keras_zoo.models.gan import DCGAN, dcgan, diff_augment, sample_images
from keras_zoo.runs import plots
from keras_zoo.training.callbacks import SampleGrid


def _squares(num=32, size=8, seed=0):
    """Structured images in [0, 1]: a bright square on a dark background."""
    rng = np.random.default_rng(seed)
    images = np.zeros((num, size, size, 1), "float32")
    for image, (top, left) in zip(images, rng.integers(0, size // 2, size=(num, 2))):
        image[top : top + size // 2, left : left + size // 2] = 1.0
    return images


def _tiny_dcgan(input_shape=(8, 8, 1)):
    return kz.create_model("dcgan", input_shape=input_shape, latent_dim=8, filters=4)


def test_fit_gives_finite_losses_changes_samples_and_writes_grids(tmp_path):
    model = _tiny_dcgan()
    model.compile()
    before = sample_images(model, 6, seed=1)
    trained_before = [np.array(v) for v in model.generator.trainable_weights]
    history = model.fit(
        _squares(),
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[SampleGrid(tmp_path / "samples", num=6, seed=1)],
    )
    assert set(history.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    after = sample_images(model, 6, seed=1)
    # The generator was trained: Adam (2e-4) moves its weights by about the rate a step.
    # Its samples change too, by less where the unseeded initial outputs saturate (4.7e-5
    # at most in one fresh-clone run), so they are only required to differ.
    moved = max(np.abs(np.array(v) - b).max()
                for v, b in zip(model.generator.trainable_weights, trained_before))
    assert moved > 1e-4, moved
    assert np.abs(after - before).max() > 0
    assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == 8
    assert sorted(os.listdir(tmp_path / "samples")) == ["epoch_001.png", "epoch_002.png"]


def test_sample_images_shape_range_and_seed():
    model = _tiny_dcgan((28, 28, 1))
    images = sample_images(model, 5, seed=3)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, sample_images(model, 5, seed=3))
    assert not np.array_equal(images, sample_images(model, 5, seed=4))
    with pytest.raises(kz.InvalidArgumentError, match="num=0"):
        sample_images(model, 0)


def test_save_and_load_round_trip(tmp_path):
    model = _tiny_dcgan()
    model.compile(g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    model.fit(_squares(16), batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "dcgan.keras")
    model.save(path)

    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DCGAN) and isinstance(loaded, keras.Model)
    assert loaded.latent_dim == 8
    np.testing.assert_allclose(
        sample_images(loaded, 4, seed=0), sample_images(model, 4, seed=0), atol=1e-6
    )
    # Compile settings and optimizer state come back, so training can go on.
    assert float(loaded.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert int(loaded.g_optimizer.iterations) == 2
    history = loaded.fit(_squares(16), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"]).all()


@pytest.mark.parametrize(
    "input_shape, start",
    [((8, 8, 1), (1, 1)), ((28, 28, 1), (7, 7)), ((32, 32, 3), (4, 4)), ((64, 64, 3), (4, 4)),
     ((16, 16, 1), (4, 4)), ((12, 12, 1), (3, 3)), ((10, 10, 1), (5, 5))],
)
def test_architecture_adapts_to_image_size(input_shape, start):
    model = dcgan(input_shape=input_shape, latent_dim=8, filters=4)
    assert model.generator.get_layer("reshape").output.shape[1:3] == start
    assert model.output.shape == (None,) + input_shape
    assert model.discriminator.output.shape == (None, 1)


def _kinds(model):
    """The model's layers as short kind names, in order (inputs left out)."""
    names = {"Conv2DTranspose": "convT", "Conv2D": "conv", "Dense": "dense",
             "BatchNormalization": "bn", "ReLU": "relu", "LeakyReLU": "lrelu"}
    kinds = [names.get(type(layer).__name__) for layer in model.layers]
    return [k for k in kinds if k is not None]


@pytest.mark.parametrize("input_shape, steps", [((8, 8, 1), 3), ((28, 28, 1), 2), ((64, 64, 3), 4)])
def test_batch_norm_and_activations_where_radford_et_al_put_them(input_shape, steps):
    model = dcgan(input_shape=input_shape, latent_dim=8, filters=4)
    # Generator: BN + ReLU after every layer but the tanh output.
    assert _kinds(model.generator) == ["dense", "bn", "relu"] + ["convT", "bn", "relu"] * (
        steps - 1) + ["convT"]
    assert model.generator.get_layer("images").activation.__name__ == "tanh"
    # Discriminator: strided convs (no pooling), BN on all but the input layer, LeakyReLU 0.2.
    assert _kinds(model.discriminator) == ["conv", "lrelu"] + ["conv", "bn", "lrelu"] * (
        steps - 1) + ["dense"]
    convs = [layer for layer in model.discriminator.layers if type(layer).__name__ == "Conv2D"]
    assert all(layer.strides == (2, 2) for layer in convs)
    assert all(layer.negative_slope == pytest.approx(0.2)
               for layer in model.discriminator.layers if type(layer).__name__ == "LeakyReLU")
    assert [layer.use_bias for layer in convs] == [True] + [False] * (steps - 1)  # BN has the bias


def test_weights_are_drawn_from_normal_0_002():
    keras.utils.set_random_seed(0)
    model = dcgan(input_shape=(8, 8, 1))
    for network in (model.generator, model.discriminator):
        for layer in network.layers:
            if hasattr(layer, "kernel"):
                kernel = np.asarray(layer.kernel)
                # Within 4 standard errors of N(0, 0.02) for a kernel of this size.
                n = kernel.size
                assert abs(kernel.mean()) < 4 * 0.02 / np.sqrt(n)
                assert abs(kernel.std() - 0.02) < 4 * 0.02 / np.sqrt(2 * n)
            if type(layer).__name__ == "BatchNormalization":
                gamma = np.asarray(layer.gamma)  # the authors' code: gains from N(1, 0.02)
                assert gamma.mean() == pytest.approx(1.0, abs=0.01)
                assert gamma.std() == pytest.approx(0.02, rel=0.35)


def test_the_two_networks_are_balanced_on_8x8_images():
    # Before: a one-layer discriminator of 2,113 parameters against 132,353.
    model = dcgan(input_shape=(8, 8, 1))
    generator, discriminator = model.generator.count_params(), model.discriminator.count_params()
    assert (generator, discriminator) == (683_777, 658_241)  # as the docstring says
    assert 0.5 <= discriminator / generator <= 2
    assert model.generator.get_layer("reshape").output.shape[1:] == (1, 1, 256)


@pytest.mark.parametrize("input_shape", [(7, 7, 1), (6, 6, 1), (28, 28)])
def test_bad_image_size_is_refused(input_shape):
    with pytest.raises(kz.InvalidArgumentError, match="input_shape"):
        dcgan(input_shape=input_shape)


def test_compile_refuses_a_single_optimizer():
    with pytest.raises(kz.InvalidArgumentError, match="d_optimizer, g_optimizer"):
        _tiny_dcgan().compile(optimizer="adam")


def test_the_generator_ends_fit_as_its_weight_average():
    model = _tiny_dcgan()
    g_optimizer = keras.optimizers.Adam(1e-3, beta_1=0.5, use_ema=True, ema_momentum=0.9)
    model.compile(g_optimizer=g_optimizer)
    raw = []

    class KeepRaw(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            raw.extend(np.array(v) for v in model.generator.trainable_variables)

    model.fit(_squares(), batch_size=8, epochs=3, verbose=0, callbacks=[KeepRaw()])
    averages = [np.array(v) for v in g_optimizer._model_variables_moving_average]
    final = [np.array(v) for v in model.generator.trainable_variables]
    for average, weight in zip(averages, final):
        np.testing.assert_array_equal(weight, average)
    assert any(not np.allclose(r, w) for r, w in zip(raw, final))  # not the last step's
    # The discriminator keeps no average: its weights are the last step's.
    assert not model.d_optimizer.use_ema


def test_one_sided_label_smoothing_moves_only_the_real_targets():
    model = _tiny_dcgan()
    model.compile(label_smoothing=0.1, run_eagerly=True)
    targets = []
    loss_fn = model.loss_fn
    model.loss_fn = lambda y, logits: targets.append(np.array(y)) or loss_fn(y, logits)
    model.fit(_squares(8), batch_size=8, epochs=1, verbose=0)
    real, fake, generator = targets  # one step: D on real, D on fake, then G
    np.testing.assert_allclose(real, 0.9)
    np.testing.assert_array_equal(fake, 0.0)
    np.testing.assert_array_equal(generator, 1.0)  # the generator's targets stay 1
    assert model.get_compile_config()["label_smoothing"] == 0.1
    with pytest.raises(kz.InvalidArgumentError, match="label_smoothing=1"):
        _tiny_dcgan().compile(label_smoothing=1)


def test_diff_augment_shifts_each_image_and_cuts_out_half_squares():
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(0.1, 1, (16, 8, 8, 1)).astype("float32")
    shifted = np.asarray(diff_augment(images, ("translate",), 1, keras.random.SeedGenerator(1)))
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-1.0)
    offsets = set()
    for image, out in zip(padded, shifted):
        found = [(dy, dx) for dy in range(3) for dx in range(3)
                 if np.array_equal(image[dy:dy + 8, dx:dx + 8], out)]
        assert len(found) == 1  # a shift of at most one pixel, background filled in
        offsets.add(found[0])
    assert len(offsets) > 3  # drawn per image
    cut = np.asarray(diff_augment(images, ("cutout",), 1, keras.random.SeedGenerator(2)))
    for image, out in zip(images, cut):
        rows, cols = np.nonzero(out[..., 0] == 0)
        assert len(rows) == 16 and np.ptp(rows) == np.ptp(cols) == 3  # one 4x4 square
        kept = out[..., 0] != 0
        np.testing.assert_array_equal(out[..., 0][kept], image[..., 0][kept])
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(diff_augment(x, ("translate", "cutout"), 1,
                                           keras.random.SeedGenerator(3)))
    grad = tape.gradient(total, x).numpy()
    assert set(np.unique(grad)) == {0.0, 1.0}  # the gradient reaches the generator's pixels


def test_a_recipe_augment_is_diff_augment_in_the_gan_step(monkeypatch):
    seen = []

    def record(images, augment, translate, seed):
        seen.append((augment, translate))
        return images

    monkeypatch.setattr(gan, "diff_augment", record)
    result = kz.fit("dcgan", "digits", epochs=1, steps_per_epoch=2, seed=0, verbose=0,
                    model_args={"latent_dim": 8, "filters": 4},
                    recipe={"augment": ("translate",), "translate": 1, "ema_momentum": 0.0})
    # Real and generated images for the discriminator, generated for the generator.
    assert len(seen) >= 3 and set(seen) == {(("translate",), 1)}
    assert np.isfinite(result.history["d_loss"]).all()
    model = _tiny_dcgan()
    model.compile(augment=["translate"], translate=2)
    config = model.get_compile_config()
    assert config["augment"] == ["translate"] and config["translate"] == 2
    with pytest.raises(kz.InvalidArgumentError, match=r"\['flip'\]; accepted: translate, cutout"):
        _tiny_dcgan().compile(augment=("flip",))


def test_a_recipe_average_is_refused_outside_gans():
    with pytest.raises(kz.InvalidArgumentError, match="ema_momentum"):
        kz.fit("mlp", "digits", epochs=1, steps_per_epoch=1, recipe={"ema_momentum": 0.99},
               verbose=0)


def test_mixed_precision_keeps_float32_outputs():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = _tiny_dcgan()
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.generator.get_layer("project").compute_dtype == "bfloat16"
    assert model.generator.output.dtype == "float32"
    assert model.discriminator.output.dtype == "float32"
    model.compile()
    history = model.fit(_squares(16), batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())


def test_save_image_grid_writes_a_png(tmp_path):
    path = tmp_path / "sub" / "grid.png"
    plots.save_image_grid(np.random.default_rng(0).random((5, 8, 8, 3)), path, cols=2)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert os.listdir(tmp_path / "sub") == ["grid.png"]  # no temporary file left
    with pytest.raises(kz.InvalidArgumentError, match="shape"):
        plots.save_image_grid(np.zeros((2, 8, 8, 2)), tmp_path / "bad.png")


def test_plot_history_writes_a_png(tmp_path):
    history = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.8], "accuracy": [0.2, 0.6]}
    path = plots.plot_history(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert path == tmp_path / "curves.png"
    with pytest.raises(kz.InvalidArgumentError, match="no metrics"):
        plots.plot_history({}, tmp_path / "empty.png")


def test_a_large_backup_is_committed_less_often_and_always_at_the_end(tmp_path, monkeypatch):
    """Commits of large weights files (the DCGAN recipe's 18.5 MB) wait for COMMIT_RATIO
    times their cost of training; the first, the last and the history stay whole."""
    from keras_zoo import runs
    from keras_zoo.training import callbacks

    monkeypatch.setattr(callbacks, "LARGE_BACKUP_BYTES", 0)  # every model is large
    monkeypatch.setattr(callbacks, "COMMIT_RATIO", 1e9)  # no epoch is ever worth a commit
    out = str(tmp_path)
    committed = []

    class Committed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            committed.append(runs.read_state(out)["epochs"])

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    state = callbacks.RunState(out, epoch_steps=1)
    history = model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=4, epochs=4, verbose=0,
                        callbacks=[state, Committed()])
    assert committed == [1, 1, 1, 4]  # the first (its size unknown before) and the last
    assert len(history.history["loss"]) == 4
    assert sorted(runs.read_history_csv(os.path.join(out, runs.HISTORY))) == [0, 1, 2, 3]
    state._pending = ("SIGTERM", None)  # a signal waiting: the epoch commits
    assert state._commit_due(1)


def test_recipe_minutes_per_cpu_kind_are_printed_checked_and_kept_out_of_configs(capsys):
    """A recipe whose time depends on the CPU gives minutes per CPU kind, not one figure."""
    from keras_zoo import recipes
    from keras_zoo.cli import commands

    found = kz.recipe("dcgan", "digits", minutes={"avx512_bf16": 3.2, "avx2": 33})
    assert "3.2 on avx512_bf16, 33 on avx2" in recipes.describe(found, "dcgan", "digits")
    assert "minutes" not in found.to_dict()  # the machine's, not the run's config
    with pytest.raises(kz.InvalidArgumentError, match="minutes"):
        kz.recipe("dcgan", "digits", minutes={"pentium": 1})
    assert commands.main(["recipe", "dcgan", "--dataset", "digits", "--recipe",
                          "minutes={'avx512_bf16': 3.2, 'avx2': 33}"]) == 0
    out = capsys.readouterr().out
    assert "3.2 on avx512_bf16, 33 on avx2 " in out and "This CPU: " in out
