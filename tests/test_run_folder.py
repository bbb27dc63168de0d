"""The run folder: one writer at a time, damaged files recovered or explained, durable writes.

Each damaged file is met as a user would meet it: `keras-zoo train` (or
`evaluate`) run again on the folder, in-process through `cli.main`. A damaged
resume state falls back to the previous good one with one warning line; when
nothing good is left, exit 2 with one line naming the file and `--overwrite`,
and the folder is left exactly as it was.
"""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import pytest

import keras_zoo as kz
from keras_zoo import runs
from keras_zoo.cli import commands as cli
from keras_zoo.runs import folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")
TRAIN = ["train", "mlp", "--dataset", "digits", "--epochs", "3", "--steps-per-epoch", "6",
         "--seed", "1", "--arg", "hidden_units=(8,)"]
FINISHED = [arg if arg != "3" else "1" for arg in TRAIN]  # the `finished` run's command


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


class DieAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise Killed()


def fit_mlp(out, **kwargs):
    args = dict(epochs=3, seed=1, steps_per_epoch=6, output_dir=str(out),
                model_args={"hidden_units": (8,)}, verbose=0)
    return kz.fit("mlp", "digits", **{**args, **kwargs})


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """An interrupted run (2 of 3 epochs committed), a finished run, foreign weights."""
    root = tmp_path_factory.mktemp("made")
    with pytest.raises(Killed):
        fit_mlp(root / "interrupted", callbacks=[DieAtEpoch(2)])
    fit_mlp(root / "finished", epochs=1)
    other = kz.create_model("mlp", input_shape=(8, 8, 1), num_classes=10, hidden_units=(16,))
    other.save_weights(str(root / "other.weights.h5"))
    return root


def copy_of(made, tmp_path, name="interrupted"):
    out = tmp_path / name
    shutil.copytree(made / name, out)
    return out


def snapshot(folder):
    found = {}
    for where, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(where, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def history_epochs(out):
    return sorted(runs.read_history_csv(os.path.join(out, runs.HISTORY)))


def test_an_epoch_commit_keeps_the_previous_state_beside_it(made):
    backup = made / "interrupted" / "backup"
    assert sorted(os.listdir(backup)) == ["epoch-1.weights.h5", "epoch-2.weights.h5",
                                          "state-previous.json", "state.json"]
    assert runs.read_json(str(backup / "state.json"))["epochs"] == 2
    assert runs.read_json(str(backup / "state-previous.json"))["epochs"] == 1


def _garbage(path):
    path.write_bytes(b"\x00\xffnot json at all")


def _empty(path):
    path.write_bytes(b"")


def _truncated(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _missing(path):
    path.unlink()


def _foreign(made):
    return lambda path: shutil.copyfile(made / "other.weights.h5", path)


@pytest.mark.parametrize("target, damage", [
    ("state.json", _garbage),
    ("state.json", _truncated),
    ("state.json", _empty),
    ("epoch-2.weights.h5", _missing),
    ("epoch-2.weights.h5", _empty),
    ("epoch-2.weights.h5", _truncated),
    ("epoch-2.weights.h5", "foreign"),
])
def test_a_damaged_resume_state_falls_back_to_the_previous_one(
        made, tmp_path, capsys, target, damage):
    out = copy_of(made, tmp_path)
    damage = _foreign(made) if damage == "foreign" else damage
    damage(out / "backup" / target)
    assert cli.main(TRAIN + ["--output", str(out)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, err
    assert target in warnings[0] and "is damaged" in warnings[0]
    assert "resuming from the last good state, epoch 1" in warnings[0]
    assert history_epochs(out) == [0, 1, 2]
    assert runs.read_metrics(str(out)).keys() == {"accuracy", "loss"}
    assert not os.path.exists(out / "backup")


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("targets, damage", [
    (("state.json", "state-previous.json"), _garbage),
    (("epoch-2.weights.h5", "epoch-1.weights.h5"), _empty),
])
def test_no_good_resume_state_left_is_one_clear_error(made, tmp_path, capsys, targets, damage):
    out = copy_of(made, tmp_path)
    for target in targets:
        damage(out / "backup" / target)
    before = snapshot(out)
    assert cli.main(TRAIN + ["--output", str(out)]) == 2
    err = one_error_line(capsys)
    assert "state.json is damaged" in err and "--overwrite" in err, err
    assert snapshot(out) == before  # nothing readable deleted, nothing written


def test_weights_of_another_model_in_both_states_is_one_clear_error(made, tmp_path, capsys):
    out = copy_of(made, tmp_path)
    for target in ("epoch-2.weights.h5", "epoch-1.weights.h5"):
        _foreign(made)(out / "backup" / target)
    before = snapshot(out)
    assert cli.main(TRAIN + ["--output", str(out)]) == 2
    err = one_error_line(capsys)
    assert "do not load into this model" in err and "--overwrite" in err, err
    # Found once the model is built: the folder is re-opened (its lock taken, config.json
    # written again as it was), every file's bytes as before.
    after = snapshot(out)
    assert after.pop(runs.LOCK).strip() == str(os.getpid()).encode()
    before.pop(runs.LOCK)
    assert after == before


@pytest.mark.parametrize("content, problem", [
    (b"", "it is empty"),
    (b'{"model": "mlp", "datas', "not valid JSON"),
    (b'{"model": "mlp"}', "it has no 'dataset'"),
    (b"[1, 2]", "not a run config"),
])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_damaged_config_is_one_clear_error(made, tmp_path, capsys, content, problem,
                                             command):
    out = copy_of(made, tmp_path, "finished")
    (out / "config.json").write_bytes(content)
    before = snapshot(out)
    argv = FINISHED if command == "train" else ["evaluate"]
    assert cli.main(argv + (["--output", str(out)] if command == "train" else [str(out)])) == 2
    err = one_error_line(capsys)
    assert "config.json is damaged" in err and problem in err, err
    assert ("--overwrite" if command == "train" else "--dataset") in err
    assert snapshot(out) == before


@pytest.mark.parametrize("content", [b"", b"{\"accuracy\": 0.", b"garbage", b'{"accuracy": "high"}'])
def test_a_damaged_metrics_file_is_one_clear_error(made, tmp_path, capsys, content):
    out = copy_of(made, tmp_path, "finished")
    (out / "metrics.json").write_bytes(content)
    before = snapshot(out)
    assert cli.main(FINISHED + ["--output", str(out)]) == 2
    err = one_error_line(capsys)
    assert "metrics.json is damaged" in err and "keras-zoo evaluate" in err, err
    assert snapshot(out) == before


# one writer ---------------------------------------------------------------------------

HOLD = ("import sys, time; from keras_zoo import runs; runs.lock_run_dir(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(300)")


def hold_lock(folder):
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_gets_exit_2_naming_the_folder_and_the_holder(made, tmp_path, capsys):
    out = tmp_path / "run"
    holder = hold_lock(out)
    try:
        assert open(out / runs.LOCK).read().strip() == str(holder.pid)
        for extra in ([], ["--overwrite"]):
            assert cli.main(TRAIN + ["--output", str(out)] + extra) == 2
            err = one_error_line(capsys)
            assert f"The run folder {out} is in use" in err and f"pid {holder.pid}" in err, err
        assert sorted(os.listdir(out)) == [runs.LOCK]
        # Readers take no lock: evaluate a finished run while a writer holds it.
        finished = copy_of(made, tmp_path, "finished")
        reader_blocker = hold_lock(finished)
        try:
            assert cli.main(["evaluate", str(finished)]) == 0
        finally:
            reader_blocker.kill()
            reader_blocker.wait()
    finally:
        holder.kill()  # kill -9: the kernel releases the lock, nothing is stale
        holder.wait()
    runs.lock_run_dir(str(out))
    assert open(out / runs.LOCK).read().strip() == str(os.getpid())
    runs.unlock_run_dir(str(out))


def test_two_train_processes_started_together_on_one_folder(tmp_path):
    # Before the lock, the second one died on the first one's temporary state file.
    # digits is prepared first: two processes preparing it at once is another race
    # (tfds's "Failed to finalize writing of split"), not the run folder's.
    kz.load_dataset("digits", batch_size=8)
    out = tmp_path / "run"
    # 100 epochs: the loser's start (importing TensorFlow) surely overlaps the winner's run.
    argv = [sys.executable, "-m", "keras_zoo.cli"] + TRAIN[:4] + ["--epochs", "100"] + TRAIN[6:]
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen(argv + ["--output", str(out)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        errs = [proc.communicate(timeout=600)[1] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    codes = [proc.returncode for proc in procs]
    assert sorted(codes) == [0, 2], errs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    lines = [line for line in errs[loser].splitlines() if not NATIVE_LOG.match(line)]
    assert len(lines) == 1 and lines[0] == (
        f"error: The run folder {out} is in use by another keras-zoo process "
        f"(pid {procs[winner].pid}) training into it; wait for it to finish or stop it (a "
        f"killed process releases the folder at once), or choose another folder. Received: "
        f"output_dir={str(out)!r}"), errs[loser]
    assert history_epochs(out) == list(range(100))
    assert runs.read_metrics(str(out)).keys() == {"accuracy", "loss"}
    assert not [n for n in os.listdir(out) if n.startswith(runs.TMP_PREFIX)]


def test_fit_releases_its_lock_when_it_ends_or_fails(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Killed):
        fit_mlp(out, callbacks=[DieAtEpoch(1)])
    assert folder._HELD == {}
    holder = hold_lock(out)  # another process can take the folder over at once
    holder.kill()
    holder.wait()


# durable writes and full disks --------------------------------------------------------


def test_every_commit_syncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "sub" / "state.json"
    runs.write_json(str(path), {"epochs": 1})
    assert len(synced) == 2
    assert os.path.basename(synced[0]).startswith(runs.TMP_PREFIX)  # the data, before the rename
    assert synced[1] == str(tmp_path / "sub")  # the rename


def test_a_full_disk_is_exit_2_naming_the_path_and_the_run_resumes(tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "run"
    real = runs.save_weights

    def disk_full_at_epoch_2(model, path):
        if path.endswith("epoch-2.weights.h5"):
            def write(tmp):
                with open(tmp, "wb") as f:
                    f.write(b"\x89HDF half a file")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)
            return runs.atomic_write(path, write)
        return real(model, path)

    with monkeypatch.context() as patch:
        patch.setattr(runs, "save_weights", disk_full_at_epoch_2)
        assert cli.main(TRAIN + ["--output", str(out)]) == 2
    err = one_error_line(capsys)
    assert f"Could not write {out / 'backup' / 'epoch-2.weights.h5'}: No space left" in err, err
    assert not [n for n in os.listdir(out / "backup") if n.startswith(runs.TMP_PREFIX)]
    assert runs.read_state(str(out))["epochs"] == 1  # what was saved stays loadable
    assert kz.load_model(str(out / "checkpoints" / "best.keras"))
    assert cli.main(TRAIN + ["--output", str(out)]) == 0
    assert history_epochs(out) == [0, 1, 2]


# A real full disk: a 12 MB tmpfs in a user and mount namespace of its own (no root needed,
# and the mount vanishes with the process). The default mlp's files are 3.6 MB each: epochs
# 1 and 2 commit (best.keras, epoch-N.weights.h5, each written beside the old one before the
# rename), a later write finds the disk full. Then the tmpfs grows and the same command resumes.
_FULL_TMPFS = r"""
import json, os, subprocess, sys
disk, out, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", disk], check=True)

def train():
    proc = subprocess.run([sys.executable, "-m", "keras_zoo.cli", *argv], capture_output=True,
                          text=True)
    return proc.returncode, proc.stderr

def read(name):
    with open(os.path.join(out, name)) as f:
        return f.read()

code, err = train()
full = {"code": code, "stderr": err, "state": json.loads(read("backup/state.json")),
        "history": read("history.csv"), "leftovers": [n for n in os.listdir(out + "/backup")
                                                     if n.startswith(".tmp-")]}
subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
code, err = train()
print(json.dumps({"full": full, "code": code, "stderr": err, "history": read("history.csv"),
                  "metrics": json.loads(read("metrics.json"))}))
"""
NAMESPACE = ["unshare", "--user", "--map-root-user", "--mount"]


def _can_mount_a_tmpfs(folder):
    try:
        probe = subprocess.run(NAMESPACE + ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                            str(folder)], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def test_a_full_tmpfs_is_exit_2_naming_the_path_and_the_run_resumes(tmp_path, capsys,
                                                                      monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount_a_tmpfs(disk):  # the platform refuses namespaces: ENOSPC simulated
        return test_a_full_disk_is_exit_2_naming_the_path_and_the_run_resumes(
            tmp_path / "simulated", capsys, monkeypatch)
    out = disk / "run"
    argv = ["train", "mlp", "--dataset", "digits", "--epochs", "4", "--steps-per-epoch", "6",
            "--seed", "1", "--output", str(out)]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(NAMESPACE + [sys.executable, "-c", _FULL_TMPFS, str(disk), str(out)]
                          + argv, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    full = result["full"]
    lines = [line for line in full["stderr"].splitlines() if not NATIVE_LOG.match(line)]
    assert full["code"] == 2 and len(lines) == 1, full["stderr"]
    assert re.match(rf"error: Could not write {re.escape(str(out))}/\S+: No space left on "
                    r"device\. What was saved before is intact; .*run the same command again "
                    r"to resume", lines[0]), lines[0]
    assert 1 <= full["state"]["epochs"] < 4 and full["leftovers"] == []
    # The finished epochs are kept, not trained again: the history grows from them.
    assert result["code"] == 0, result["stderr"]
    assert result["history"].startswith(full["history"])
    assert len(result["history"].strip().splitlines()) == 1 + 4
    assert set(result["metrics"]) == {"accuracy", "loss"}


def test_a_library_error_carrying_enospc_is_exit_2(capsys, monkeypatch):
    def full(*args, **kwargs):
        raise RuntimeError("Failed to flush 3 events to /x/logs/train/events.out: "
                           + os.strerror(errno.ENOSPC))

    monkeypatch.setattr(kz, "fit", full)
    assert cli.main(TRAIN + ["--output", "x"]) == 2
    assert "No space left on device" in one_error_line(capsys)


@pytest.mark.parametrize("path", [lambda t: t / ("a" * 300),
                                  lambda t: t.joinpath(*["b" * 200] * 21)])
def test_a_path_too_long_is_refused_before_anything_is_written(tmp_path, capsys, path):
    out = path(tmp_path)
    assert cli.main(TRAIN + ["--output", str(out)]) == 2
    assert "The output path is too long" in one_error_line(capsys)
    assert os.listdir(tmp_path) == []


# exact resume and SIGTERM -------------------------------------------------------------


def final_weights(result):
    return [w.copy() for w in result.model.get_weights()]


@pytest.mark.parametrize("steps_per_epoch", [6, None])
def test_a_resumed_run_ends_exactly_as_the_uninterrupted_one(tmp_path, steps_per_epoch):
    # steps_per_epoch: the finished batches are skipped; None: the finished epochs' passes
    # are made again (each draws the next shuffle seeds); dropout's RNG state restored.
    args = dict(epochs=4, steps_per_epoch=steps_per_epoch)
    reference = fit_mlp(tmp_path / "reference", **args)
    with pytest.raises(Killed):
        fit_mlp(tmp_path / "resumed", callbacks=[DieAtEpoch(2)], **args)
    resumed = fit_mlp(tmp_path / "resumed", **args)
    for a, b in zip(final_weights(reference), final_weights(resumed)):
        assert a.tobytes() == b.tobytes()
    assert resumed.metrics == reference.metrics
    assert resumed.history == reference.history


def assert_same_run(resumed, reference):
    for a, b in zip(final_weights(reference), final_weights(resumed)):
        assert a.tobytes() == b.tobytes()
    assert resumed.metrics == reference.metrics
    assert resumed.history == reference.history


class DieAtStep(keras.callbacks.Callback):
    """Stands for a SIGKILL at the end of step `step` (1-based) of epoch `epoch` (0-based)."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at, self.epoch = (epoch, step), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            raise Killed()


# Digits has 40 training batches; with steps_per_execution 10 the steps end in tens. Killed at
# the end of an epoch's last step (before its epoch end), the run resumes from the step
# checkpoint before it, which skips past a pass over the data (> 40 batches): every pass
# reshuffles, so a resume that replays the seeds wrongly gets other batches.
@pytest.mark.parametrize("steps_per_epoch, strategy, killed_at, saved", [
    (None, "auto", (1, 40), (1, 30)),  # full epochs: the epoch's order as uninterrupted
    (20, "auto", (2, 20), (2, 10)),
    (20, "one_device", (2, 20), (2, 10)),  # Keras reads a batch ahead under a strategy
])
def test_a_run_killed_mid_epoch_resumes_at_its_step_checkpoint_exactly(
        tmp_path, steps_per_epoch, strategy, killed_at, saved):
    args = dict(steps_per_epoch=steps_per_epoch, strategy=strategy, save_every_steps=10)
    reference = fit_mlp(tmp_path / "reference", **args)
    out = tmp_path / "resumed"
    with pytest.raises(Killed):
        fit_mlp(out, callbacks=[DieAtStep(*killed_at)], **args)
    state = runs.read_state(str(out))
    assert runs.position(state) == saved and history_epochs(out) == list(range(saved[0]))
    assert state["rng"] and len(state["metrics"]) == 4  # loss and accuracy: total, count
    epoch, step = saved
    assert f"epoch-{epoch + 1}-step-{step}.weights.h5" in os.listdir(out / "backup")
    counter = Steps()
    assert_same_run(fit_mlp(out, callbacks=[counter], **args), reference)
    assert counter.first == (epoch, step + 10)  # the first step trained is the next one


class Steps(keras.callbacks.Callback):
    """Records `(epoch, steps done)` after the first step that changed the weights."""

    def __init__(self):
        super().__init__()
        self.first, self.epoch, self.weights = None, None, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.weights is None:
            self.weights = [w.copy() for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        changed = any(a.tobytes() != b.tobytes()
                      for a, b in zip(self.weights, self.model.get_weights()))
        if self.first is None and changed:
            self.first = (self.epoch, batch + 1)


def test_sigterm_exits_143_saying_how_to_resume_and_the_resume_is_exact(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "keras_zoo.cli"] + TRAIN[:4]
                            + ["--epochs", "12"] + TRAIN[8:] + ["--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("Epoch 3/"):
            break
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    last = stderr.strip().splitlines()[-1]
    assert re.match(r"terminated: Training stopped by SIGTERM; \d+ finished epoch\(s\)"
                    r"( and \d+ step\(s\) of epoch \d+)? are saved in .*Run the same command "
                    r"again to resume", last), last
    assert (2, 0) <= runs.position(runs.read_state(str(out))) < (12, 0)
    # The same epochs: the recipe's schedule spans them. (The stress run's SIGTERM may land
    # in start-up; this one lands in training.)
    resumed = fit_mlp(out, epochs=12, steps_per_epoch=None)
    assert_same_run(resumed, fit_mlp(tmp_path / "reference", epochs=12, steps_per_epoch=None))


@pytest.mark.slow
def test_a_process_killed_after_a_step_checkpoint_resumes_exactly(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "keras_zoo.cli"] + TRAIN[:4]
                            + ["--epochs", "12"] + TRAIN[8:]
                            + ["--save-every-steps", "10", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    state_path = out / "backup" / "state.json"
    try:
        while proc.poll() is None:  # until a step checkpoint of epoch 2 or later is committed
            try:
                state = runs.read_json(str(state_path))
            except (OSError, ValueError):
                state = {}
            if state.get("step") and state["epochs"] >= 1:
                break
            time.sleep(0.01)
        proc.kill()  # SIGKILL: nothing runs after it
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert runs.read_state(str(out))["epochs"] >= 1
    args = dict(epochs=12, steps_per_epoch=None, save_every_steps=10)
    assert_same_run(fit_mlp(out, **args), fit_mlp(tmp_path / "reference", **args))


_ON_JAX = r"""
import json, sys
import keras
import keras_zoo as kz
from keras_zoo import runs
from tests.test_run_folder import DieAtStep, Killed

out = sys.argv[1]
args = dict(epochs=3, seed=1, model_args={"hidden_units": (8,)}, verbose=0, save_every_steps=10)
reference = kz.fit("mlp", "digits", output_dir=out + "/reference", **args)
try:
    kz.fit("mlp", "digits", output_dir=out + "/resumed", callbacks=[DieAtStep(1, 40)], **args)
except Killed:
    pass
saved = runs.position(runs.read_state(out + "/resumed"))
resumed = kz.fit("mlp", "digits", output_dir=out + "/resumed", **args)
print(json.dumps({
    "backend": keras.backend.backend(), "saved": saved,
    "weights": all(a.tobytes() == b.tobytes() for a, b in
                   zip(reference.model.get_weights(), resumed.model.get_weights())),
    "metrics": resumed.metrics == reference.metrics,
    "history": resumed.history == reference.history}))
"""


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_exactly_on_jax(tmp_path):
    # Keras on JAX reads a batch ahead from another iterator (its symbolic build), and hands
    # the train function its iterator: the skip happens there, as on TensorFlow.
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", _ON_JAX, str(tmp_path)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"backend": "jax", "saved": [1, 30], "weights": True, "metrics": True,
                      "history": True}


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "10"])
def test_save_every_steps_must_be_a_positive_int(tmp_path, value):
    with pytest.raises(kz.InvalidArgumentError,
                       match=r"`save_every_steps` must be a positive integer. Received: "):
        fit_mlp(tmp_path / "run", save_every_steps=value)
    assert not (tmp_path / "run").exists()


def test_save_every_steps_needs_a_run_folder():
    with pytest.raises(kz.InvalidArgumentError, match=r"give an `output_dir` too"):
        kz.fit("mlp", "digits", epochs=1, save_every_steps=5, verbose=0)


@pytest.mark.parametrize("value, message", [
    ("0", r"error: `save_every_steps` must be a positive integer. Received: save_every_steps=0"),
    ("ten", r"error: keras-zoo train: argument --save-every-steps: invalid int value: 'ten'"),
])
def test_a_bad_save_every_steps_is_exit_2_on_the_command_line(tmp_path, capsys, value, message):
    code = cli.main(TRAIN + ["--save-every-steps", value, "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.match(message, err), err


def test_a_seeded_run_does_not_depend_on_whether_the_data_was_prepared(tmp_path):
    # The first run prepares digits into a fresh folder (drawing random numbers), the second
    # reads it; before the seed was set again after preparation, their weights differed.
    args = dict(epochs=1, steps_per_epoch=6, seed=3, model_args={"hidden_units": (8,)},
                verbose=0, data_dir=str(tmp_path / "tfds"))
    first = kz.fit("mlp", "digits", **args)
    second = kz.fit("mlp", "digits", **args)
    for a, b in zip(final_weights(first), final_weights(second)):
        assert a.tobytes() == b.tobytes()
