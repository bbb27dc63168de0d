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

Every epoch is committed, except for large models (a weights file of at least
`LARGE_BACKUP_BYTES`): those are committed once the training since the last
commit took `COMMIT_RATIO` times what that commit cost, and always at the last
epoch and when a signal is waiting. A resume starts at the last commit and ends
with the same weights either way; it retrains at most that many seconds.
"""

import contextlib
import math
import os
import signal
import sys
import threading
import time

import keras

from keras_zoo import runs
from keras_zoo.errors import ZooError
from keras_zoo.models.gan import sample_images
from keras_zoo.runs import plots


# The digits DCGAN recipe's commit (18.5 MB of weights, Adam moments and the
# generator's average) took 0.33 s of its 2.7 s epochs (12 %) on the 2-core AVX2
# machine at load 7, most of it in Keras's `save_weights` (0.2 s without fsync);
# `scripts/dcgan_profile.py --epoch-parts`, 2026-12-07. Committing such models when
# the training since the last commit took 10x the commit's cost bounds saving to
# about 10 % of the time. Small models (the tests' are kilobytes) commit every epoch.
LARGE_BACKUP_BYTES = 8 * 2**20
COMMIT_RATIO = 10


class TrainingDivergedError(ZooError, FloatingPointError):
    """The training loss became NaN or infinite (CLI exit code 2)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C; the message says how to resume (CLI exit code 130)."""


class RunState(keras.callbacks.Callback):
    """Saves resume state atomically after each epoch (and mid-epoch), and restores it.

    Large models skip epoch commits while the training since the last one
    took less than `COMMIT_RATIO` times its cost (see the module's docstring).

    On `on_train_begin` a committed state is loaded (weights and optimizer)
    and `fit` continues where it stopped; `history.csv` always equals the
    committed epochs, one row each.

    With `mid_epoch` it also commits mid-epoch step checkpoints: every
    `save_every_steps` steps of an epoch, and when SIGINT (Ctrl-C) or
    SIGTERM arrives during `fitting()`. A step checkpoint holds the weights
    and optimizer state (`iterations`, which drives the learning-rate
    schedule), the epoch and step, the dropout RNG states (`_rng_state`),
    the epoch's running metrics and the data position (the epoch and
    step). A rerun continues at that step and ends with exactly the weights
    and metrics of the uninterrupted run (tested, CPU, TensorFlow and JAX).

    The data position is restored by deterministic skip, not by a
    checkpointed tf.data iterator: Keras creates its iterators inside `fit`
    (out of reach of a `tf.train.Checkpoint`), and an iterator checkpoint
    stores the shuffle buffer and the in-memory cache, up to the whole
    dataset, at every save. Skipping replays the pipeline instead. Each
    pass over a dataset (each iterator made from it, or each repeat) draws
    the next shuffle and augmentation seeds from a generator in the dataset
    (`shuffle(seed=..., reshuffle_each_iteration=True)`, `Dataset.random`),
    so the resumed run must make as many passes as the uninterrupted one:
    with `repeated` data (`steps_per_epoch`) Keras reads one iterator for
    the whole `fit`, and the resume skips `epochs * epoch_steps + step`
    batches on it; otherwise Keras makes a new iterator for every epoch
    (and one more at each epoch's end, `_keras_iterators_per_epoch`), so the
    resume first makes and drops as many as the finished epochs made, then
    skips `step` batches of the epoch's own.

    Compared with `keras.callbacks.BackupAndRestore(save_freq=N)` (Keras
    3.15 and its master of 2026-08): it saves the weights and
    `{"epoch", "batch"}` every N batches, but on restore reads only the
    epoch (`model._initial_epoch`), so the epoch starts again at its first
    batch from mid-epoch weights, its first batches trained twice, on data
    read again from the epoch's start; it keeps neither the dropout RNG nor
    the running metrics, acts on no signal, and writes its files in place
    (keras-team/keras#20463). `tf.distribute.experimental.
    PreemptionCheckpointHandler` (MultiWorkerMirroredStrategy and
    TPUStrategy only) saves the `tf.train.Checkpoint` it is given when a
    worker is told of a preemption, at the next `run(train_step, ...)`
    call of the user's own loop; the loop, the step count
    (`total_run_calls`) and the data position are the user's to restore.

    Args:
        output_dir: the run folder.
        epoch_steps: training steps per epoch, or None when unknown (epoch
            checkpoints only, no data skipped).
        mid_epoch: False for epoch checkpoints only (the zoo's multi-worker
            loop, which cannot start mid-epoch).
        repeated: whether `fit` reads a repeated dataset for
            `steps_per_epoch` steps per epoch (one iterator), not one pass
            per epoch.
        save_every_steps: commit a step checkpoint after every this many
            steps of an epoch (at the end of the execution that reaches
            them, see `steps_per_execution`); None: only on an interrupt.
    """

    def __init__(self, output_dir, epoch_steps=None, save_every_steps=None, mid_epoch=True,
                 repeated=False):
        super().__init__()
        self.path = os.path.join(output_dir, runs.HISTORY)
        self.folder = os.path.join(output_dir, runs.BACKUP)
        self.epoch_steps = epoch_steps
        self.mid_epoch = bool(mid_epoch and epoch_steps)
        self.repeated = repeated
        self._dataset = None  # the per-epoch training data, to replay its passes
        self.save_every_steps = save_every_steps
        self.candidates, self.problems = runs.resume_states(output_dir)
        if self.problems and not self.candidates:
            raise runs.no_good_state_error(self.problems)
        self.state = self.candidates[0][1] if self.candidates else None
        self.rows = dict(self.state["history"]) if self.state else {}
        self.epoch = 0
        self._steps = 0  # steps of `epoch` trained so far
        self._saved = 0  # steps of `epoch` in the last commit
        self._resume = None  # what the first step of this `fit` must restore
        self._pending = None  # a deferred (signal number, frame)
        self._handlers = {}
        self._large = False  # whether the last commit's weights file was large
        self._commit_cost = 0.0  # seconds the last epoch commit took
        self._committed_at = None  # when it ended (time.perf_counter)

    @property
    def history(self):
        """`{metric: [value per epoch]}` of the committed epochs."""
        return runs.history_dict(self.rows)

    @property
    def epochs_done(self):
        return self.state["epochs"] if self.state else 0

    def resume_steps(self):
        """The mid-epoch steps of the states a resume may load (`steps_per_execution` divides them)."""
        return [runs.position(state)[1] for _, state in self.candidates]

    def fast_forward(self, dataset):
        """The training data for `fit`, moved on (or to be) past the committed epochs.

        With `mid_epoch` nothing changes here: the train function skips the
        batches on Keras's own iterator (`_ResumedSteps`), and the passes of
        finished epochs are made in `on_train_begin`, once the state to
        resume is loaded. A skip in the dataset would also run in the batch
        Keras reads ahead from another iterator to build the model (under a
        tf.distribute strategy; on JAX), drawing the seeds of every skipped
        pass there, so the resumed passes would get later seeds. The
        multi-worker loop gets the dataset skipped (repeated data only).
        """
        self._dataset = None if self.repeated else dataset
        if self.mid_epoch or not self.repeated or not self.epochs_done:
            return dataset
        return dataset.skip(self.epochs_done * self.epoch_steps)

    @contextlib.contextmanager
    def fitting(self):
        """The context of `fit`: SIGINT and SIGTERM wait for the end of a step.

        Their Python handlers (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM
        handler) run once a step checkpoint is committed at the end of the
        step in progress, or after the epoch end when the signal came in the
        epoch's last execution or validation. A second signal acts at once.
        Handlers that are not Python functions (SIGTERM's default: the
        process ends) are left alone, as is everything outside the main
        thread.
        """
        if self.mid_epoch and threading.current_thread() is threading.main_thread():
            for name in ("SIGINT", "SIGTERM"):
                number = getattr(signal, name, None)
                if number is not None and callable(signal.getsignal(number)):
                    self._handlers[number] = signal.signal(number, self._defer)
        try:
            yield
            self._deliver()  # a signal after the last epoch end
        finally:
            for number, handler in self._handlers.items():
                signal.signal(number, handler)
            self._handlers, self._pending = {}, None
            model = getattr(self, "_model", None)
            if isinstance(getattr(model, "train_function", None), _ResumedSteps):
                model.train_function = model.train_function.original  # fit failed early

    def _defer(self, signum, frame):
        if self._pending is not None:
            self._handlers[signum](signum, frame)
        self._pending = (signum, frame)

    def _deliver(self):
        if self._pending is not None:
            signum, frame = self._pending
            self._pending = None
            self._handlers[signum](signum, frame)

    def on_train_begin(self, logs=None):
        if self.state:
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_variables)  # so its state can load
            self._load_newest_good()
            runs.write_history_csv(self.path, self.rows)  # a kill may have come before the copy
            self._resume = self.state
            if self.mid_epoch and self._dataset is not None:
                for _ in range(_keras_iterators_per_epoch() * self.epochs_done):
                    iter(self._dataset)  # draws the pass's seeds, as Keras's iterator did
        self.model._initial_epoch = self.epochs_done or None  # as BackupAndRestore does

    def _load_newest_good(self):
        """Loads the newest state whose weights load; says so when one was passed over."""
        problems = list(self.problems)
        for path, state in self.candidates:
            problem = self._position_problem(state)
            if problem:
                problems.append((path, problem))
                continue
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
            _set_variables(_seed_states(self.model), state.get("rng"))
            return
        raise runs.no_good_state_error(problems)

    def _position_problem(self, state):
        """Why this run cannot continue at a state's mid-epoch step (None if it can)."""
        step = runs.position(state)[1]
        if not step:
            return None
        if not self.mid_epoch:
            return "it is a mid-epoch checkpoint, which multi-worker training cannot resume"
        if state.get("epoch_steps") != self.epoch_steps or step >= self.epoch_steps:
            return (f"its step {step} of {state.get('epoch_steps')} per epoch does not fit "
                    f"this run's {self.epoch_steps} steps per epoch")
        return None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        resumed = self._resume is not None and epoch == self._resume["epochs"]
        self._steps = self._saved = runs.position(self._resume)[1] if resumed else 0
        self._deliver()  # a signal during the last epoch end: that epoch is committed

    def on_train_batch_begin(self, batch, logs=None):
        if self._resume is None:
            return
        state, self._resume = self._resume, None
        epochs, step = runs.position(state)
        metrics = state.get("metrics") if step else None  # after Keras reset them for the epoch
        if keras.backend.backend() != "tensorflow":  # built by now (Keras's symbolic build)
            _set_variables(self.model.metrics_variables, metrics)
            metrics = None
        if self.mid_epoch:
            self.model.train_function = _ResumedSteps(
                self.model, calls=step // self.model.steps_per_execution,
                logs=state.get("logs") or {},
                skip=epochs * self.epoch_steps * self.repeated + step,
                metrics=metrics)

    def on_train_batch_end(self, batch, logs=None):
        if not self.mid_epoch:
            return
        steps = batch + 1
        if steps > self._saved and steps < self.epoch_steps:  # the epoch's end commits the last
            every = self.save_every_steps
            if self._pending is not None or (every and steps // every > self._steps // every):
                self._save_step(steps, logs)
        self._steps = max(self._steps, steps)
        if steps < self.epoch_steps:
            self._deliver()

    def _save_step(self, steps, logs):
        weights = f"epoch-{self.epoch + 1}-step-{steps}.weights.h5"
        os.makedirs(self.folder, exist_ok=True)
        runs.save_weights(self.model, os.path.join(self.folder, weights))
        self._commit({
            "epochs": self.epoch, "step": steps, "epoch_steps": self.epoch_steps,
            "weights": weights, "history": self.rows, "rng": _rng_state(self.model),
            "metrics": _values(self.model.metrics_variables),
            "logs": {k: float(v) for k, v in (logs or {}).items()},
        })
        self._saved = steps

    def on_epoch_end(self, epoch, logs=None):
        self.rows = {e: r for e, r in self.rows.items() if e < epoch}
        self.rows[epoch] = {k: float(v) for k, v in (logs or {}).items()}
        if not self._commit_due(epoch):
            return
        start = time.perf_counter()
        os.makedirs(self.folder, exist_ok=True)
        weights = f"epoch-{epoch + 1}.weights.h5"
        path = os.path.join(self.folder, weights)
        runs.save_weights(self.model, path)
        self._commit({"epochs": epoch + 1, "weights": weights, "history": self.rows,
                      "rng": _rng_state(self.model)})
        runs.write_history_csv(self.path, self.rows)
        self._large = os.path.getsize(path) >= LARGE_BACKUP_BYTES
        self._committed_at = time.perf_counter()
        self._commit_cost = self._committed_at - start

    def _commit_due(self, epoch):
        """Whether this epoch end commits (see `LARGE_BACKUP_BYTES`)."""
        last = (self.params or {}).get("epochs")
        if not self._large or self._pending is not None or last is None or epoch + 1 >= last:
            return True
        return time.perf_counter() - self._committed_at >= COMMIT_RATIO * self._commit_cost

    def _commit(self, state):
        """Commits `state`, keeping the previous commit's files and removing older ones."""
        previous, self.state = self.state, state
        runs.write_state(os.path.dirname(self.folder), state)  # the commit
        keep = {state["weights"], runs.STATE, runs.PREVIOUS_STATE,
                previous and previous["weights"]}
        for name in os.listdir(self.folder):
            if name not in keep:
                os.remove(os.path.join(self.folder, name))


def _keras_iterators_per_epoch():
    """The tf.data iterators Keras 3.15 starts per epoch of a finite dataset.

    `EpochIterator._enumerate_iterator` (keras/src/trainers/epoch_iterator.py)
    makes one when the epoch starts and one more, unused, when it ends. On
    TensorFlow both are tf.data iterators; on JAX they are generators over
    the dataset, and the unused one never starts its tf.data iterator. The
    exact-resume tests (full epochs, both backends) fail if this changes.
    """
    return 2 if keras.backend.backend() == "tensorflow" else 1


class _ResumedSteps:
    """`model.train_function` for the first calls of a resumed `fit`.

    Keras starts every epoch at step 0 and offers no initial step. To
    continue epoch `e` at step `s`, the first `s / steps_per_execution`
    calls return the logs saved with the checkpoint and train nothing, so
    Keras's step count, the callbacks' batch numbers and the epoch's end
    are those of the uninterrupted run; the optimizer, the RNG and the
    running metrics were restored by `RunState`. The first call skips the
    `skip` batches already trained on Keras's iterator (its last argument,
    on TensorFlow and JAX; see `RunState.fast_forward`), and on TensorFlow
    restores the running `metrics`, whose variables Keras would only create
    when it traces the first step (on JAX they exist, and the state Keras
    passes in was taken after `RunState` restored them). Then the model's
    own train function is put back.
    """

    def __init__(self, model, calls, logs, skip, metrics=None):
        self.model, self.original = model, model.train_function
        self.calls, self.logs, self.skip, self.metrics = calls, logs, skip, metrics

    def __call__(self, *args):
        tensorflow = keras.backend.backend() == "tensorflow"
        if self.skip is not None:
            iterator = args[-1]  # TensorFlow: (iterator,); JAX: (state, iterator)
            for _ in range(self.skip):
                next(iterator)
            if self.metrics:
                with self.model.distribute_strategy.scope():  # as Keras's own symbolic build
                    self.model._symbolic_build(data_batch=iterator.element_spec)
                _set_variables(self.model.metrics_variables, self.metrics)
            self.skip = None
        if self.calls:
            self.calls -= 1
            return dict(self.logs) if tensorflow else (dict(self.logs), args[0])
        self.model.train_function = self.original
        return self.original(*args)


def _seed_states(model):
    # In model order: their names (`seed_generator_3/...`) count up per process.
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _values(variables):
    return [keras.ops.convert_to_numpy(v).tolist() for v in variables]


def _rng_state(model):
    """The states of the model's random generators (dropout), which weights files omit."""
    return _values(_seed_states(model))


def _set_variables(variables, values):
    if values and len(values) == len(variables):
        for variable, value in zip(variables, values):
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


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of generated images at the end of every epoch.

    Files are `directory/epoch_001.png`, `epoch_002.png`... (epochs counted
    from 1), written atomically. The same noise (`seed`) is used every epoch
    so the grids show the generator's progress.

    Args:
        directory: folder of the PNG files (created if needed).
        num: images per grid.
        seed: seed of the noise.

    Example:

    >>> model.fit(images, epochs=5, callbacks=[SampleGrid("runs/dcgan/samples")])
    """

    def __init__(self, directory, num=64, seed=0):
        super().__init__()
        self.directory = os.fspath(directory)
        self.num = num
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        images = sample_images(self.model, self.num, seed=self.seed)
        plots.save_image_grid(images, os.path.join(self.directory, f"epoch_{epoch + 1:03d}.png"))
