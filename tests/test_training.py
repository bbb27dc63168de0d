"""Tests of compile defaults, fit, evaluate, load_model, strategies and run folders."""

import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo import distribute, runs, training

DATA_ARGS = ("input_shape", "num_classes", "vocab_size", "sequence_length", "output_length")


def small(name):
    """The tiny variant's architecture arguments; the dataset decides the shapes."""
    return {k: v for k, v in kz.model_info(name).tiny.items() if k not in DATA_ARGS}


class Interrupt(keras.callbacks.Callback):
    """Simulates a crash at the end of epoch `at` (after the run's callbacks)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("simulated crash")


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "mlp")
    result = kz.fit("mlp", "digits", epochs=2, seed=0, output_dir=out,
                    model_args=small("mlp"), verbose=0)
    return result


# compile defaults ---------------------------------------------------------------------


def test_compile_defaults_per_task():
    from keras_zoo.models.metrics import SparseCrossentropy

    defaults = training.compile_defaults("image_classification")
    assert isinstance(defaults["optimizer"], keras.optimizers.Adam)
    assert isinstance(defaults["loss"], SparseCrossentropy)
    assert defaults["loss"].get_config()["from_logits"] is False
    assert [m.name for m in defaults["metrics"]] == ["accuracy"]
    assert [m.name for m in training.compile_defaults("seq2seq")["metrics"]] == [
        "accuracy", "exact_match"]
    assert [m.name for m in training.compile_defaults(
        "language_modeling", character_level=True)["metrics"]] == ["accuracy", "bits_per_char"]
    assert training.compile_defaults("text_classification", from_logits=True)[
        "loss"].get_config()["from_logits"] is True
    assert training.compile_defaults("image_generation") == {}
    with pytest.raises(kz.UnknownNameError, match="classification"):
        training.compile_defaults("clasification")


def test_compile_model_works_out_from_logits_and_overrides_win():
    logits = kz.create_model("mlp", hidden_units=(4,), classifier_activation=None)
    training.compile_model(logits, "classification")
    assert logits.loss.get_config()["from_logits"] is True
    probs = kz.create_model("mlp", hidden_units=(4,))  # softmax by default
    training.compile_model(probs, "classification")
    assert probs.loss.get_config()["from_logits"] is False
    custom = kz.create_model("mlp", hidden_units=(4,))
    training.compile_model(custom, "classification", optimizer="sgd", loss="mse")
    assert isinstance(custom.optimizer, keras.optimizers.SGD)
    assert custom.loss == "mse"


def test_gan_compiles_itself():
    gan = kz.create_model("dcgan", **kz.model_info("dcgan").tiny)
    training.compile_model(gan, "image_generation")
    assert gan.compiled
    with pytest.raises(kz.InvalidArgumentError, match="compile it yourself"):
        training.compile_model(gan, "image_generation", optimizer="sgd")


# strategies and precision -------------------------------------------------------------


def test_get_strategy_names():
    assert kz.get_strategy() is tf.distribute.get_strategy()
    assert kz.get_strategy("cpu") is tf.distribute.get_strategy()
    assert isinstance(kz.get_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(kz.UnknownNameError, match="Did you mean: mirrored"):
        kz.get_strategy("mirrord")
    for name, missing in [("mirrored", "2 GPUs"), ("tpu", "no TPU"),
                          ("multi_worker", "TF_CONFIG"), ("data_parallel", "jax")]:
        with pytest.raises(kz.InvalidArgumentError, match=missing):
            kz.get_strategy(name)


def test_resolve_precision_uses_the_device_defaults():
    from keras_zoo.distribute import defaults

    device = distribute.device_kind()
    assert device == "cpu"  # this machine; the per-device choices are tested in test_benchmark
    for family in ("dense", "cnn", "rnn", "transformer", "gan"):
        assert distribute.resolve_precision("auto", family) == defaults.resolve_precision(
            "auto", family, device)
    assert distribute.resolve_precision("auto", "rnn") == "float32"  # bf16 BiLSTM is slower
    assert distribute.resolve_precision("mixed_bfloat16", "rnn") == "mixed_bfloat16"
    with pytest.raises(kz.InvalidArgumentError, match="Received: precision='float16'"):
        distribute.resolve_precision("float16", "cnn")


# fit and the run folder ---------------------------------------------------------------


def test_fit_writes_a_complete_run_folder(mlp_run):
    out = mlp_run.output_dir
    for name in ("config.json", "history.csv", "metrics.json", "model.keras",
                 "checkpoints/best.keras", "curves.png"):
        assert os.path.isfile(os.path.join(out, name)), name
    assert os.listdir(os.path.join(out, "logs"))
    assert not os.path.exists(os.path.join(out, "backup"))  # removed once finished
    assert not [f for f in os.listdir(out) if f.startswith(".tmp")]
    config = runs.read_json(os.path.join(out, "config.json"))
    assert config["model"] == "mlp" and config["dataset"] == "digits"
    assert config["model_args"]["input_shape"] == [8, 8, 1]
    assert config["model_args"]["num_classes"] == 10
    assert (config["epochs"], config["batch_size"], config["seed"]) == (2, 32, 0)
    assert config["precision"] == "float32"
    assert set(config["versions"]) >= {"keras_zoo", "keras", "tensorflow", "backend"}
    with open(os.path.join(out, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert runs.read_json(os.path.join(out, "metrics.json")) == pytest.approx(mlp_run.metrics)
    assert set(mlp_run.metrics) == {"loss", "accuracy"}
    assert len(mlp_run.history["loss"]) == 2


def test_finished_run_is_not_overwritten_silently(mlp_run):
    with pytest.raises(kz.InvalidArgumentError, match="overwrite"):
        kz.fit("mlp", "digits", epochs=1, output_dir=mlp_run.output_dir, verbose=0)


def test_load_model_and_evaluate_from_run_folder(mlp_run):
    model = kz.load_model(mlp_run.output_dir)
    np.testing.assert_allclose(model.get_weights()[0], mlp_run.model.get_weights()[0])
    again = kz.evaluate(mlp_run.output_dir, "digits")
    assert again == pytest.approx(mlp_run.metrics, rel=1e-5)


def test_evaluate_counts_every_example(mlp_run):
    images, labels = [], []
    for x, y in kz.load_dataset("digits", "test", batch_size=1000, shuffle=False):
        images.append(x.numpy())
        labels.append(y.numpy())
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert len(labels) == 360  # 20% of 1797, and not a multiple of 7
    expected = np.mean(np.argmax(mlp_run.model.predict(images, verbose=0), -1) == labels)
    result = kz.evaluate(mlp_run.model, "digits", batch_size=7)
    assert result["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_resume_after_interruption(tmp_path):
    out = str(tmp_path / "run")
    args = dict(epochs=3, seed=1, output_dir=out, model_args=small("mlp"), verbose=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        kz.fit("mlp", "digits", callbacks=[Interrupt(at=1)], **args)
    assert os.path.isdir(os.path.join(out, "backup"))
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    with pytest.raises(kz.InvalidArgumentError, match="different seed"):
        kz.fit("mlp", "digits", **dict(args, seed=2))
    counter = EpochCounter()
    result = kz.fit("mlp", "digits", callbacks=[counter], **args)
    assert counter.epochs == [2]  # only the epoch left
    with open(os.path.join(out, "history.csv")) as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1", "2"]
    assert len(result.history["loss"]) == 3
    assert os.path.isfile(os.path.join(out, "metrics.json"))


def test_run_state_never_counts_an_epoch_twice(tmp_path):
    from keras_zoo.training.callbacks import RunState

    model = kz.create_model("mlp", input_shape=(4,), num_classes=2, hidden_units=(4,))
    first = RunState(str(tmp_path))
    first.set_model(model)
    for epoch, loss in enumerate((2.0, 1.5, 1.2)):
        first.on_epoch_end(epoch, {"loss": loss})
    resumed = RunState(str(tmp_path))  # e.g. rerun from epoch 1 after a crash
    resumed.set_model(model)
    resumed.on_epoch_end(1, {"loss": 1.4})
    path = str(tmp_path / "history.csv")
    assert runs.read_history_csv(path) == {0: {"loss": 2.0}, 1: {"loss": 1.4}}
    assert resumed.history == {"loss": [2.0, 1.4]}


def test_seeded_runs_give_identical_weights():
    def weights(seed):
        result = kz.fit("mlp", "digits", epochs=1, seed=seed, model_args=small("mlp"),
                        steps_per_epoch=10, verbose=0)
        return result.model.get_weights()

    first, second, other = weights(5), weights(5), weights(6)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_fit_restores_the_dtype_policy():
    result = kz.fit("mlp", "digits", epochs=1, steps_per_epoch=2, precision="mixed_bfloat16",
                    model_args=small("mlp"), verbose=0)
    assert {layer.dtype_policy.name for layer in result.model.layers} == {"float32"}
    assert result.model.outputs[0].dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    assert np.isfinite(result.metrics["loss"])


def test_fit_text_run_saves_and_reuses_its_vocabulary(tmp_path):
    out = str(tmp_path / "rnn")
    result = kz.fit("gru_classifier", "half_sums", epochs=1, steps_per_epoch=3, seed=0,
                    output_dir=out, model_args=small("gru_classifier"), verbose=0)
    vocabulary = runs.read_vocabulary(os.path.join(out, "vocabulary.txt"))
    assert vocabulary == kz.data.prepare("half_sums").vocabulary
    assert kz.evaluate(out, "half_sums") == pytest.approx(result.metrics, rel=1e-5)


def test_fit_gan_writes_samples(tmp_path):
    out = str(tmp_path / "gan")
    result = kz.fit("dcgan", "digits", epochs=1, steps_per_epoch=2, seed=0, output_dir=out,
                    model_args=small("dcgan"), verbose=0)
    assert set(result.metrics) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert os.listdir(os.path.join(out, "samples"))
    assert os.path.isfile(os.path.join(out, "model.keras"))
    # evaluate on a GAN run: tests/test_gan_metrics.py


def test_vocabulary_file_round_trips_any_token(tmp_path):
    path = str(tmp_path / "vocabulary.txt")
    tokens = ["", "[UNK]", "a", "\n", "\\", "\r", "word"]
    runs.write_vocabulary(path, tokens)
    assert runs.read_vocabulary(path) == tokens


# bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(model_or_name="nope"), kz.UnknownNameError, "Unknown model 'nope'"),
    (dict(dataset_or_name="digitz"), kz.UnknownNameError, "digits"),
    (dict(model_or_name="gru_classifier"), kz.IncompatibleError, "gru_classifier"),
    (dict(epochs=0), kz.InvalidArgumentError, "Received: epochs=0"),
    (dict(batch_size=-1), kz.InvalidArgumentError, "Received: batch_size=-1"),
    (dict(seed="x"), kz.InvalidArgumentError, "Received: seed='x'"),
    (dict(precision="half"), kz.InvalidArgumentError, "Received: precision='half'"),
    (dict(strategy="gpu"), kz.UnknownNameError, "strategy"),
    (dict(model_args={"nope": 1}), kz.InvalidArgumentError, "no argument 'nope'"),
    (dict(verbose=3), kz.InvalidArgumentError, "Received: verbose=3"),
    (dict(model_or_name=42), kz.InvalidArgumentError, "model_or_name=42"),
])
def test_fit_rejects_bad_arguments(kwargs, error, match):
    call = dict(model_or_name="mlp", dataset_or_name="digits", verbose=0)
    call.update(kwargs)
    with pytest.raises(error, match=match):
        kz.fit(call.pop("model_or_name"), call.pop("dataset_or_name"), **call)


def test_load_model_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(kz.InvalidArgumentError, match="No such model file"):
        kz.load_model(str(tmp_path / "missing.keras"))
    with pytest.raises(kz.InvalidArgumentError, match="no model.keras"):
        kz.load_model(str(tmp_path))
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file")
    with pytest.raises(kz.InvalidArgumentError, match="corrupt"):
        kz.load_model(str(corrupt))


def test_evaluate_rejects_a_dataset_the_model_cannot_read(mlp_run):
    with pytest.raises(kz.IncompatibleError):
        kz.evaluate(mlp_run.model, "half_sums")
    with pytest.raises(kz.InvalidArgumentError, match="Received: batch_size=0"):
        kz.evaluate(mlp_run.model, "digits", batch_size=0)


@pytest.mark.parametrize("steps_per_epoch", [4, 20])
def test_steps_per_epoch_trains_exactly_that_many_steps(steps_per_epoch):
    """Keras runs whole executions of steps_per_execution (16 on CPU) steps;
    `fit` picks one that divides steps_per_epoch, so no epoch trains extra steps."""
    result = kz.fit("mlp", "digits", epochs=2, steps_per_epoch=steps_per_epoch,
                    model_args=small("mlp"), verbose=0)
    assert int(result.model.optimizer.iterations.numpy()) == 2 * steps_per_epoch
    assert steps_per_epoch % result.model.steps_per_execution == 0


@pytest.mark.parametrize("name", ["mlp", "dcgan"])
def test_fit_traces_the_train_step_once(monkeypatch, name):
    # The optimizers' and metrics' variables exist before the first trace: a tf.function
    # making variables in its first call traces twice (tensorflow/tensorflow#48851).
    from keras_zoo.models.gan import DCGAN

    if name == "dcgan":
        owner = DCGAN
    elif keras.backend.backend() == "jax":  # Keras builds them itself there
        from keras.src.backend.jax.trainer import JAXTrainer as owner
    else:
        from keras.src.backend.tensorflow.trainer import TensorFlowTrainer as owner
    traces, step = [], owner.train_step
    monkeypatch.setattr(owner, "train_step",
                        lambda self, *data: traces.append(1) or step(self, *data))
    result = kz.fit(name, "digits", epochs=2, steps_per_epoch=5, verbose=0,
                    model_args=kz.model_info(name).tiny)
    assert len(traces) == 1
    assert int(result.model.optimizer.iterations) == 10
