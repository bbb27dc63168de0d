"""`fit` = `plan_fit` (resolve one frozen plan) then `execute` (run it).

```python
import keras_zoo as kz

result = kz.fit("simple_cnn", "digits", output_dir="runs/cnn")
result.metrics                      # {'accuracy': 0.98, 'loss': 0.06} on the test split
kz.evaluate("runs/cnn", "digits")   # the same numbers, from the saved run
```
"""

import contextlib
import dataclasses
import functools
import importlib.util
import inspect
import math
import os
import shutil
import warnings

import keras

from keras_zoo import data, distribute, runs
from keras_zoo import weights as weights_lib
from keras_zoo._quiet import quiet_native_logs
from keras_zoo.data import masking
from keras_zoo.distribute import sharding
from keras_zoo.distribute.precision import float32_copy
from keras_zoo.errors import ZooError
from keras_zoo.runs import load_model
from keras_zoo.training import levers
from keras_zoo.training.callbacks import (
    BestCheckpoint,
    RunState,
    SampleGrid,
    StopOnNonFiniteLoss,
    TrainingInterrupted,
)
from keras_zoo.training.compile import compile_model
from keras_zoo.training.plan import for_evaluation, plan_fit


def op_determinism_scoped(function):
    """Restores TensorFlow's op determinism to its state before `function` ran.

    `_set_seed` turns it on for a seeded run; without this it stayed on for
    the rest of the process, which on a GPU can slow down or refuse ops that
    have no deterministic kernel. TensorFlow 2.21 exports only the switch on
    (`tf.config.experimental.enable_op_determinism`); its own query and off
    switch, `is_op_determinism_enabled` and `disable_op_determinism`, live
    unexported beside it in `tensorflow.python.framework.config`.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if keras.backend.backend() != "tensorflow":
            return function(*args, **kwargs)
        from tensorflow.python.framework import config as tf_config

        was_enabled = tf_config.is_op_determinism_enabled()
        try:
            return function(*args, **kwargs)
        finally:
            if not was_enabled:
                tf_config.disable_op_determinism()

    return wrapper


@dataclasses.dataclass
class FitResult:
    """What `fit` returns.

    Attributes:
        model: the trained `keras.Model`; a zoo model trained in mixed
            precision comes back as its float32 copy
            (`keras_zoo.distribute.precision.float32_copy`: same weights, optimizer state
            and placement), so its backbones and exports compute in float32.
        history: `{metric: [value per epoch]}`, every epoch of the run
            (also those before a resume).
        metrics: `{metric: value}` on the test split (the final `d_loss`
            and `g_loss` for a GAN).
        output_dir: the run folder, or None.
    """

    model: keras.Model
    history: dict
    metrics: dict
    output_dir: str = None


@quiet_native_logs
def fit(model_or_name, dataset_or_name, **options):
    """Fits a zoo model on a dataset and evaluates it on the test split.

    Shapes, classes and vocabulary size come from the dataset; how to train
    comes from the training recipe of the model on that dataset
    (`kz.recipe(model, dataset)`). The best epoch on the validation split
    (lowest `val_loss`) is the model kept, evaluated once on the test split,
    and saved. With `output_dir`, the run is saved there (see
    `keras_zoo.runs`), and rerunning the same call after a crash resumes at
    the last committed epoch (every epoch; for a resume state of 8 MiB or
    more, once the training since the last commit took 10 times a commit's
    cost, `training.callbacks.LARGE_BACKUP_BYTES`), or at the step of the last
    mid-epoch checkpoint (`save_every_steps`, and on Ctrl-C or the CLI's
    SIGTERM), ending with exactly the weights of the uninterrupted run
    (seeded, CPU).

    Args:
        model_or_name: a registered model name, or a `keras.Model` (used as
            is; compiled with the defaults if it is not compiled).
        dataset_or_name: a zoo or tfds catalogue dataset name, a folder
            (one sub-folder per class of images or `.txt` files), `(x, y)`
            arrays, or a `tf.data.Dataset` of `(x, y)` examples (see
            `keras_zoo.data.sources`).
        epochs: number of epochs; None for the recipe's.
        batch_size: global batch size; None for the recipe's.
        strategy: a name for `get_strategy`.
        precision: `"auto"`, `"float32"`, `"mixed_bfloat16"`, `"mixed_float16"`.
        output_dir: folder for the run's files, or None to save nothing.
        seed: int seed for weights and shuffling; None draws one (recorded in
            `config.json`) when there is an `output_dir`, else leaves the
            random state alone.
        steps_per_epoch: train this many batches per epoch (the training
            data repeats); None for one pass over the training split.
        callbacks: extra `keras.callbacks.Callback`s.
        data_dir: tfds data folder.
        model_args: builder arguments overriding the dataset's, e.g.
            `{"width": 8}`.
        recipe: a dict of training-recipe fields to override (e.g.
            `{"learning_rate": 0.01}`), or a whole `TrainingRecipe`.
        optimizer, loss, metrics: "auto" for the recipe's, or anything
            `Model.compile` accepts.
        overwrite: replace a finished run in `output_dir`.
        verbose: `"auto"` (a progress bar on a terminal, one line per epoch
            otherwise), 0, 1 or 2.
        weights, freeze, unfreeze_after, lora_rank: fine-tuning from
            pretrained weights (a new head when the classes differ), see
            `keras_zoo.weights.fine_tuning.plan_transfer`; model names only.
        accumulate: average the gradients of this many batches per
            optimizer step (the optimizer's `gradient_accumulation_steps`):
            the step of an `accumulate` times larger batch in the memory of
            one batch. None or 1: no accumulation.
        remat: recompute each Transformer block in the backward pass
            (`keras.RematScope`): less activation memory, more compute.
        save_every_steps: with `output_dir`, commit a mid-epoch checkpoint
            every this many training steps of an epoch (at the end of the
            `steps_per_execution` steps that reach them); None: at epoch
            ends, and on an interrupt at the step it came.
        validation_data, test_data: the user's validation and test data, in
            the forms of `dataset_or_name` (not names); None carves 10% of
            each class from the data for each (seeded by `seed`).

    Returns:
        A `FitResult(model, history, metrics, output_dir)`.

    Example:

    >>> result = fit("simple_cnn", "digits", epochs=2, output_dir="runs/cnn")
    >>> result.metrics["accuracy"]
    """
    return execute(plan_fit(model_or_name, dataset_or_name, **options))


fit.__signature__ = inspect.signature(plan_fit)  # the arguments are the plan's, written once


@quiet_native_logs
@op_determinism_scoped
@runs.releases_run_locks
def execute(plan, prepared=None):
    """Runs a `FitPlan`: prepares the data, trains, tests the kept epoch, saves the run.

    Args:
        plan: from `plan_fit`.
        prepared: the plan's data already prepared (`prepare_data`), e.g.
            shared by the trials of `tune`; None prepares it.

    Returns:
        A `FitResult`; a finished run folder's, as saved.
    """
    if plan.finished:
        return _finished_result(plan.output_dir, plan.verbose)
    if plan.seed is not None:
        _set_seed(plan.seed)
    if prepared is None:
        prepared = prepare_data(plan)
        if plan.seed is not None:  # preparing a dataset the first time draws random numbers too
            _set_seed(plan.seed)
    if plan.output_dir is not None:
        runs.open_run_dir(plan.output_dir, plan.config, overwrite=plan.overwrite)
        if prepared.vocabulary is not None and plan.vocabulary_path is None:
            runs.write_vocabulary(os.path.join(plan.output_dir, runs.VOCABULARY),
                                  prepared.vocabulary)
    if plan.verbose and plan.entry is not None and not plan.entry.curated:  # the carve, once
        print(f"Data: {plan.entry.description}")
    if plan.verbose:  # after the data is ready: a dataset that cannot be read fails first
        print("Strategy {strategy} on {replicas} {device_kind} replica(s): global batch "
              "{global_batch_size}, per replica {per_replica_batch_size}".format(**plan.placement)
              + f"; precision {plan.precision}")
    try:
        model, history, results = _train_and_test(plan, prepared)
    except KeyboardInterrupt:
        raise _interrupted(plan.output_dir) from None
    if plan.output_dir is not None:
        _finish_run(plan.output_dir, model, history, results)
    if not plan.chief and plan.output_dir is not None:  # a worker's own temporary folder
        shutil.rmtree(plan.output_dir, ignore_errors=True)
    return FitResult(model=model, history=history, metrics=results,
                     output_dir=plan.output_dir if plan.chief else None)


def prepare_data(plan, with_test=True):
    """The plan's dataset as `PreparedData`: batched, augmented, masked for its task.

    A resumed run reads its saved vocabulary, so the token ids stay those it
    trained with; `with_test=False` leaves the test split unread (`tune`).
    """
    vocabulary = runs.read_vocabulary(plan.vocabulary_path) if plan.vocabulary_path else None
    prepared = data.prepare(plan.entry, batch_size=plan.recipe.batch_size, seed=plan.seed,
                            data_dir=plan.data_dir, images_only=plan.gan, vocabulary=vocabulary,
                            augment=() if plan.gan else plan.recipe.augment,  # a GAN's: in its step
                            translate=plan.recipe.translate, with_test=with_test,
                            image_size=plan.image_size)
    weights_lib.check_vocabulary(plan.transfer, prepared.vocabulary)  # ids as pretrained
    # Masked LM: mask the windows, at the recipe's rate.
    return masking.for_task(plan.task, prepared, plan.seed, plan.recipe.mask_rate)


def _epoch_steps(plan, prepared):
    """Optimizer steps per epoch: `steps_per_epoch`, or the training batches (None: unknown)."""
    if plan.steps_per_epoch:
        return plan.steps_per_epoch
    count = int(prepared.train.cardinality())
    return count if count > 0 else None


def _train_and_test(plan, prepared):
    """Builds and compiles the model in the plan's strategy, trains, tests the best epoch.

    Returns:
        `(model, history, test_metrics)`.
    """
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(plan.precision)
    if plan.layout:  # model parallel: the kernels' layout, before the model is built
        sharding.set_layout(plan.strategy, plan.layout)
    run_scope = distribute.run_scope(plan.strategy)
    run_scope.__enter__()
    epoch_steps = _epoch_steps(plan, prepared)
    writer = _run_state(plan, epoch_steps)
    try:
        model = _build_model(plan, epoch_steps, writer, prepared.train.element_spec)
        fit_model, evaluate_model = model.fit, model.evaluate
        if plan.multi_worker:  # keras-team/keras#20585
            from keras_zoo.training import multi_worker

            fit_model = functools.partial(multi_worker.fit, model, strategy=plan.strategy)
            evaluate_model = functools.partial(multi_worker.evaluate, model,
                                               strategy=plan.strategy)
        validation = None if plan.gan else for_evaluation(prepared.validation, plan.strategy)
        run_callbacks, best = _run_callbacks(plan, writer, validation is not None)
        train = prepared.train.repeat() if plan.steps_per_epoch else prepared.train
        if writer is not None:  # a resume replays the finished passes (RunState)
            train = writer.fast_forward(train)
        callbacks = run_callbacks + list(plan.callbacks) + (
            plan.transfer.callbacks() if plan.transfer else [])
        if not plan.multi_worker:  # its loop reports every step
            callbacks = _ExactSteps(callbacks, add_history=True, add_progbar=plan.verbose != 0,
                                    verbose=plan.verbose, epochs=plan.recipe.epochs,
                                    steps=epoch_steps, model=model)
        with writer.fitting() if writer is not None else contextlib.nullcontext():
            keras_history = fit_model(
                train,
                validation_data=validation,
                epochs=plan.recipe.epochs,
                steps_per_epoch=plan.steps_per_epoch,
                callbacks=callbacks,
                shuffle=False,  # the pipeline shuffles
                verbose=plan.verbose,
            )
        history = writer.history if writer is not None else dict(keras_history.history)
        if plan.gan:
            final = {k: v[-1] for k, v in history.items() if v}
            results = {k: final[k] for k in ("d_loss", "g_loss") if k in final}
        else:
            if best is not None:
                best.restore()  # validation chose the epoch; the test split is read once
            results = evaluate_model(for_evaluation(prepared.test, plan.strategy),
                                     return_dict=True, verbose=0)
        results = {k: float(v) for k, v in results.items()}
        if plan.model is None:  # mixed precision stays inside training (a model of the zoo's)
            with plan.strategy.scope():  # the copy's weights placed as the trained model's
                trained, model = model, float32_copy(model)
            if model is not trained:
                distribute.fix_steps_per_execution(model, plan.strategy)
    finally:
        run_scope.__exit__(None, None, None)
        keras.config.set_dtype_policy(previous_policy)
    return model, history, results


def _build_model(plan, epoch_steps, writer, element_spec):
    """The plan's model, built and compiled in its strategy, ready for `fit`.

    Its optimizer's and metrics' variables are made here, from the training data's
    `element_spec`, not in `fit`'s first trace: Keras on TensorFlow leaves them to that
    trace when no tf.distribute strategy is set (`_maybe_symbolic_build` in
    keras/src/backend/tensorflow/trainer.py), and a `tf.function` that makes variables
    in its first call traces again (tensorflow/tensorflow#48851). One trace instead of
    two: a 20-step fit of the tiny mlp 1.30x, of the tiny resnet20 (5 steps) 1.40x
    faster (`scripts/trace_count.py`, median of 3 and 2 pairs, AVX2-only EPYC); the
    tiny DCGAN, 3 steps, 1.07x (3 pairs, the suite running beside them). Keras on JAX
    builds them before tracing itself.
    """
    steps_per_execution = _steps_per_execution(plan, epoch_steps, writer)
    with plan.strategy.scope():
        model = plan.model
        if model is None:
            with levers.remat_scope(plan.remat):
                model = plan.transfer.build()
        if plan.recipe.weight_decay_type == "l2":
            from keras_zoo.recipes.schema import apply_l2

            apply_l2(model, plan.recipe.weight_decay)
        overridden = any(not (isinstance(v, str) and v == "auto")
                         for v in plan.compile_args.values())
        if plan.model is None or not model.compiled or overridden:
            compile_model(model, plan.task, **plan.compile_args,
                          steps_per_execution=steps_per_execution,
                          jit_compile=plan.jit_compile, recipe=plan.recipe,
                          steps_per_epoch=max(1, (epoch_steps or 1) // plan.accumulate),
                          character_level=plan.spec.kind == "lm"
                          and data.is_character_level(plan.entry))
    levers.accumulate_gradients(model, plan.accumulate)
    distribute.fix_steps_per_execution(model, plan.strategy)  # keras-team/keras#19246
    if keras.backend.backend() == "tensorflow":
        with plan.strategy.scope():
            if plan.gan:  # its two optimizers (models/gan.py); its loss trackers exist
                model.optimizer.build()
            else:
                model._symbolic_build(data_batch=element_spec)
    return model


def _steps_per_execution(plan, epoch_steps, writer):
    """The device's `steps_per_execution`, made to divide what it must.

    Keras runs whole executions on repeated data (`steps_per_epoch`), so
    there it must divide the epoch, or an epoch trains extra steps; a resumed
    mid-epoch step and `save_every_steps` (saved at an execution's end) must
    be multiples of it. One pass over finite data ends its last execution
    early (fewer steps) and keeps the device's value: a prime count of
    batches (half_sums' 313) would otherwise run one step per call;
    `_ExactSteps` corrects the step Keras reports.
    """
    if not epoch_steps:
        return 1  # unknown length: one step per execution
    device_value = distribute.steps_per_execution(family=plan.family, strategy=plan.strategy)
    must_divide = [*writer.resume_steps(), writer.save_every_steps or 0] if writer else []
    if plan.steps_per_epoch:
        must_divide.append(epoch_steps)
    if not any(must_divide):
        return min(device_value, epoch_steps)
    return _dividing(device_value, math.gcd(*must_divide))


class _ExactSteps(keras.callbacks.CallbackList):
    """Keras's callbacks, told the epoch's real last step.

    Keras reports an execution as ending `steps_per_execution - 1` steps
    after it began, also when the data ran out sooner (`EpochIterator`, Keras
    3.15): the bar showed 48/44 on digits and callbacks saw batch 47.
    """

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps")
        super().on_train_batch_end(min(batch, steps - 1) if steps else batch, logs)


def _dividing(steps_per_execution, epoch_steps):
    """The largest divisor of `epoch_steps` not above `steps_per_execution`.

    E.g. 10 for 16 and 20 steps per epoch of repeated data (Keras runs whole
    executions there and would train 32). `epoch_steps` None (unknown) keeps
    `steps_per_execution`.
    """
    if not epoch_steps:
        return steps_per_execution
    return max(d for d in range(1, min(steps_per_execution, epoch_steps) + 1)
               if epoch_steps % d == 0)


def _set_seed(seed):
    """Seeds Python, NumPy and the backend; on TensorFlow also op determinism.

    Op determinism is process-wide, and `fit` turns it back off when it
    returns (`op_determinism_scoped`); on this 2-core CPU it cost nothing
    measurable (simple_cnn/digits and gru_classifier/half_sums, 3 epochs),
    and without it two seeded simple_cnn runs differ.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _finished_result(output_dir, verbose):
    """The saved result of a finished run in `output_dir` (same settings)."""
    if verbose:
        print(f"The run in {output_dir} has already finished; returning its saved results "
              f"(pass overwrite=True, CLI --overwrite, to train again).")
    history = runs.history_dict(runs.read_history_csv(os.path.join(output_dir, runs.HISTORY)))
    return FitResult(model=load_model(output_dir), history=history,
                     metrics=runs.read_json(os.path.join(output_dir, runs.METRICS)),
                     output_dir=output_dir)


def _interrupted(output_dir):
    """The `TrainingInterrupted` to raise on Ctrl-C, saying how to resume."""
    if output_dir is None:
        return TrainingInterrupted("Training interrupted; nothing was saved (no output_dir).")
    try:
        state = runs.read_state(output_dir)
    except ZooError:
        state = None
    done = runs.describe_position(state) if state else "0 finished epoch(s)"
    return TrainingInterrupted(
        f"Training interrupted; {done} are saved in {output_dir}. "
        f"Run the same command again to resume from there."
    )


def _run_state(plan, epoch_steps):
    """The run folder's `RunState` (resume state, step checkpoints), or None without one."""
    if plan.output_dir is None:
        return None
    return RunState(plan.output_dir, epoch_steps=epoch_steps,
                    save_every_steps=plan.save_every_steps,
                    mid_epoch=not plan.multi_worker,
                    repeated=bool(plan.steps_per_epoch))


def _run_callbacks(plan, writer, has_validation):
    """The run's callbacks: NaN guard, best-epoch keeper, and with a folder crash-safe saving.

    Returns:
        `(callbacks, best_checkpoint or None)`.
    """
    output_dir = plan.output_dir
    callbacks = [StopOnNonFiniteLoss(output_dir)]
    best = None
    if not plan.gan:
        monitor = "val_loss" if has_validation else "loss"
        seen = [row[monitor] for row in writer.rows.values() if monitor in row] if writer else []
        path = os.path.join(output_dir, runs.BEST) if output_dir is not None else None
        best = BestCheckpoint(path, monitor, best=min(seen) if seen else None)
        callbacks.append(best)
    if output_dir is None:
        return callbacks, best
    # The resume state is kept after training so a crash during evaluation
    # resumes with no epochs left; `_finish_run` deletes it.
    callbacks.append(writer)
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, runs.LOGS),
                                                     write_graph=False))
    else:
        warnings.warn("TensorBoard is not installed (`pip install tensorboard`); "
                      "the run folder gets no logs/.", stacklevel=3)
    if plan.gan:
        callbacks.append(SampleGrid(os.path.join(output_dir, runs.SAMPLES), seed=plan.seed))
    return callbacks, best


def _finish_run(output_dir, model, history, results):
    import shutil

    from keras_zoo.runs import plots

    runs.save_model(model, os.path.join(output_dir, runs.MODEL))
    plots.plot_history(history, os.path.join(output_dir, runs.CURVES))  # atomic
    runs.write_json(os.path.join(output_dir, runs.METRICS), results)  # marks the run finished
    shutil.rmtree(os.path.join(output_dir, runs.BACKUP), ignore_errors=True)


