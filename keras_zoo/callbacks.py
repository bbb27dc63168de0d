"""Callbacks that keep a run folder safe: resume state, best checkpoint, NaN guard.

Keras's `BackupAndRestore` and `ModelCheckpoint` write their files in place,
so a kill during a write leaves a truncated file. These write through a
temporary file and `os.replace` (see `keras_zoo.runs`), and `RunState` commits
an epoch with one atomic rename of `backup/state.json`:

1. `backup/epoch-N.weights.h5`   weights and optimizer state after N epochs
2. `backup/state-previous.json`  the commit of epoch N-1, kept (with its weights)
3. `backup/state.json`           {"epochs": N, "weights": ..., "history": ...}  (the commit)
4. `history.csv`                 a copy of the committed history, for people

A kill at any moment leaves either the previous commit or the new one; a
damaged `state.json` or weights file falls back to the previous commit.
"""

import math
import os
import sys

import keras

from keras_zoo import runs
from keras_zoo.errors import ZooError


class TrainingDivergedError(ZooError, FloatingPointError):
    """The training loss became NaN or infinite (CLI exit code 2)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C; the message says how to resume (CLI exit code 130)."""


class RunState(keras.callbacks.Callback):
    """Saves resume state atomically after every epoch, and restores it.

    On `on_train_begin` a committed state is loaded (weights and optimizer)
    and `fit` continues at the first unfinished epoch; `history.csv` always
    equals the committed epochs, one row each.

    Args:
        output_dir: the run folder.
    """

    def __init__(self, output_dir):
        super().__init__()
        self.path = os.path.join(output_dir, runs.HISTORY)
        self.folder = os.path.join(output_dir, runs.BACKUP)
        self.candidates, self.problems = runs.resume_states(output_dir)
        if self.problems and not self.candidates:
            raise runs.no_good_state_error(self.problems)
        self.state = self.candidates[0][1] if self.candidates else None
        self.rows = dict(self.state["history"]) if self.state else {}

    @property
    def history(self):
        """`{metric: [value per epoch]}` of the committed epochs."""
        return runs.history_dict(self.rows)

    @property
    def epochs_done(self):
        return self.state["epochs"] if self.state else 0

    def on_train_begin(self, logs=None):
        if self.state:
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_variables)  # so its state can load
            self._load_newest_good()
            runs.write_history_csv(self.path, self.rows)  # a kill may have come before the copy
        self.model._initial_epoch = self.epochs_done or None  # as BackupAndRestore does

    def _load_newest_good(self):
        """Loads the newest state whose weights load; says so when one was passed over."""
        problems = list(self.problems)
        for path, state in self.candidates:
            weights = os.path.join(self.folder, state["weights"])
            try:
                self.model.load_weights(weights)
            except Exception as e:  # noqa: BLE001  truncated, or from another model
                reason = " ".join(str(e).split())[:200] or type(e).__name__
                problems.append((weights, f"its weights do not load into this model: {reason}"))
                continue
            if problems:
                print(runs.fallback_note(path, problems, state), file=sys.stderr)
            self.state, self.rows = state, dict(state["history"])
            _set_rng_state(self.model, state.get("rng"))
            return
        raise runs.no_good_state_error(problems)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.folder, exist_ok=True)
        weights = f"epoch-{epoch + 1}.weights.h5"
        runs.save_weights(self.model, os.path.join(self.folder, weights))
        self.rows = {e: r for e, r in self.rows.items() if e < epoch}
        self.rows[epoch] = {k: float(v) for k, v in (logs or {}).items()}
        previous = self.state
        self.state = {"epochs": epoch + 1, "weights": weights, "history": self.rows,
                      "rng": _rng_state(self.model)}
        runs.write_state(os.path.dirname(self.folder), self.state)  # the commit
        runs.write_history_csv(self.path, self.rows)
        keep = {weights, runs.STATE, runs.PREVIOUS_STATE, previous and previous["weights"]}
        for name in os.listdir(self.folder):
            if name not in keep:
                os.remove(os.path.join(self.folder, name))


    def fast_forward(self, dataset, steps_per_epoch=None):
        """`dataset` moved on to where the committed epochs left it, for an exact resume.

        With `steps_per_epoch` Keras reads one endless iterator, whose passes
        reshuffle (and re-augment) from seeds drawn in order; skipping the
        finished batches gives the resumed run the batches of an
        uninterrupted one, and with the weights, the optimizer and the
        dropout RNG states (`_rng_state`) restored it ends with exactly the
        same weights (tested, CPU). Without `steps_per_epoch` Keras makes a
        new iterator per epoch from a copy of the dataset, whose shuffle
        seeds start over, so a resumed epoch sees another order; `dataset`
        is returned as it is.
        """
        if not self.epochs_done or not steps_per_epoch:
            return dataset
        return dataset.skip(self.epochs_done * steps_per_epoch)


def _seed_states(model):
    # In model order: their names (`seed_generator_3/...`) count up per process.
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _rng_state(model):
    """The states of the model's random generators (dropout), which weights files omit."""
    return [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(model)]


def _set_rng_state(model, state):
    variables = _seed_states(model)
    if state and len(state) == len(variables):
        for variable, value in zip(variables, state):
            variable.assign(keras.ops.convert_to_tensor(value, variable.dtype))


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights with the lowest `monitor` so far, and saves them atomically.

    `restore()` puts the best weights back into the model, so that what is
    reported and saved is the model validation chose, not the last epoch's.

    Args:
        path: the `.keras` file, or None to keep the best weights in memory only.
        monitor: a log key such as `"val_loss"`.
        best: the best value of earlier epochs (resume), or None.
    """

    def __init__(self, path=None, monitor="val_loss", best=None):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.best = math.inf if best is None else best
        self.best_epoch = None
        self._weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.best_epoch = epoch + 1
            self._weights = [w.copy() for w in self.model.get_weights()]
            if self.path is not None:
                runs.save_model(self.model, self.path)

    def restore(self):
        """Loads the best weights into the model; returns False if there are none."""
        if self._weights is not None:
            self.model.set_weights(self._weights)
            return True
        if self.path is not None and os.path.isfile(self.path):  # best before a resume
            self.model.load_weights(self.path)
            return True
        return False


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with `TrainingDivergedError` when a loss is NaN or infinite.

    Raised during the epoch, before any epoch-end callback, so the last
    finished epoch's checkpoint and resume state stay as they were.

    Args:
        output_dir: the run folder, named in the message (or None).
    """

    def __init__(self, output_dir=None):
        super().__init__()
        self.output_dir = output_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key in ("loss", "d_loss", "g_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                raise TrainingDivergedError(self._message(key, float(value), batch))

    def _message(self, key, value, batch):
        policy = keras.config.dtype_policy().name
        kept = (f" The last good state (epoch {self.epoch}) is kept in {self.output_dir}; "
                f"rerunning resumes from it." if self.output_dir and self.epoch else "")
        return (
            f"The training {key} became {value} at epoch {self.epoch + 1}, batch {batch + 1}; "
            f"training stopped. Likely causes: a learning rate too high for this model "
            f"(try a 3-10x smaller one), or overflow in reduced precision (precision is "
            f"{policy}; try precision='float32'), or bad values in the data.{kept}"
        )
