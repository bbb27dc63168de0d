"""The run folder: files a training run writes, crash-safe, and how to resume.

```
run/
  config.json          everything needed to rerun (see `training.fit`)
  history.csv          one row per finished epoch, never twice
  metrics.json         test metrics, written when the run finished
  model.keras          the final model
  checkpoints/best.keras
  backup/              resume state: weights, optimizer and history of the last epoch
  logs/                TensorBoard
  curves.png           training curves
  vocabulary.txt       text and language-model datasets
  samples/             GAN sample grids
```

Every file is written to a temporary name in its folder first and moved in
place with `os.replace` (`atomic_write`), so a crash never leaves half a file
behind.
"""

import csv
import io
import json
import os
import random
import shutil
import tempfile


from keras_zoo.data import text as data_text
from keras_zoo.errors import InvalidArgumentError

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
TMP_PREFIX = ".tmp-"


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically (see `atomic_write`), synced to disk."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

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
    """Returns {epoch: {metric: float}} from a history CSV (empty if missing)."""
    if not os.path.exists(path):
        return {}
    rows = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            epoch = int(row.pop("epoch"))
            rows[epoch] = {k: float(v) for k, v in row.items() if v != ""}
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
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = _tmp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_model(model, path):
    """Saves a `.keras` file atomically."""
    atomic_write(path, model.save)


def save_weights(model, path):
    """Saves a `.weights.h5` file (weights and optimizer state) atomically."""
    atomic_write(path, model.save_weights)


def write_vocabulary(path, vocabulary):
    """Writes `vocabulary.txt` atomically, in `keras_zoo.data`'s format."""
    atomic_write(path, lambda tmp: data_text.save_vocabulary(vocabulary, tmp))


def read_vocabulary(path):
    return data_text.load_vocabulary(path)


def read_state(output_dir):
    """The committed resume state of a run (see `keras_zoo.callbacks.RunState`), or None.

    Returns:
        `{"epochs": finished epochs, "weights": file in backup/, "history":
        {epoch: logs}}`, or None before the first epoch finished.
    """
    path = os.path.join(output_dir, BACKUP, STATE)
    if not os.path.isfile(path):
        return None
    state = read_json(path)
    state["history"] = {int(e): logs for e, logs in state["history"].items()}
    return state


def write_state(output_dir, state):
    write_json(os.path.join(output_dir, BACKUP, STATE), state)


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
    if not overwrite and os.path.isfile(config_path):
        previous = read_json(config_path)
        if config.get("seed") is None:
            config = dict(config, seed=previous.get("seed"))
        finished = is_finished(output_dir)
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


def _check_writable(output_dir):
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
