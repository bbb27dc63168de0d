"""Compile defaults per task, `fit`, `evaluate` and `load_model`.

```python
import keras_zoo as kz

result = kz.fit("simple_cnn", "digits", output_dir="runs/cnn")
result.metrics                      # {'accuracy': 0.98, 'loss': 0.06} on the test split
kz.evaluate("runs/cnn", "digits")   # the same numbers, from the saved run
```
"""

import collections.abc
import contextlib
import dataclasses
import functools
import importlib.util
import math
import os
import sys
import warnings

import keras

from keras_zoo import checks, data, distribute, levers, memory, registry, runs, sharding
from keras_zoo import metrics as _metrics  # noqa: F401  registers the losses and metrics runs save
from keras_zoo import weights as weights_lib
from keras_zoo.data import masking
from keras_zoo._quiet import quiet_native_logs
from keras_zoo.archive import check_keras_archive
from keras_zoo.errors import InvalidArgumentError, ZooError, check_positive_int, unknown_name
from keras_zoo.precision import float32_copy

# Dataset kind -> the task a model reading it performs (for models passed as objects).
_KIND_TASKS = {
    "image": "image_classification",
    "features": "classification",
    "text": "text_classification",
    "seq2seq": "seq2seq",
    "lm": "language_modeling",
}


def _op_determinism_scoped(function):
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
            (`keras_zoo.precision.float32_copy`: same weights, optimizer state
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


def compile_defaults(task, *, from_logits=False, recipe=None, steps_per_epoch=1,
                     character_level=False):
    """Returns the default `compile` arguments for a task.

    Args:
        task: one of `registry.TASKS`.
        from_logits: whether the model outputs logits (language models, or
            `classifier_activation=None`) or probabilities (the zoo's
            classifier default); `compile_model` works it out from the head.
        recipe: a `TrainingRecipe` giving the optimizer, schedule and label
            smoothing; None for Adam 1e-3.
        steps_per_epoch: optimizer steps per epoch (sizes the schedule).
        character_level: language models report `bits_per_char` (else
            `bits_per_token`).

    Returns:
        A dict with fresh `optimizer`, `loss` and `metrics` objects: the
        recipe's optimizer, sparse categorical cross-entropy and accuracy
        for every task that predicts classes or tokens, plus `exact_match`
        for seq2seq and bits per token for language models; `{}` for
        `"image_generation"` (the DCGAN's own `compile()` has its defaults).
    """
    from keras_zoo import metrics as zoo_metrics
    from keras_zoo import recipes

    if task not in registry.TASKS:
        raise unknown_name("task", task, registry.TASKS)
    if task == "image_generation":
        return {}
    if recipe is None:
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    else:
        optimizer = recipes.make_optimizer(recipe, steps_per_epoch)
    classifying = task in ("classification", "image_classification", "text_classification")
    smoothing = recipe.label_smoothing if recipe is not None and classifying else 0.0
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if task == "seq2seq":
        metrics.append(zoo_metrics.ExactMatch())
    if task == "language_modeling":
        name = "bits_per_char" if character_level else "bits_per_token"
        metrics.append(zoo_metrics.BitsPerToken(name=name, from_logits=from_logits))
    # Masked LM: the weights are 1 on the chosen tokens only (keras_zoo.data.masking),
    # so the loss is their mean, not a mean over every position.
    reduction = "mean_with_sample_weight" if task == "masked_language_modeling" \
        else "sum_over_batch_size"
    return {
        "optimizer": optimizer,
        "loss": zoo_metrics.SparseCrossentropy(from_logits=from_logits,
                                               label_smoothing=smoothing, reduction=reduction),
        "metrics": metrics,
    }


def outputs_logits(model):
    """Whether the model's last layer outputs logits (no softmax/sigmoid)."""
    layer = model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return False
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) not in ("softmax", "sigmoid")


def compile_model(model, task, optimizer="auto", loss="auto", metrics="auto", *,
                  steps_per_execution=None, recipe=None, steps_per_epoch=1,
                  character_level=False):
    """Compiles `model` with the task's defaults; arguments not "auto" win.

    Args:
        model: a `keras.Model` (a `DCGAN` for `"image_generation"`).
        task: one of `registry.TASKS`.
        optimizer, loss, metrics: "auto" or anything `Model.compile` takes.
        steps_per_execution: passed to `compile`; default
            `distribute.steps_per_execution()`.
        recipe, steps_per_epoch, character_level: see `compile_defaults`.

    Returns:
        The model, compiled.

    Example:

    >>> model = compile_model(create_model("mlp"), "classification", optimizer="sgd")
    """
    given = {"optimizer": optimizer, "loss": loss, "metrics": metrics}
    given = {k: v for k, v in given.items() if not (isinstance(v, str) and v == "auto")}
    if steps_per_execution is None:
        steps_per_execution = distribute.steps_per_execution()
    if task == "image_generation":
        if given:
            raise InvalidArgumentError(
                "A GAN compiles with its own defaults (Adam 2e-4 for both networks); "
                "compile it yourself (`model.compile(d_optimizer=..., g_optimizer=...)`) "
                f"to change them. Received: {', '.join(f'{k}={v!r}' for k, v in given.items())}"
            )
        model.compile(**_gan_optimizers(recipe, steps_per_epoch))
        return model
    if recipe is not None and recipe.ema_momentum:
        raise InvalidArgumentError(
            "Recipe field `ema_momentum` averages a GAN's generator; other models choose "
            "their weights on validation. Received: ema_momentum="
            f"{recipe.ema_momentum!r} for a {task} model"
        )
    kwargs = {**compile_defaults(task, from_logits=outputs_logits(model), recipe=recipe,
                                 steps_per_epoch=steps_per_epoch,
                                 character_level=character_level), **given}
    # Weighted, so that the zero-weight padding of data-parallel evaluation
    # (`_for_evaluation`) is not counted; without sample weights the same.
    kwargs["weighted_metrics"] = kwargs.pop("metrics", None)
    model.compile(**kwargs, steps_per_execution=steps_per_execution,
                  jit_compile=distribute.jit_compile())
    return model


def _check_augment(augment, task):
    """Refuses, before anything is written, augmentations the task does not apply."""
    if task == "image_generation":
        from keras_zoo.models.gan import DIFF_AUGMENTATIONS as accepted  # in the GAN's step
    else:
        accepted = ("flip", "translate")  # in the input pipeline
    unknown = sorted(set(augment) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"Recipe field `augment` has {unknown}, which {task} models do not apply; "
            f"accepted: {', '.join(accepted)}. Received: augment={augment!r}")


def _gan_optimizers(recipe, steps_per_epoch):
    """The GAN's two optimizers from its recipe (each a fresh one), or its defaults."""
    if recipe is None:
        return {}
    from keras_zoo import recipes

    return {"d_optimizer": recipes.make_optimizer(recipe, steps_per_epoch),
            "g_optimizer": recipes.make_optimizer(recipe, steps_per_epoch, average=True),
            "label_smoothing": recipe.label_smoothing,
            "augment": recipe.augment, "translate": recipe.translate}


def model_args_for(info, spec, model_args=None):
    """The builder arguments for a model fitted on a dataset.

    The dataset's shapes and sizes (`spec.model_args()`) that the builder
    accepts, then the user's `model_args`, which win; all checked by the
    registry.
    """
    if model_args is not None and not isinstance(model_args, collections.abc.Mapping):
        raise InvalidArgumentError(
            f"`model_args` must be a dict. Received: model_args={model_args!r}"
        )
    auto = {k: v for k, v in spec.model_args().items() if k in info.defaults}
    args = {**auto, **(model_args or {})}
    registry.check_overrides(info.name, args)
    checks.check_model_args(info, spec, args, model_args or {})
    return args


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """Everything `fit` decided before it trains, resolved once.

    Attributes:
        name: the model's name (registry key, or the model object's name).
        model: the `keras.Model` given, or None to build `name`.
        task, family: the registry's (family None for a model object).
        model_args: builder arguments (dataset's, then the user's).
        dataset: the dataset name; `spec` its `DatasetSpec`.
        recipe: the resolved `TrainingRecipe` (user overrides applied).
        strategy: the distribution strategy object; `placement` the
            replicas and batch split it gives.
        precision: the dtype policy name.
        steps_per_epoch: None for one pass over the training split.
        seed, output_dir, overwrite, data_dir, verbose, callbacks: as given
            (the seed drawn when a run folder needs one).
        compile_args: the user's optimizer/loss/metrics ("auto" for the recipe's).
        transfer: the `weights.Transfer` (pretrained weights, freezing, LoRA), or None.
        save_every_steps: steps between mid-epoch checkpoints, or None.
    """

    name: str
    model: object
    task: str
    family: str
    model_args: dict
    dataset: str
    spec: object
    recipe: object
    strategy: object
    strategy_name: str
    placement: dict
    precision: str
    steps_per_epoch: int
    seed: int
    output_dir: str
    overwrite: bool
    data_dir: str
    verbose: int
    callbacks: tuple
    compile_args: dict
    transfer: object = None
    accumulate: int = 1
    remat: bool = False
    save_every_steps: int = None

    @property
    def gan(self):
        return self.task == "image_generation"

    def run_config(self):
        """The run's `config.json` content."""
        return {**_run_config(self), "distribution": self.placement,
                **(self.transfer.config if self.transfer else {})}


def plan_fit(model_or_name, dataset_or_name, *, epochs=None, batch_size=None, strategy="auto",
             precision="auto", output_dir=None, seed=None, steps_per_epoch=None,
             callbacks=None, data_dir=None, model_args=None, recipe=None, optimizer="auto",
             loss="auto", metrics="auto", overwrite=False, verbose="auto", weights=None,
             freeze=None, unfreeze_after=None, lora_rank=None, accumulate=None, remat=False,
             save_every_steps=None):
    """Checks `fit`'s arguments and resolves them into one `FitPlan`; trains nothing.

    Arguments as for `fit`.
    """
    from keras_zoo import recipes

    check_positive_int(epochs, "epochs", allow_none=True)
    check_positive_int(batch_size, "batch_size", allow_none=True)
    check_positive_int(steps_per_epoch, "steps_per_epoch", allow_none=True)
    check_positive_int(save_every_steps, "save_every_steps", allow_none=True)
    if save_every_steps is not None and output_dir is None:
        raise InvalidArgumentError(
            "`save_every_steps` saves mid-epoch checkpoints into the run folder; give an "
            f"`output_dir` too. Received: save_every_steps={save_every_steps!r}, "
            "output_dir=None")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise InvalidArgumentError(f"`seed` must be a non-negative int or None. Received: seed={seed!r}")
    verbose = _resolve_verbose(verbose)
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise InvalidArgumentError(f"`callbacks` must be a list. Received: callbacks={callbacks!r}")
    dataset_name = _check_dataset_name(dataset_or_name)
    # First: a MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy_obj = distribute.get_strategy(strategy)
    if save_every_steps is not None and distribute.is_multi_worker(strategy_obj):
        raise InvalidArgumentError(
            "`save_every_steps` is not available under the multi-worker strategy, whose "
            "training loop resumes at epoch ends only. Received: "
            f"save_every_steps={save_every_steps!r}, strategy={strategy!r}")
    spec = data.dataset_spec(dataset_name, data_dir=data_dir)

    model = None
    if isinstance(model_or_name, str):
        info = registry.model_info(model_or_name)
        data.check_compatible(info, spec)
        task, family, name = info.task, info.family, info.name
        if model_args is not None and not isinstance(model_args, collections.abc.Mapping):
            model_args_for(info, spec, model_args)  # raises the clear error
    elif isinstance(model_or_name, keras.Model):
        if model_args:
            raise InvalidArgumentError(
                "`model_args` apply to a model name, not to a built model. "
                f"Received: model_args={model_args!r}"
            )
        model, family, name, args = model_or_name, None, model_or_name.name, {}
        task = _task_of(model_or_name, spec)
        if task != "image_generation":
            _check_shapes(model_or_name, spec)  # the same refusal as evaluate's
    else:
        raise InvalidArgumentError(
            "`model_or_name` must be a registered model name or a keras.Model. "
            f"Received: model_or_name={model_or_name!r}"
        )
    base = recipes.recipe(name if model is None else None, dataset_name)
    if isinstance(recipe, recipes.TrainingRecipe):
        base, recipe = recipe, None
    shortcuts = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v}
    resolved = recipes.override(base, {**(recipe or {}), **shortcuts})
    if model is None:  # the dataset's, the recipe's, then the user's
        args = model_args_for(info, spec, {**(resolved.model_args or {}), **(model_args or {})})
    transfer = None
    tuning = any(v is not None for v in (weights, freeze, unfreeze_after, lora_rank))
    if model is None:
        transfer = weights_lib.plan_transfer(name, args, weights=weights, freeze=freeze,
                                             unfreeze_after=unfreeze_after, lora_rank=lora_rank)
        args = transfer.args
    elif tuning:
        raise InvalidArgumentError(
            "`weights`, `freeze`, `unfreeze_after` and `lora_rank` apply to a model name; "
            "for a built model use keras_zoo.weights (freeze_backbone, enable_lora).")
    if resolved.augment and spec.kind != "image":
        resolved = resolved.replace(augment=())  # a generic recipe read by a text model
    _check_augment(resolved.augment, task)
    if resolved.batch_size % _batch_multiple(strategy_obj):
        raise InvalidArgumentError(
            f"`batch_size` must divide by the {_batch_multiple(strategy_obj)} data-parallel "
            f"devices of strategy {strategy!r}. Received: batch_size={resolved.batch_size}"
        )
    checks.check_batch_fits(spec, resolved.batch_size)
    plan = FitPlan(
        name=name, model=model, task=task, family=family, model_args=args,
        dataset=dataset_name, spec=spec, recipe=resolved, strategy=strategy_obj,
        strategy_name=strategy, placement=distribute.placement(strategy_obj, resolved.batch_size),
        precision=distribute.resolve_precision(precision, family),
        steps_per_epoch=steps_per_epoch, seed=seed,
        output_dir=None if output_dir is None else os.fspath(output_dir),
        overwrite=overwrite, data_dir=data_dir, verbose=verbose,
        callbacks=tuple(callbacks or ()),
        compile_args={"optimizer": optimizer, "loss": loss, "metrics": metrics},
        transfer=transfer, save_every_steps=save_every_steps,
        **levers.check(accumulate, remat),
    )
    sharding.apply_layout(plan)  # model_parallel: the family's LayoutMap for these sizes
    memory.check_fit(plan)  # refuses a run that cannot fit, before anything is allocated
    return plan


@quiet_native_logs
@_op_determinism_scoped
@runs.releases_run_locks
def fit(model_or_name, dataset_or_name, *, epochs=None, batch_size=None, strategy="auto",
        precision="auto", output_dir=None, seed=None, steps_per_epoch=None, callbacks=None,
        data_dir=None, model_args=None, recipe=None, optimizer="auto", loss="auto",
        metrics="auto", overwrite=False, verbose="auto", weights=None, freeze=None,
        unfreeze_after=None, lora_rank=None, accumulate=None, remat=False,
        save_every_steps=None):
    """Fits a zoo model on a dataset and evaluates it on the test split.

    Shapes, classes and vocabulary size come from the dataset; how to train
    comes from the training recipe of the model on that dataset
    (`kz.recipe(model, dataset)`). The best epoch on the validation split
    (lowest `val_loss`) is the model kept, evaluated once on the test split,
    and saved. With `output_dir`, the run is saved there (see
    `keras_zoo.runs`), and rerunning the same call after a crash resumes at
    the last finished epoch, or at the step of the last mid-epoch checkpoint
    (`save_every_steps`, and on Ctrl-C or the CLI's SIGTERM), ending with
    exactly the weights of the uninterrupted run (seeded, CPU).

    Args:
        model_or_name: a registered model name, or a `keras.Model` (used as
            is; compiled with the defaults if it is not compiled).
        dataset_or_name: a dataset name, see `list_datasets()`.
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
            `keras_zoo.weights.plan_transfer`; model names only.
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

    Returns:
        A `FitResult(model, history, metrics, output_dir)`.

    Example:

    >>> result = fit("simple_cnn", "digits", epochs=2, output_dir="runs/cnn")
    >>> result.metrics["accuracy"]
    """
    plan = plan_fit(model_or_name, dataset_or_name, epochs=epochs, batch_size=batch_size,
                    strategy=strategy, precision=precision, output_dir=output_dir, seed=seed,
                    steps_per_epoch=steps_per_epoch, callbacks=callbacks, data_dir=data_dir,
                    model_args=model_args, recipe=recipe, optimizer=optimizer, loss=loss,
                    metrics=metrics, overwrite=overwrite, verbose=verbose, weights=weights,
                    freeze=freeze, unfreeze_after=unfreeze_after, lora_rank=lora_rank,
                    accumulate=accumulate, remat=remat, save_every_steps=save_every_steps)
    scratch = None
    if plan.output_dir is not None and not distribute.is_chief(plan.strategy):
        import tempfile  # a multi-worker non-chief: the chief writes the run folder

        scratch = tempfile.mkdtemp(prefix="keras_zoo_worker_")
        plan = dataclasses.replace(plan, output_dir=scratch)
    vocabulary = None
    if plan.output_dir is not None:  # checked before the first file is written
        config, finished = runs.check_run_dir(plan.output_dir, plan.run_config(),
                                              overwrite=plan.overwrite)
        if finished:
            return _finished_result(plan.output_dir, plan.verbose)
        plan = dataclasses.replace(plan, seed=distribute.multi_process.agreed_seed(config["seed"]))
        vocab_path = os.path.join(plan.output_dir, runs.VOCABULARY)
        if not plan.overwrite and os.path.exists(vocab_path):  # resuming: keep the token ids
            vocabulary = runs.read_vocabulary(vocab_path)
    if plan.seed is not None:
        _set_seed(plan.seed)
    prepared = data.prepare(plan.dataset, batch_size=plan.recipe.batch_size, seed=plan.seed,
                            data_dir=plan.data_dir, images_only=plan.gan, vocabulary=vocabulary,
                            augment=() if plan.gan else plan.recipe.augment,  # a GAN's: in its step
                            translate=plan.recipe.translate)
    weights_lib.check_vocabulary(plan.transfer, prepared.vocabulary)  # ids as pretrained
    # Masked LM: mask the windows, at the recipe's rate.
    prepared = masking.for_task(plan.task, prepared, plan.seed, plan.recipe.mask_rate)
    if plan.seed is not None:  # preparing a dataset the first time draws random numbers too
        _set_seed(plan.seed)
    if plan.output_dir is not None:
        runs.open_run_dir(plan.output_dir, config, overwrite=plan.overwrite)
        if prepared.vocabulary is not None and vocabulary is None:
            runs.write_vocabulary(os.path.join(plan.output_dir, runs.VOCABULARY),
                                  prepared.vocabulary)
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
    if scratch is not None:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return FitResult(model=model, history=history, metrics=results,
                     output_dir=None if scratch else plan.output_dir)


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
    run_scope = distribute.run_scope(plan.strategy)
    run_scope.__enter__()
    epoch_steps = _epoch_steps(plan, prepared)
    writer = _run_state(plan, epoch_steps)
    try:
        model = _build_model(plan, epoch_steps, writer)
        fit_model, evaluate_model = model.fit, model.evaluate
        if distribute.is_multi_worker(plan.strategy):  # keras-team/keras#20585
            from keras_zoo import multi_worker

            fit_model = functools.partial(multi_worker.fit, model, strategy=plan.strategy)
            evaluate_model = functools.partial(multi_worker.evaluate, model,
                                               strategy=plan.strategy)
        validation = None if plan.gan else _for_evaluation(prepared.validation, plan.strategy)
        run_callbacks, best = _run_callbacks(plan, writer, validation is not None)
        train = prepared.train.repeat() if plan.steps_per_epoch else prepared.train
        if writer is not None:  # a resume replays the finished passes (RunState)
            train = writer.fast_forward(train)
        callbacks = run_callbacks + list(plan.callbacks) + (
            plan.transfer.callbacks() if plan.transfer else [])
        if not distribute.is_multi_worker(plan.strategy):  # its loop reports every step
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
            results = evaluate_model(_for_evaluation(prepared.test, plan.strategy),
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


def _build_model(plan, epoch_steps, writer):
    """The plan's model, built and compiled in its strategy, ready for `fit`."""
    steps_per_execution = _steps_per_execution(plan, epoch_steps, writer)
    with plan.strategy.scope():
        model = plan.model
        if model is None:
            with levers.remat_scope(plan.remat):
                model = plan.transfer.build()
        if plan.recipe.weight_decay_type == "l2":
            from keras_zoo.recipes import apply_l2

            apply_l2(model, plan.recipe.weight_decay)
        overridden = any(not (isinstance(v, str) and v == "auto")
                         for v in plan.compile_args.values())
        if plan.model is None or not model.compiled or overridden:
            compile_model(model, plan.task, **plan.compile_args,
                          steps_per_execution=steps_per_execution, recipe=plan.recipe,
                          steps_per_epoch=max(1, (epoch_steps or 1) // plan.accumulate),
                          character_level=plan.spec.kind == "lm"
                          and data.is_character_level(plan.dataset))
    levers.accumulate_gradients(model, plan.accumulate)
    distribute.fix_steps_per_execution(model, plan.strategy)  # keras-team/keras#19246
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
    device_value = distribute.steps_per_execution(plan.strategy, plan.family)
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
    returns (`_op_determinism_scoped`); on this 2-core CPU it cost nothing
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
    from keras_zoo.callbacks import TrainingInterrupted

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


def _resolve_verbose(verbose):
    if isinstance(verbose, str) and verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise InvalidArgumentError(
            f"`verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}"
        )
    return verbose


def _check_dataset_name(dataset):
    if not isinstance(dataset, str):
        raise InvalidArgumentError(
            f"`dataset_or_name` must be a dataset name, one of {', '.join(data.list_datasets())}. "
            f"Received: {dataset!r}"
        )
    return dataset


def _task_of(model, spec):
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        return "image_generation"
    if model.name in registry.list_models():
        return registry.model_info(model.name).task
    return _KIND_TASKS[spec.kind]


def _run_config(plan):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    import keras_zoo

    def describe(value):
        return value if isinstance(value, str) else repr(value)

    return {
        "model": plan.name,
        "model_args": plan.model_args,
        "dataset": plan.dataset,
        "epochs": plan.recipe.epochs,
        "batch_size": plan.recipe.batch_size,
        # With the epochs and batch size above, the whole recipe.
        "recipe": {k: v for k, v in plan.recipe.to_dict().items()
                   if k not in ("epochs", "batch_size")},
        "seed": plan.seed,
        "strategy": plan.strategy_name,
        "precision": plan.precision,
        "steps_per_epoch": plan.steps_per_epoch,
        "save_every_steps": plan.save_every_steps,  # not a resume key: results do not depend on it
        **{key: describe(value) for key, value in plan.compile_args.items()},
        "data_dir": plan.data_dir,
        "versions": {
            "keras_zoo": keras_zoo.__version__,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "tensorflow_datasets": tfds.__version__,
            "backend": keras.backend.backend(),
            "python": sys.version.split()[0],
            **({"jax": importlib.import_module("jax").__version__}
               if keras.backend.backend() == "jax" else {}),
        },
        # A run folder always has a seed, so `_set_seed` turns op determinism on.
        "op_determinism": keras.backend.backend() == "tensorflow",
    }


def _run_state(plan, epoch_steps):
    """The run folder's `RunState` (resume state, step checkpoints), or None without one."""
    from keras_zoo.callbacks import RunState

    if plan.output_dir is None:
        return None
    return RunState(plan.output_dir, epoch_steps=epoch_steps,
                    save_every_steps=plan.save_every_steps,
                    mid_epoch=not distribute.is_multi_worker(plan.strategy),
                    repeated=bool(plan.steps_per_epoch))


def _run_callbacks(plan, writer, has_validation):
    """The run's callbacks: NaN guard, best-epoch keeper, and with a folder crash-safe saving.

    Returns:
        `(callbacks, best_checkpoint or None)`.
    """
    from keras_zoo.callbacks import BestCheckpoint, StopOnNonFiniteLoss

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
        from keras_zoo.models import gan as gan_models

        callbacks.append(gan_models.SampleGrid(os.path.join(output_dir, runs.SAMPLES),
                                               seed=plan.seed))
    return callbacks, best


def _finish_run(output_dir, model, history, results):
    import shutil

    from keras_zoo import plots

    runs.save_model(model, os.path.join(output_dir, runs.MODEL))
    plots.plot_history(history, os.path.join(output_dir, runs.CURVES))  # atomic
    runs.write_json(os.path.join(output_dir, runs.METRICS), results)  # marks the run finished
    shutil.rmtree(os.path.join(output_dir, runs.BACKUP), ignore_errors=True)


def run_dir_of(path):
    """The run folder holding `path` (a run folder or a file in one), or None."""
    path = os.path.abspath(os.fspath(path))
    for candidate in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        if os.path.isfile(os.path.join(candidate, runs.CONFIG)):
            return candidate
    return None


@quiet_native_logs
def load_model(path, safe_mode=True):
    """Loads a model saved by the zoo.

    Args:
        path: a `.keras` file, or a run folder (its `model.keras`).
        safe_mode: refuse files that carry Python code (a `Lambda` layer's
            bytecode), which loading would run. Pass False only for files you
            trust (CLI: `--unsafe`).

    Returns:
        The `keras.Model`, compiled as it was saved.

    Example:

    >>> model = load_model("runs/cnn")
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"`path` must be a file or folder path. Received: path={path!r}")
    path = os.fspath(path)
    file = path
    if os.path.isdir(path):
        file = os.path.join(path, runs.MODEL)
        if not os.path.isfile(file):
            best = os.path.join(path, runs.BEST)
            hint = f" Its best checkpoint so far is {best}." if os.path.isfile(best) else ""
            raise InvalidArgumentError(
                f"The folder has no {runs.MODEL} (not a run folder, or the run has not "
                f"finished; rerun the same command to resume).{hint} Received: path={path!r}"
            )
    elif not os.path.exists(path):
        raise InvalidArgumentError(f"No such model file or run folder. Received: path={path!r}")
    elif not path.endswith(".keras"):
        raise InvalidArgumentError(
            f"A model file must be a `.keras` file (or give a run folder). Received: path={path!r}"
        )
    check_keras_archive(file, safe_mode=safe_mode)  # sizes and names, before Keras reads anything
    try:
        return keras.saving.load_model(file, safe_mode=safe_mode)
    except Exception as e:  # a truncated or foreign file is the user's to fix
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if safe_mode and "safe_mode" in str(e):
            raise InvalidArgumentError(
                "The model file carries Python code (e.g. a Lambda layer), which loading "
                "would run; refused in safe mode. If you trust the file, pass "
                f"safe_mode=False (CLI: --unsafe). Received: path={file!r}"
            ) from None
        raise InvalidArgumentError(
            f"Could not load the model file (corrupt, or not saved by keras-zoo): {reason} "
            f"Received: path={file!r}"
        ) from e


@quiet_native_logs
def evaluate(model_or_path, dataset_or_name, *, split="test", batch_size=None, data_dir=None,
             safe_mode=True):
    """Evaluates a model on a dataset split, counting every example.

    Args:
        model_or_path: a `keras.Model`, a `.keras` file or a run folder. A
            run's `vocabulary.txt` is re-used so token ids match training.
        dataset_or_name: a dataset name.
        split: `"train"`, `"validation"` or `"test"`.
        batch_size: evaluation batch size; None for the recipe's.
        data_dir: tfds data folder.
        safe_mode: see `load_model`.

    Returns:
        `{metric: value}`, e.g. `{"accuracy": 0.98, "loss": 0.07}`; for a
        GAN, its samples judged by a classifier of the dataset (recognised
        fraction, per-class fractions, KID and real-vs-real KID; see
        `keras_zoo.gan_metrics.evaluate_gan`).

    Example:

    >>> evaluate("runs/cnn", "digits")
    """
    check_positive_int(batch_size, "batch_size", allow_none=True)
    dataset_name = _check_dataset_name(dataset_or_name)
    vocabulary = None
    mask_rate = masking.MASK_RATE
    if isinstance(model_or_path, keras.Model):
        model = model_or_path
    else:
        model = load_model(model_or_path, safe_mode=safe_mode)
        run_dir = run_dir_of(model_or_path)
        if run_dir and os.path.isfile(os.path.join(run_dir, runs.VOCABULARY)):
            vocabulary = runs.read_vocabulary(os.path.join(run_dir, runs.VOCABULARY))
        if run_dir and os.path.isfile(os.path.join(run_dir, runs.CONFIG)):  # the run's masks
            recipe = runs.read_json(os.path.join(run_dir, runs.CONFIG)).get("recipe") or {}
            mask_rate = recipe.get("mask_rate", mask_rate)
    spec = data.dataset_spec(dataset_name, data_dir=data_dir)
    task = _task_of(model, spec)
    if task == "image_generation":  # samples judged by a classifier of the dataset
        from keras_zoo import gan_metrics

        return gan_metrics.evaluate_gan(model, dataset_name, split=split, data_dir=data_dir)
    if model.name in registry.list_models():
        data.check_compatible(registry.model_info(model.name), spec)
    _check_shapes(model, spec)
    split = {"train": spec.train_split, "validation": spec.validation_split,
             "test": spec.test_split}.get(split, split)
    dataset = data.load_dataset(dataset_name, split, batch_size=batch_size or spec.batch_size,
                                shuffle=False, data_dir=data_dir, vocabulary=vocabulary)
    if task == masking.TASK:
        seed = masking.VALIDATION_SEED if split == spec.validation_split else masking.TEST_SEED
        dataset = masking.masked_lm(dataset, spec.vocab_size, seed=seed, training=False,
                                    rate=mask_rate)
    if not model.compiled:
        compile_model(model, task, character_level=data.is_character_level(dataset_name))
    results = model.evaluate(_for_evaluation(dataset), return_dict=True, verbose=0)
    return {k: float(v) for k, v in results.items()}


def _batch_multiple(strategy=None):
    """What every batch must divide by: the data-parallel devices.

    The batch-axis size of a JAX `keras.distribution` (`strategy` if it is
    one, else the active one), over all processes: each process feeds its
    part of every batch (`multi_process.process_rows`); 1 without one
    (tf.distribute handles any batch).
    """
    if keras.backend.backend() != "jax":
        return 1
    if not hasattr(strategy, "device_mesh"):  # not a keras.distribution.Distribution
        strategy = keras.distribution.distribution()
    if getattr(strategy, "batch_dim_name", None) is None:
        return 1
    mesh = strategy.device_mesh
    return mesh.shape[mesh.axis_names.index(strategy.batch_dim_name)]


def _for_evaluation(dataset, strategy=None):
    """`dataset`, its batches padded with zero-weight rows to divide by the devices.

    See `data.pipeline.pad_batches`: every example is counted and the loss
    and (weighted) metrics equal those of a single-device evaluation.
    """
    multiple = _batch_multiple(strategy)
    if dataset is None or multiple == 1:
        return dataset
    from keras_zoo.data.pipeline import pad_batches

    return pad_batches(dataset, multiple)


def _check_shapes(model, spec):
    """Raises IncompatibleError when a built model cannot read the dataset."""
    from keras_zoo.errors import IncompatibleError

    expected = tuple(model.inputs[0].shape[1:])
    if spec.kind in ("image", "features"):
        received = tuple(spec.input_shape)
    else:
        received = (spec.sequence_length,)
    if len(expected) != len(received) or any(
            e is not None and r is not None and e != r for e, r in zip(expected, received)):
        raise IncompatibleError(
            f"Model {model.name!r} reads inputs of shape {expected}, dataset {spec.name!r} "
            f"has {received}. Received: dataset={spec.name!r}"
        )
    classes = model.outputs[0].shape[-1]
    needed = spec.num_classes if spec.kind in ("image", "features", "text") else spec.vocab_size
    if classes is not None and needed is not None and classes < needed:
        raise IncompatibleError(
            f"Model {model.name!r} predicts {classes} classes, dataset {spec.name!r} has "
            f"{needed}. Received: dataset={spec.name!r}"
        )
