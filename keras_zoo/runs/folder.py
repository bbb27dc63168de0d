"""The run folder: files a training run writes, crash-safe, and how to resume.

```
run/
  config.json          everything needed to rerun (see `training.fit`)
  history.csv          one row per finished epoch, never twice
  metrics.json         test metrics, written when the run finished
  model.keras          the final model
  checkpoints/best.keras
  backup/              resume state: weights, optimizer, history, RNG and data position
                       of the last epoch end or mid-epoch step checkpoint
  logs/                TensorBoard
  curves.png           training curves
  vocabulary.txt       text and language-model datasets
  samples/             GAN sample grids
```

Every file is written to a temporary name in its folder first, synced to
disk, moved in place with `os.replace`, and the folder synced too
(`atomic_write`), so neither a crash nor a power cut leaves half a file
behind. One process at a time trains into a folder (`lock_run_dir`, a
`.lock` file holding the writer's pid); readers take no lock. Every file is
checked when read back (`read_config`, `read_state`, ...); a damaged one
gets a `DamagedRunFileError` naming it and the way out, never a traceback.
"""

import csv
import errno
import functools
import io
import json
import os
import random
import shutil
import tempfile

from keras_zoo.data import vocabulary as data_text
from keras_zoo.errors import (
    DamagedRunFileError,
    InvalidArgumentError,
    RunFolderInUseError,
    ZooError,
)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer is then the user's care
    fcntl = None

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
BEST = os.path.join("checkpoints", "best.keras")
BACKUP = "backup"
LOGS = "logs"
CURVES = "curves.png"
VOCABULARY = "vocabulary.txt"
SAMPLES = "samples"

# What `overwrite=True` removes: only the files a run writes, never the folder.
_RUN_FILES = (CONFIG, HISTORY, METRICS, MODEL, "checkpoints", BACKUP, LOGS, CURVES,
              VOCABULARY, SAMPLES)
# Config keys that must match for a rerun to resume an interrupted run
# (`epochs` may grow), and to return a finished one as it is.
_RESUME_KEYS = ("model", "model_args", "dataset", "batch_size", "recipe", "seed", "precision",
                "steps_per_epoch", "optimizer", "loss", "metrics")
_FINISHED_KEYS = _RESUME_KEYS + ("epochs",)
STATE = "state.json"
# The state committed before the current one, kept beside it (with its
# weights) so that a damaged `state.json` falls back one epoch.
PREVIOUS_STATE = "state-previous.json"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"
# fsync each file and its folder at every commit (see `atomic_write`); only
# `scripts/fsync_cost.py` turns it off, to measure what it costs.
DURABLE = True
# errno values of a write the user can fix (space, quota, a path too long, a
# read-only disk, a folder made unwritable: `chmod a-w`, `chattr +i`):
# `atomic_write` turns them into `DiskWriteError`, the CLI into exit code 2.
_PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM)
_USER_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG, errno.EROFS) + _PERMISSION_ERRNOS


class DiskWriteError(ZooError, OSError):
    """A run file could not be written: disk full, quota, path too long, read-only, denied."""


def way_out(number):
    """What the user does about a failed write of errno `number` (see `_USER_ERRNOS`)."""
    if number in _PERMISSION_ERRNOS:
        return ("make the folder writable for this user again (`chmod u+w`, `chattr -i`) or "
                "choose another output folder, and run the same command again to resume")
    return ("free space (or choose a shorter or writable path) and run the same command "
            "again to resume")


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically (see `atomic_write`), synced to disk."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


def write_history_csv(path, rows):
    """Writes `rows` ({epoch: {metric: value}}) as a CSV, one row per epoch."""
    keys = sorted({k for logs in rows.values() for k in logs})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch"] + keys)
    for epoch in sorted(rows):
        writer.writerow([epoch] + [rows[epoch].get(k, "") for k in keys])
    atomic_write_text(path, out.getvalue())


def read_history_csv(path):
    """Returns {epoch: {metric: float}} from a history CSV (empty if missing).

    Raises:
        DamagedRunFileError: the file is not a history the zoo wrote.
    """
    if not os.path.exists(path):
        return {}
    rows = {}
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                epoch = int(row.pop("epoch"))
                rows[epoch] = {k: float(v) for k, v in row.items() if v not in ("", None)}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, csv.Error) as e:
        raise _damaged(path, f"not a history table ({type(e).__name__}: {e})",
                       "pass overwrite=True (CLI: --overwrite) to train the run again") from None
    return rows


def history_dict(rows):
    """{epoch: logs} -> the `keras.callbacks.History.history` layout."""
    keys = sorted({k for logs in rows.values() for k in logs})
    return {k: [rows[e].get(k) for e in sorted(rows)] for k in keys}


def _tmp_path(path):
    """A temporary name in `path`'s folder that keeps its extension (Keras checks it)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{name}")


def atomic_write(path, write):
    """Calls `write(tmp)` on a temporary name, then moves it to `path` with `os.replace`.

    The temporary file sits in `path`'s folder (created if missing), so the
    rename is atomic; on any error it is removed and `path` is untouched.
    The file is fsynced before the rename and the folder after it, so after
    a power cut `path` holds the old or the new content, never an empty
    file (a rename is only durable once its folder is synced).

    Raises:
        DiskWriteError: the disk is full (or over quota, read-only), the
            path is too long, or the folder is not writable (EACCES, EPERM);
            the message names the path.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = _tmp_path(path)
    try:
        os.makedirs(folder, exist_ok=True)
        write(tmp)
        if DURABLE:
            _fsync(tmp)
        os.replace(tmp, path)
        if DURABLE:
            _fsync(folder)
    except BaseException as e:
        if os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass
        problem = _user_errno(e)
        if problem is not None:
            error = DiskWriteError(
                f"Could not write {path}: {os.strerror(problem)}. What was saved before is "
                f"intact; {way_out(problem)}. Received: path={path!r}")
            error.errno = problem
            raise error from None
        raise


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _user_errno(error):
    """The errno of a write the user can fix (`_USER_ERRNOS`), also when a library wrapped it."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _USER_ERRNOS:
            return error.errno
        text = str(error)
        for number in _USER_ERRNOS:  # h5py and TensorFlow keep only the text
            if os.strerror(number) in text or f"errno = {number}," in text:
                return number
        error = error.__cause__ or error.__context__
    return None


def save_model(model, path):
    """Saves a `.keras` file atomically, in float32 (`precision.float32_copy`).

    Mixed precision stays inside training: the saved layers carry the
    float32 policy, so reloads, backbones cut from them and exports compute
    and return float32.
    """
    from keras_zoo.distribute.precision import float32_copy

    atomic_write(path, float32_copy(model).save)


def save_weights(model, path):
    """Saves a `.weights.h5` file (weights and optimizer state) atomically."""
    atomic_write(path, model.save_weights)


def write_vocabulary(path, vocabulary):
    """Writes `vocabulary.txt` atomically, in `keras_zoo.data`'s format."""
    atomic_write(path, lambda tmp: data_text.save_vocabulary(vocabulary, tmp))


def run_vocabulary(run_dir):
    """The token list a run folder saved (its `vocabulary.txt`), or None: an image run."""
    path = os.path.join(run_dir, VOCABULARY)
    return tuple(read_vocabulary(path)) if os.path.isfile(path) else None


def read_vocabulary(path):
    return data_text.load_vocabulary(path)


def _damaged(path, problem, way_out):
    return DamagedRunFileError(
        f"The run file {path} is damaged: {problem}. Nothing was changed; {way_out}. "
        f"Received: path={path!r}")


def _read_json_checked(path):
    """`(data, None)` from a JSON file, or `(None, what is wrong)`."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    if not raw.strip():
        return None, "it is empty" if not raw else "it holds only whitespace"
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as e:
        return None, f"not valid JSON (truncated or garbage: {e})"


def read_config(run_dir, way_out=None):
    """The `config.json` of a run folder, checked to be a zoo run config.

    Raises:
        DamagedRunFileError: empty, not JSON, or without `model`/`dataset`.
    """
    path = os.path.join(run_dir, CONFIG)
    config, problem = _read_json_checked(path)
    if problem is None:
        if not isinstance(config, dict):
            problem = f"it holds a {type(config).__name__}, not a run config"
        else:
            missing = [k for k in ("model", "dataset") if not isinstance(config.get(k), str)]
            if missing:
                problem = f"it has no {' or '.join(repr(k) for k in missing)} (not a run config)"
    if problem:
        raise _damaged(path, problem, way_out or (
            "pass overwrite=True (CLI: --overwrite) to start the run again in this folder, "
            "or choose another folder"))
    return config


def read_metrics(run_dir):
    """The `metrics.json` of a finished run: `{name: number}`.

    Raises:
        DamagedRunFileError: empty, not JSON, or not a dict of numbers.
    """
    path = os.path.join(run_dir, METRICS)
    metrics, problem = _read_json_checked(path)
    if problem is None and not (isinstance(metrics, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values())):
        problem = "it is not a table of metric values"
    if problem:
        raise _damaged(path, problem, f"`keras-zoo evaluate {run_dir}` recomputes the test "
                       f"metrics from {MODEL}, or pass overwrite=True (CLI: --overwrite) to "
                       f"train the run again")
    return metrics


def _state_problem(backup, state):
    """What is wrong with a parsed resume state (None if it looks good)."""
    if not isinstance(state, dict):
        return "it is not a resume state"
    epochs, weights, history = state.get("epochs"), state.get("weights"), state.get("history")
    step = state.get("step", 0)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        return f"its epoch count is {epochs!r}"
    if isinstance(step, bool) or not isinstance(step, int) or step < 0 or epochs + step == 0:
        return f"its position (epoch count {epochs!r}, step {step!r}) is not a saved position"
    if not isinstance(weights, str) or os.path.basename(weights) != weights or not weights:
        return f"its weights entry is {weights!r}"
    try:
        if {int(e) for e in history} != set(range(epochs)) or not all(
                isinstance(v, dict) for v in history.values()):
            raise ValueError
    except (TypeError, ValueError, AttributeError):
        return f"its history does not hold epochs 0-{epochs - 1}"
    return weights_problem(os.path.join(backup, weights))


def weights_problem(path):
    """What is wrong with a `.weights.h5` file, short of loading it (None if nothing)."""
    if not os.path.isfile(path):
        return f"its weights file {os.path.basename(path)} is missing"
    if os.path.getsize(path) == 0:
        return f"its weights file {os.path.basename(path)} is empty (0 bytes)"
    import h5py

    try:
        with h5py.File(path, "r"):
            pass
    except Exception as e:  # noqa: BLE001  h5py raises OSError and others for bad files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"its weights file {os.path.basename(path)} is not readable ({reason})"
    return None


def resume_states(output_dir):
    """The good resume states of a run, newest first, and what was wrong with the others.

    Returns:
        `(states, problems)`: `states` a list of `(path, state)` (at most the
        current and the previous commit), `problems` a list of
        `(path, what is wrong)` for state files that exist but are damaged.
    """
    backup = os.path.join(output_dir, BACKUP)
    states, problems = [], []
    for name in (STATE, PREVIOUS_STATE):
        path = os.path.join(backup, name)
        if not os.path.exists(path):
            continue
        state, problem = _read_json_checked(path)
        if problem is None:
            problem = _state_problem(backup, state)
        if problem is None:
            state["history"] = {int(e): logs for e, logs in state["history"].items()}
            if not any(position(s) == position(state) for _, s in states):
                states.append((path, state))
        else:
            problems.append((path, problem))
    return states, problems


def no_good_state_error(problems):
    """The `DamagedRunFileError` when every resume state of a run is damaged."""
    path, problem = problems[0]
    others = "".join(f"; {p} too: {why}" for p, why in problems[1:])
    return _damaged(path, problem + others,
                    "no good resume state is left; pass overwrite=True (CLI: --overwrite) to "
                    "start the run again, or choose another folder")


def position(state):
    """`(finished epochs, steps of the next epoch)` of a resume state."""
    return state["epochs"], state.get("step", 0)


def describe_position(state):
    """E.g. `"2 finished epoch(s)"`, or `"2 finished epoch(s) and 17 step(s) of epoch 3"`."""
    epochs, step = position(state)
    steps = f" and {step} step(s) of epoch {epochs + 1}" if step else ""
    return f"{epochs} finished epoch(s){steps}"


def fallback_note(path, problems, state):
    """The one line saying that a damaged state was passed over for an older one."""
    damaged = "; ".join(f"{p} is damaged ({why})" for p, why in problems)
    epochs, step = position(state)
    steps = f", step {step} of epoch {epochs + 1}" if step else ""
    return (f"warning: {damaged}; resuming from the last good state, epoch {epochs}{steps} "
            f"({path}).")


def read_state(output_dir):
    """The newest good resume state of a run (see `keras_zoo.training.callbacks.RunState`), or None.

    Returns:
        `{"epochs": finished epochs, "weights": file in backup/, "history":
        {epoch: logs}, ...}`, with `"step"` (steps of the next epoch) for a
        mid-epoch checkpoint; None before the first checkpoint.

    Raises:
        DamagedRunFileError: state files exist but none is good.
    """
    states, problems = resume_states(output_dir)
    if states:
        return states[0][1]
    if problems:
        raise no_good_state_error(problems)
    return None


def write_state(output_dir, state):
    """Commits `state` as `backup/state.json`, keeping the current one if good as the previous."""
    backup = os.path.join(output_dir, BACKUP)
    current = os.path.join(backup, STATE)
    if os.path.isfile(current):
        old, problem = _read_json_checked(current)
        if problem is None and _state_problem(backup, old) is None:
            write_json(os.path.join(backup, PREVIOUS_STATE), old)
    write_json(current, state)


def is_finished(output_dir):
    return os.path.isfile(os.path.join(output_dir, METRICS))


def check_run_dir(output_dir, config, *, overwrite=False):
    """Decides what a run into `output_dir` does, without writing anything.

    A new or empty folder starts a run. A folder holding an interrupted run
    with the same settings resumes it; one holding a finished run with the
    same settings is returned as it is (`finished=True`). Other settings,
    or a path that cannot hold a run folder, are refused, unless
    `overwrite=True` (for other settings).

    Args:
        output_dir: the run folder.
        config: the new run's config (`seed` None keeps the stored seed, or
            draws one to record).
        overwrite: replace whatever run the folder holds.

    Returns:
        `(config, finished)`: the config to use, with the seed of the stored
        run if any, and whether that run has finished.
    """
    _check_writable(output_dir)
    config_path = os.path.join(output_dir, CONFIG)
    finished = False
    if not overwrite and os.path.exists(config_path):
        previous = read_config(output_dir)
        if config.get("seed") is None:
            config = dict(config, seed=previous.get("seed"))
        finished = is_finished(output_dir)
        if finished:
            read_metrics(output_dir)
            read_history_csv(os.path.join(output_dir, HISTORY))
        else:
            read_state(output_dir)  # raises when no good resume state is left
            _check_same_backend(output_dir, previous, config)
        _check_same_data(output_dir, previous, config)
        for key in _FINISHED_KEYS if finished else _RESUME_KEYS:
            if _normalize(previous.get(key)) != _normalize(config.get(key)):
                what = ("a finished run" if finished else "an unfinished run")
                raise InvalidArgumentError(
                    f"The output folder holds {what} with a different {key} "
                    f"({previous.get(key)!r}); "
                    + ("" if finished else "rerun it with the same arguments to resume, ")
                    + f"pass overwrite=True (CLI: --overwrite) to replace it, or choose another "
                    f"folder. Received: {key}={config.get(key)!r}, output_dir={output_dir!r}"
                )
    elif not overwrite and os.path.exists(os.path.join(output_dir, METRICS)):
        raise InvalidArgumentError(
            f"The output folder holds a finished run without {CONFIG}; pass overwrite=True "
            f"(CLI: --overwrite) to replace it, or choose another folder. "
            f"Received: output_dir={output_dir!r}"
        )
    if config.get("seed") is None:  # record one, so the run can be repeated
        config = dict(config, seed=random.SystemRandom().randrange(2**31))
    return config, finished


def _backend(config):
    versions = config.get("versions")
    return versions.get("backend") if isinstance(versions, dict) else None


def _check_same_backend(output_dir, previous, config):
    """Refuses to resume a run on another Keras backend than the one it trained on.

    Its optimizer state, RNG state and checkpoints are the other backend's,
    and `config.json` (rewritten on resume) would then name one backend for
    the whole run. A run recorded without a backend is not refused.
    """
    before, now = _backend(previous), _backend(config)
    if before is not None and now is not None and before != now:
        raise InvalidArgumentError(
            f"The output folder holds an unfinished run trained on the {before} backend, "
            f"and this process runs {now}; resume it on {before} (KERAS_BACKEND={before}), "
            f"pass overwrite=True (CLI: --overwrite) to start it again on {now}, or choose "
            f"another folder. Received: backend={now!r}, output_dir={output_dir!r}")


def _origin(config):
    record = config.get("data")
    return (record.get("origin") or {}) if isinstance(record, dict) else {}


def _check_same_data(output_dir, previous, config):
    """Refuses a run folder whose user data (a folder, arrays) changed since it was written.

    Compares the fingerprints of `config["data"]["origin"]` (a folder's file
    names, sizes and modification times, or the arrays' bytes, hashed);
    data without one (tf.data too large to hash, tfds data) is not refused.
    """
    before, now = _origin(previous), _origin(config)
    if before.get("fingerprint") and now.get("fingerprint") and \
            before["fingerprint"] != now["fingerprint"]:
        what = before.get("path") or before.get("type", "data")
        counts = ""
        if before.get("files") is not None:
            counts = f" ({before['files']} files then, {now.get('files')} now)"
        raise InvalidArgumentError(
            f"The data of the run in {output_dir} changed since it was written: {what}"
            f"{counts} no longer has fingerprint {before['fingerprint']}; restore it, pass "
            f"overwrite=True (CLI: --overwrite) to train again on the new data, or choose "
            f"another folder. Received: fingerprint {now['fingerprint']}")


# The longest path a run writes below its folder: TensorBoard's event files,
# `logs/validation/events.out.tfevents.<time>.<host>.<pid>.<n>.v2`.
def _longest_suffix():
    import socket

    return len(f"/logs/validation/events.out.tfevents.{10**10}.{socket.gethostname()}."
               f"{10**7}.{10**6}.v2")


def _check_path_length(output_dir):
    """Refuses a folder whose files would have paths longer than the file system takes."""
    path = os.path.abspath(output_dir)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
        path_max = os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        name_max, path_max = 255, 4096
    long_name = max(path.split(os.sep), key=len)
    problem = None
    if len(long_name) > name_max:
        problem = (f"its part {long_name[:40]!r}... has {len(long_name)} characters, over the "
                   f"file system's {name_max}")
    elif len(path) + _longest_suffix() >= path_max:
        problem = (f"it has {len(path)} characters, and the run's files below it would exceed "
                   f"the file system's {path_max}")
    if problem:
        raise InvalidArgumentError(
            f"The output path is too long: {problem}. Choose a shorter path. "
            f"Received: output_dir={output_dir[:80]!r}{'...' if len(output_dir) > 80 else ''}")


def _check_writable(output_dir):
    _check_path_length(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise InvalidArgumentError(
            f"The output path is a file, not a folder; give a folder path (it is created "
            f"if needed). Received: output_dir={output_dir!r}"
        )
    parent = os.path.abspath(output_dir)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    problem = None
    if not os.path.isdir(parent):
        problem = "is a file"
    else:
        try:  # a real probe: permission bits do not tell for root or read-only mounts
            os.rmdir(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=parent))
        except OSError as e:
            problem = f"is not writable ({e.strerror})"
    if problem:
        raise InvalidArgumentError(
            f"Cannot create the output folder: {parent!r} {problem}. Give a folder path "
            f"you can write to. Received: output_dir={output_dir!r}"
        )


def open_run_dir(output_dir, config, *, overwrite=False):
    """Creates or re-opens a run folder and writes `config.json`.

    Call `check_run_dir` first; this one writes. With `overwrite=True` the
    files of a previous run are removed (never other files in the folder).
    Temporary files left by a killed process are removed.
    """
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as e:
        raise InvalidArgumentError(
            f"Cannot create the output folder ({e.strerror}). Received: output_dir={output_dir!r}"
        ) from None
    lock_run_dir(output_dir)  # before anything is removed or written
    if overwrite:
        for name in _RUN_FILES:
            path = os.path.join(output_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    for folder in (output_dir, os.path.join(output_dir, "checkpoints")):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(TMP_PREFIX):
                    os.remove(os.path.join(folder, name))
    for sub in ("checkpoints", LOGS):
        os.makedirs(os.path.join(output_dir, sub), exist_ok=True)
    write_json(os.path.join(output_dir, CONFIG), config)


def _normalize(value):
    return json.loads(json.dumps(value, default=_jsonable))


# One writer per run folder ----------------------------------------------------------

_HELD = {}  # real path of a run folder -> the open lock file descriptor


def lock_run_dir(output_dir, wait=False):
    """Makes this process the only writer of `output_dir` until `unlock_run_dir`.

    An exclusive `flock` on `output_dir/.lock`, which holds the writer's pid.
    The kernel drops the lock when the process dies, even by `kill -9`, so a
    lock is never stale. Taking it again in the same process is a no-op.

    Args:
        output_dir: an existing folder.
        wait: block until the other process releases it, instead of raising.

    Raises:
        RunFolderInUseError: another process holds it (and `wait` is False);
            the message names the folder and that process's pid.
    """
    key = os.path.realpath(output_dir)
    if fcntl is None or key in _HELD:
        return
    fd = os.open(os.path.join(output_dir, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as e:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        raise RunFolderInUseError(
            f"The run folder {output_dir} is in use by another keras-zoo process "
            f"(pid {holder or 'unknown'}) training into it; wait for it to finish or stop it "
            f"(a killed process releases the folder at once), or choose another folder. "
            f"Received: output_dir={output_dir!r}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    _HELD[key] = fd


def unlock_run_dir(output_dir):
    """Releases the lock of `lock_run_dir` (the `.lock` file stays, harmless)."""
    fd = _HELD.pop(os.path.realpath(output_dir), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def releases_run_locks(function):
    """Decorator: the run folders locked during a call are released when it ends."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        before = set(_HELD)
        try:
            return function(*args, **kwargs)
        finally:
            for key in set(_HELD) - before:
                unlock_run_dir(key)

    return wrapper
