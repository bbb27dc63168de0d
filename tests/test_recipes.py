"""Training recipes: lookup, overrides, schedules, losses and metrics, best-epoch selection."""

import json
import os

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo import recipes
from keras_zoo.cli import commands as cli
from keras_zoo.models import metrics
from tests.test_cli import assert_bad_input


def test_recipe_per_model_and_dataset_with_the_generic_fallback():
    he = kz.recipe("resnet20", "cifar10")
    assert (he.optimizer, he.learning_rate, he.momentum) == ("sgd", 0.1, 0.9)
    assert (he.weight_decay, he.weight_decay_type) == (1e-4, "l2")
    assert he.decay_steps == (32_000, 48_000) and he.batch_size == 128
    assert he.epochs * 351 >= 64_000  # 45k images / 128 = 351 steps an epoch
    assert he.augment == ("flip", "translate") and he.translate == 4
    generic = kz.recipe("vit", "digits")  # no recipe of its own: the dataset's
    assert generic == kz.recipe(None, "digits")
    assert generic.batch_size == kz.dataset_spec("digits").batch_size


def test_text_recipes_are_the_keras_io_examples():
    for name, accuracy in (("transformer_classifier", 0.8745), ("bilstm_classifier", 0.8428)):
        r = kz.recipe(name, "imdb_reviews")
        assert (r.optimizer, r.learning_rate, r.batch_size, r.epochs) == ("adam", 1e-3, 32, 2)
        assert r.expected.value == accuracy and "not reproduced" in r.expected.source
    for name in ("lstm_classifier", "gru_classifier"):
        assert kz.recipe(name, "imdb_reviews").expected is None  # keras-io printed none
    seq2seq = kz.recipe("lstm_seq2seq", "addition")
    assert seq2seq.schedule == "cosine" and seq2seq.warmup_steps > 0
    assert seq2seq.expected.metric == "exact_match" and seq2seq.expected.value >= 0.995
    assert seq2seq.expected.source.startswith("keras-zoo")


def test_overrides_are_checked_with_the_accepted_list():
    assert kz.recipe("mlp", "digits", epochs=3).epochs == 3
    assert kz.recipe("mlp", "digits", augment=["flip"]).augment == ("flip",)
    with pytest.raises(kz.InvalidArgumentError, match="no field 'lr'.*Accepted: batch_size"):
        kz.recipe("mlp", "digits", lr=0.1)
    with pytest.raises(kz.InvalidArgumentError, match="learning_rate.*a number"):
        kz.recipe("mlp", "digits", learning_rate="fast")
    with pytest.raises(kz.InvalidArgumentError, match="optimizer.*one of adam, adamw, sgd"):
        kz.recipe("mlp", "digits", optimizer="lion")
    with pytest.raises(kz.InvalidArgumentError, match="augment"):
        kz.recipe("mlp", "digits", augment=("rotate",))
    with pytest.raises(kz.UnknownNameError, match="digits"):
        kz.recipe("mlp", "digitz")
    with pytest.raises(kz.UnknownNameError, match="mlp"):
        kz.recipe("mpl", "digits")


def test_recipe_round_trips_through_a_dict():
    he = kz.recipe("resnet56", "cifar10")
    assert recipes.from_dict(json.loads(json.dumps(he.to_dict()))) == he


def test_schedules():
    step = recipes.learning_rate(kz.recipe("resnet20", "cifar10"), steps_per_epoch=351)
    assert [float(step(s)) for s in (0, 31_999, 32_001, 48_001)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001])
    cosine = recipes.learning_rate(
        kz.recipe("mlp", "digits", epochs=10, warmup_steps=10, learning_rate=1.0), 10)
    assert float(cosine(0)) == 0.0 and float(cosine(10)) == pytest.approx(1.0)
    assert float(cosine(55)) == pytest.approx(0.5, abs=0.01) and float(cosine(100)) < 1e-6
    warm = recipes.learning_rate(kz.recipe(None, "digits", warmup_steps=4), 10)
    assert float(warm(2)) == pytest.approx(0.5e-3) and float(warm(50)) == pytest.approx(1e-3)
    assert recipes.learning_rate(kz.recipe(None, "digits"), 10) == 1e-3


def test_optimizers_and_weight_decay():
    adamw = recipes.make_optimizer(kz.recipe("gpt_mini", "tiny_corpus"), 100)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert adamw.weight_decay == 0.1 and adamw.global_clipnorm == 1.0
    sgd = recipes.make_optimizer(kz.recipe("resnet20", "cifar10"), 351)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.weight_decay is None  # L2 instead
    model = kz.create_model("mlp", hidden_units=(4,))
    recipes.apply_l2(model, 0.2)
    kernel = model.get_layer("dense1").kernel
    assert float(sum(model.losses)) == pytest.approx(
        0.1 * sum(float(np.sum(np.square(model.get_layer(n).kernel.numpy())))
                  for n in ("dense1", "predictions")), rel=1e-5)
    assert kernel.regularizer is not None


def test_label_smoothing_matches_categorical_crossentropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype("float32")
    labels = np.array([0, 1, 2, 3, 4, 0])
    smoothed = metrics.SparseCrossentropy(from_logits=True, label_smoothing=0.1)
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert float(smoothed(labels, logits)) == pytest.approx(
        float(reference(np.eye(5)[labels], logits)), rel=1e-5)
    plain = metrics.SparseCrossentropy(from_logits=True)
    assert float(plain(labels, logits)) == pytest.approx(float(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)), rel=1e-6)


def test_exact_match_and_bits_per_token():
    y_true = np.array([[1, 2, 0], [3, 3, 0]])
    y_pred = np.eye(4)[[[1, 2, 0], [3, 1, 0]]].astype("float32")  # second answer wrong
    exact = metrics.ExactMatch()
    exact.update_state(y_true, y_pred)
    assert float(exact.result()) == 0.5
    exact.reset_state()
    exact.update_state(y_true, y_pred, sample_weight=np.array([[1.0] * 3, [0.0] * 3]))
    assert float(exact.result()) == 1.0  # the zero-weight padding row is not counted
    bits = metrics.BitsPerToken()
    uniform = np.zeros((2, 3, 4), "float32")  # 4 equally likely tokens: 2 bits
    bits.update_state(y_true, uniform)
    assert float(bits.result()) == pytest.approx(2.0)


def test_validation_never_reads_the_test_split():
    for name in kz.list_datasets():
        spec = kz.dataset_spec(name)
        assert spec.validation_split != spec.test_split, name
        assert not spec.validation_split.startswith("test"), name


def test_best_checkpoint_restores_the_epoch_validation_chose():
    from keras_zoo.training.callbacks import BestCheckpoint

    model = kz.create_model("mlp", hidden_units=(4,))
    best = BestCheckpoint(monitor="val_loss")
    best.set_model(model)
    kept = {}
    for epoch, val_loss in enumerate([0.5, 0.2, 0.9]):
        model.set_weights([w + 1.0 for w in model.get_weights()])  # "training"
        kept[epoch] = [w.copy() for w in model.get_weights()]
        best.on_epoch_end(epoch, {"val_loss": val_loss})
    assert best.restore() and best.best_epoch == 2
    for got, want in zip(model.get_weights(), kept[1]):
        np.testing.assert_array_equal(got, want)


def test_fit_tests_the_best_validated_model_and_stores_the_recipe(tmp_path):
    run = tmp_path / "run"
    result = kz.fit("mlp", "digits", epochs=3, seed=0, verbose=0, output_dir=str(run),
                    model_args={"hidden_units": (8,)}, recipe={"learning_rate": 0.01})
    best = keras.saving.load_model(run / "checkpoints" / "best.keras")
    for got, want in zip(result.model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert result.metrics == pytest.approx(kz.evaluate(str(run), "digits"))
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["learning_rate"] == 0.01
    assert config["recipe"]["optimizer"] == "adamw" and config["epochs"] == 3
    assert "epochs" not in config["recipe"]  # stored once, at the top


def test_cli_recipe_prints_he_et_al_and_train_takes_overrides(tmp_path, capsys):
    # In this process (tests/test_quiet.py runs `recipe` and `train` as processes).
    assert cli.main(["recipe", "resnet20", "--dataset", "cifar10"]) == 0
    stdout = capsys.readouterr().out
    assert "He et al. 2015" in stdout and "sgd" in stdout
    assert "(32000, 48000)" in stdout and "accuracy >= 0.9075" in stdout
    code = cli.main(["train", "mlp", "--dataset", "digits", "--recipe", "lr=0.1",
                     "--output", os.fspath(tmp_path / "run")])
    assert_bad_input(code, capsys.readouterr().err.splitlines(), "no field 'lr'")
    assert not (tmp_path / "run").exists()
    # A fine-tune from registered weights can have a recipe of its own.
    assert cli.main(["recipe", "gpt_mini", "--dataset", "tiny_corpus",
                     "--weights", "stdlib_corpus_chars"]) == 0
    assert "Fine-tuning gpt_mini pretrained on stdlib_corpus_chars" in capsys.readouterr().out
