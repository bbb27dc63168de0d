"""Reliability: crash-safe run folders, resume, Ctrl-C, NaN guard, repeatable runs, safe loading."""

import csv
import os
import pathlib
import re
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo import runs, training
from keras_zoo.cli import commands as cli
from keras_zoo.training import callbacks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"hidden_units": (8,)}


def fit_mlp(out, **kwargs):
    args = dict(epochs=3, seed=1, steps_per_epoch=6, output_dir=str(out), model_args=TINY,
                verbose=0)
    args.update(kwargs)
    return kz.fit("mlp", "digits", **args)


def history_epochs(out):
    with open(os.path.join(out, runs.HISTORY)) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, and no `except Exception` sees it."""


def kill_on_call(monkeypatch, module, name, call, path_end=""):
    """Makes the `call`-th call (1-based) of `module.name(path, ...)` die before it returns.

    Only calls whose first argument ends with `path_end` count.
    """
    original, calls = getattr(module, name), []

    def dying(*args, **kwargs):
        calls.append(str(args[0]).endswith(path_end))
        if calls[-1] and calls.count(True) == call:
            raise Killed(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


# atomic files -------------------------------------------------------------------------


def test_atomic_write_keeps_the_previous_file_when_the_writer_dies(tmp_path):
    path = str(tmp_path / "metrics.json")
    runs.write_json(path, {"accuracy": 0.5})

    def half_then_die(tmp):
        with open(tmp, "w") as f:
            f.write('{"accur')
        raise Killed()

    with pytest.raises(Killed):
        runs.atomic_write(path, half_then_die)
    assert runs.read_json(path) == {"accuracy": 0.5}
    assert os.listdir(tmp_path) == ["metrics.json"]


# resume after a crash at any point of an epoch end ------------------------------------


@pytest.mark.parametrize("function, call, resumes_at", [
    ("save_weights", 2, 1),        # while writing epoch 2's weights: epoch 2 runs again
    ("write_state", 2, 1),         # weights written, not committed: epoch 2 runs again
    ("write_history_csv", 2, 2),   # committed, history.csv not copied yet: repaired
])
def test_crash_during_an_epoch_end_resumes_without_counting_twice(
        tmp_path, monkeypatch, function, call, resumes_at):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_on_call(patch, runs, function, call)
        with pytest.raises(Killed):
            fit_mlp(out)
    counter = EpochCounter()
    result = fit_mlp(out, callbacks=[counter])
    assert counter.epochs == list(range(resumes_at, 3))
    assert history_epochs(out) == [0, 1, 2]
    assert len(result.history["loss"]) == 3
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]
    assert not os.path.exists(out / "backup")


def test_crash_after_training_resumes_with_no_epoch_left(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_on_call(patch, runs, "write_json", 1, path_end="metrics.json")
        with pytest.raises(Killed):
            fit_mlp(out, epochs=2)
    assert (out / "model.keras").exists() and not (out / "metrics.json").exists()
    counter = EpochCounter()
    result = fit_mlp(out, epochs=2, callbacks=[counter])
    assert counter.epochs == []
    assert history_epochs(out) == [0, 1]
    assert set(result.metrics) == {"loss", "accuracy"}


def test_finished_run_same_settings_returns_it_other_settings_refused(tmp_path):
    out = tmp_path / "run"
    first = fit_mlp(out, epochs=1)
    again = fit_mlp(out, epochs=1)
    assert again.metrics == pytest.approx(first.metrics)
    np.testing.assert_array_equal(again.model.get_weights()[0], first.model.get_weights()[0])
    before = sorted(os.listdir(out))
    with pytest.raises(kz.InvalidArgumentError,
                       match=r"finished run with a different batch_size \(32\).*--overwrite"):
        fit_mlp(out, epochs=1, batch_size=16)
    assert sorted(os.listdir(out)) == before
    replaced = fit_mlp(out, epochs=1, batch_size=16, overwrite=True)
    assert runs.read_json(str(out / "config.json"))["batch_size"] == 16
    assert history_epochs(out) == [0] and replaced.metrics


# Ctrl-C --------------------------------------------------------------------------------


class SigintAt(keras.callbacks.Callback):
    """Sends this process a real SIGINT once, in the middle of epoch `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.at = epoch
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.at:
            self.at = None
            os.kill(os.getpid(), signal.SIGINT)


def test_sigint_saves_the_step_it_came_at_and_the_resume_is_exact(tmp_path):
    # Full epochs of 40 steps, 16 per execution (the last runs 8): the SIGINT sent at the
    # end of step 16 of epoch 2 is handled at the end of the next execution, after a step
    # checkpoint. SIGINT at Python's default, as in a terminal: a shell's background job
    # (`.ci/run &`) starts the suite with SIGINT ignored, and it would stay ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _sigint_saves_the_step(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _sigint_saves_the_step(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(callbacks.TrainingInterrupted,
                       match=r"Training interrupted; 1 finished epoch\(s\) and 32 step\(s\) of "
                             r"epoch 2 are saved in .*Run the same command again"):
        fit_mlp(out, steps_per_epoch=None, callbacks=[SigintAt(epoch=1)])
    assert history_epochs(out) == [0]
    assert runs.position(runs.read_state(str(out))) == (1, 32)
    counter = EpochCounter()
    resumed = fit_mlp(out, steps_per_epoch=None, callbacks=[counter])
    assert counter.epochs == [1, 2] and history_epochs(out) == [0, 1, 2]
    reference = fit_mlp(tmp_path / "reference", steps_per_epoch=None)
    for a, b in zip(reference.model.get_weights(), resumed.model.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert resumed.history == reference.history and resumed.metrics == reference.metrics


def test_cli_reports_an_interruption_with_exit_code_130(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise callbacks.TrainingInterrupted("Training interrupted; 1 finished epoch(s) ...")

    monkeypatch.setattr(kz, "fit", interrupted)
    assert cli.main(["train", "mlp", "--dataset", "digits", "--output", "x"]) == 130
    err = capsys.readouterr().err
    assert err == "interrupted: Training interrupted; 1 finished epoch(s) ...\n"


@pytest.mark.slow
def test_ctrl_c_on_the_command_line(tmp_path):
    out = str(tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "keras_zoo.cli", "train", "mlp", "--dataset", "digits",
               "--epochs", "200", "--seed", "0", "--arg", "hidden_units=(8,)", "--output", out]
    # SIGINT at its default in the child, as in a terminal: a shell's background job
    # (`.ci/run &`) passes SIGINT on ignored, and Python then keeps ignoring it.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:
        if line.startswith("Epoch 3/"):
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert re.match(r"interrupted: Training interrupted; \d+ finished epoch\(s\)"
                    r"( and \d+ step\(s\) of epoch \d+)? are saved", last), last
    assert len(history_epochs(out)) >= 2 and not os.path.exists(os.path.join(out, "metrics.json"))


# NaN guard ----------------------------------------------------------------------------


class ExplodeAt(keras.callbacks.Callback):
    """Blows the weights up at the start of an epoch: the loss overflows.

    (The recipe's learning rate is a schedule, which cannot be assigned.)
    """

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            for weight in self.model.trainable_weights:
                weight.assign(weight * 1e30 + 1e30)


def test_nan_loss_stops_keeps_the_last_good_state_and_resumes(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(callbacks.TrainingDivergedError) as info:
        fit_mlp(out, callbacks=[ExplodeAt(epoch=1)])
    message = str(info.value)
    assert re.search(r"became (nan|inf|-inf) at epoch 2, batch \d+", message)
    assert "learning rate" in message and "precision" in message and str(out) in message
    assert isinstance(info.value, kz.ZooError)
    assert history_epochs(out) == [0]
    assert runs.read_state(str(out))["epochs"] == 1
    best = keras.saving.load_model(str(out / "checkpoints" / "best.keras"))
    assert all(np.isfinite(w).all() for w in best.get_weights())
    result = fit_mlp(out)  # same command, without the explosion: resumes at epoch 2
    assert history_epochs(out) == [0, 1, 2] and np.isfinite(result.metrics["loss"])


def test_a_sigterm_dropped_in_a_gc_callback_is_sent_again():
    """Python drops an exception raised in a gc callback ("Exception ignored in"): a
    SIGTERM whose handler ran inside JAX's `_xla_gc_callback` was lost, and the run
    trained to its end. Every command sends it again; other unraisables are printed."""
    import gc
    import time

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # so `_command` handles it
    fired = []

    def callback(phase, info):  # as if SIGTERM's handler ran in here
        if not fired:
            fired.append(phase)
            cli._on_sigterm(signal.SIGTERM, None)

    seen = []
    previous, sys.unraisablehook = sys.unraisablehook, seen.append
    gc.callbacks.append(callback)
    try:
        with pytest.raises(cli._Terminated):
            with cli._command(verbose=False):
                gc.collect()  # the handler's exception is dropped here
                assert fired
                sys.unraisablehook(type("U", (), {"exc_value": ValueError("other")})())
                deadline = time.time() + 10
                while time.time() < deadline:  # the signal comes again, and ends this
                    pass
    finally:
        gc.callbacks.remove(callback)
        sys.unraisablehook = previous
        cli._TERMINATED.clear()
    assert [str(u.exc_value) for u in seen] == ["other"]  # passed on, not swallowed
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_nan_loss_exits_2_on_the_command_line(tmp_path, capsys, monkeypatch):
    defaults = training.compile_defaults

    def explosive(task, **kwargs):
        return dict(defaults(task, **kwargs), optimizer=keras.optimizers.SGD(1e38))

    monkeypatch.setattr("keras_zoo.training.compile.compile_defaults", explosive)
    out = str(tmp_path / "run")
    assert cli.main(["train", "mlp", "--dataset", "digits", "--epochs", "2",
                     "--arg", "hidden_units=(8,)", "--output", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.match(r"error: The training loss became \S+ at epoch 1",
                                             err)


# repeatable runs ----------------------------------------------------------------------


def test_seeded_cnn_runs_are_identical():
    def run(seed):
        return kz.fit("simple_cnn", "digits", epochs=2, steps_per_epoch=8, seed=seed,
                      model_args={"filters": (4, 8)}, verbose=0)

    first, second = run(7), run(7)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert first.metrics == second.metrics and first.history == second.history


def test_config_records_everything_and_cli_config_repeats_the_run(tmp_path, capsys):
    first = str(tmp_path / "first")
    fit_mlp(first, epochs=2, seed=3, steps_per_epoch=10)
    config = runs.read_json(os.path.join(first, "config.json"))
    assert config["versions"].keys() >= {"keras_zoo", "keras", "tensorflow",
                                         "tensorflow_datasets", "backend"}
    assert config["versions"]["backend"] == "tensorflow" and config["op_determinism"] is True
    for key in ("model", "model_args", "dataset", "epochs", "batch_size", "seed", "strategy",
                "precision", "steps_per_epoch", "optimizer", "loss", "metrics", "data_dir"):
        assert key in config, key
    second = str(tmp_path / "second")
    assert cli.main(["train", "--config", os.path.join(first, "config.json"),
                     "--output", second]) == 0
    capsys.readouterr()
    repeated = runs.read_json(os.path.join(second, "config.json"))
    assert repeated == config
    assert runs.read_json(os.path.join(second, "metrics.json")) == runs.read_json(
        os.path.join(first, "metrics.json"))
    a, b = kz.load_model(first), kz.load_model(second)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


# safe loading -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory):
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Lambda(lambda t: t * 1.0, name="code")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    path = str(tmp_path_factory.mktemp("unsafe") / "lambda.keras")
    keras.Model(inputs, outputs, name="lambda_model").save(path)
    return path


def test_a_model_carrying_python_code_is_refused_unless_unsafe(lambda_model, capsys):
    with pytest.raises(kz.InvalidArgumentError, match="carries Python code.*safe_mode=False"):
        kz.load_model(lambda_model)
    assert kz.load_model(lambda_model, safe_mode=False).name == "lambda_model"
    assert cli.main(["evaluate", lambda_model, "--dataset", "digits"]) == 2
    assert "--unsafe" in capsys.readouterr().err
    assert cli.main(["evaluate", lambda_model, "--dataset", "digits", "--unsafe"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_nothing_evaluates_code_from_the_command_line_or_a_config(tmp_path, capsys):
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    assert cli.main(["train", "mlp", "--dataset", "digits", "--arg", f"hidden_units={code}"]) == 2
    assert "must be a tuple" in capsys.readouterr().err
    assert not marker.exists()
    for path in sorted(pathlib.Path(ROOT, "keras_zoo").rglob("*.py")):
        if path.name == "offline.py":  # parses the standard library's own source for docstrings
            continue
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])(eval|exec)\(|pickle|ast\.parse", source), path
        assert len(re.findall(r"\bast\.", source)) == source.count("ast.literal_eval"), path


# the stress test, short -----------------------------------------------------------------


@pytest.mark.slow
def test_stress_script_survives_a_kill_and_a_term(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "stress.py"),
                           "--kills", "2", "--workdir", str(tmp_path), "--signals", "kill,term",
                           "--steps-per-epoch", "20", "--seed", "1"],
                          capture_output=True, text=True, timeout=600)
    assert "kills survived: 2/2" in proc.stdout, proc.stdout + proc.stderr
    assert "SIGTERM" in proc.stdout and "exact: yes" in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout
