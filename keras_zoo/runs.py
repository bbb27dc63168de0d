"""The run folder: files a training run writes, crash-safe, and how to resume.

```
run/
  config.json          everything needed to rerun (see `training.fit`)
  history.csv          one row per finished epoch, never twice
  metrics.json         test metrics, written when the run finished
  model.keras          the final model
  checkpoints/best.keras
  backup/              `keras.callbacks.BackupAndRestore` state while running
  logs/                TensorBoard
  curves.png           training curves
  vocabulary.txt       text and language-model datasets
  samples/             GAN sample grids
```

Every JSON and CSV file is written to a temporary file first and moved in
place with `os.replace`, so a crash never leaves half a file behind.
"""

import csv
import io
import json
import os
import random
import shutil
import tempfile

import keras

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
# Config keys that must match for a rerun to resume an interrupted run.
_RESUME_KEYS = ("model", "model_args", "dataset", "batch_size", "seed", "precision",
                "steps_per_epoch")


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and `os.replace`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


def save_model(model, path):
    """Saves a `.keras` file atomically."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), ".tmp-" + os.path.basename(path))
    model.save(tmp)
    os.replace(tmp, path)


def write_vocabulary(path, vocabulary):
    """Writes `vocabulary.txt` atomically, in `keras_zoo.data`'s format."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), ".tmp-" + os.path.basename(path))
    data_text.save_vocabulary(vocabulary, tmp)
    os.replace(tmp, path)


def read_vocabulary(path):
    return data_text.load_vocabulary(path)


def prepare_run_dir(output_dir, config, *, overwrite=False):
    """Creates or re-opens a run folder and writes `config.json`.

    A folder holding a finished run (`metrics.json`) is only re-used with
    `overwrite=True`. A folder holding an interrupted run is resumed when its
    config matches; its stored seed is kept when `config["seed"]` is None
    (a fresh run without a seed gets a random one, recorded).

    Returns:
        The config to use (with the seed of the interrupted run, if any).
    """
    os.makedirs(output_dir, exist_ok=True)
    config_path = os.path.join(output_dir, CONFIG)
    if overwrite:
        for name in _RUN_FILES:
            path = os.path.join(output_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    elif os.path.exists(os.path.join(output_dir, METRICS)):
        raise InvalidArgumentError(
            f"The output folder already holds a finished run; pass overwrite=True "
            f"(--overwrite) to replace it, or choose another folder. Received: "
            f"output_dir={output_dir!r}"
        )
    elif os.path.exists(config_path):
        previous = read_json(config_path)
        if config.get("seed") is None:
            config = dict(config, seed=previous.get("seed"))
        for key in _RESUME_KEYS:
            if _normalize(previous.get(key)) != _normalize(config.get(key)):
                raise InvalidArgumentError(
                    f"The output folder holds an unfinished run with a different {key} "
                    f"({previous.get(key)!r}); rerun it with the same arguments to resume, "
                    f"or pass overwrite=True (--overwrite). Received: {key}={config.get(key)!r}"
                )
    if config.get("seed") is None:  # record one, so the run can be repeated
        config = dict(config, seed=random.SystemRandom().randrange(2**31))
    for sub in ("checkpoints", LOGS):
        os.makedirs(os.path.join(output_dir, sub), exist_ok=True)
    write_json(config_path, config)
    return config


def _normalize(value):
    return json.loads(json.dumps(value, default=_jsonable))


class HistoryWriter(keras.callbacks.Callback):
    """Keeps `history.csv` equal to the finished epochs, one row each.

    Rows are keyed by epoch, so an epoch re-run after a crash (it finished but
    its backup was not saved) replaces its row instead of adding a second one.

    Args:
        path: the CSV file; existing rows are kept (resume).
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.rows = read_history_csv(path)
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:  # resumed at `epoch`: later rows are stale
            self._started = True
            self.rows = {e: r for e, r in self.rows.items() if e < epoch}

    def on_epoch_end(self, epoch, logs=None):
        self.rows[epoch] = {k: float(v) for k, v in (logs or {}).items()}
        write_history_csv(self.path, self.rows)

    @property
    def history(self):
        return history_dict(self.rows)
