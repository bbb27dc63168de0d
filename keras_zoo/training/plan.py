"""`plan_fit`: `fit`'s arguments checked and resolved into one frozen `FitPlan`."""

import collections.abc
import dataclasses
import importlib.util
import os
import sys
import tempfile
import uuid

import keras

from keras_zoo import data, distribute, runs
from keras_zoo import weights as weights_lib
from keras_zoo.distribute import memory, multi_process, sharding
from keras_zoo.errors import InvalidArgumentError, check_int, check_positive_int
from keras_zoo.models import registry
from keras_zoo.training import checks, levers

# Dataset kind -> the task a model reading it performs (for models passed as objects).
_KIND_TASKS = {
    "image": "image_classification",
    "features": "classification",
    "text": "text_classification",
    "seq2seq": "seq2seq",
    "lm": "language_modeling",
}


def _check_augment(augment, task):
    """Refuses, before anything is written, augmentations the task does not apply."""
    if task == "image_generation":
        from keras_zoo.models.gan import (
            DIFF_AUGMENTATIONS as accepted,  # in the GAN's step
        )
    else:
        accepted = ("flip", "translate")  # in the input pipeline
    unknown = sorted(set(augment) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"Recipe field `augment` has {unknown}, which {task} models do not apply; "
            f"accepted: {', '.join(accepted)}. Received: augment={augment!r}")


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
        dataset: the dataset's name (a folder's path, "arrays", "tf.data"
            for the user's data); `entry` its `DatasetEntry`, `spec` its
            `DatasetSpec`; `image_size` the `(H, W)` images are resized
            to, or None.
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
        multi_worker: whether the strategy is `MultiWorkerMirroredStrategy`
            (trained by `multi_worker.fit`, keras-team/keras#20585).
        layout: model parallel: `{pattern: axes}` of the model's kernels.
        jit_compile: passed to `compile` (`distribute.jit_compile`: the
            device's and family's default; False for a seeded run on
            TensorFlow, whose op determinism excludes XLA).
        chief: whether this process writes the run folder; the others train
            in a temporary `output_dir` of their own.
        config: the run's `config.json` (with the folder's or the agreed
            seed), or None without a folder; `finished`: the folder holds
            the finished run; `vocabulary_path`: the vocabulary a resumed
            run keeps its token ids from.
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
    multi_worker: bool = False
    layout: dict = None
    jit_compile: object = False
    chief: bool = True
    config: dict = None
    finished: bool = False
    vocabulary_path: str = None
    entry: object = None
    image_size: tuple = None

    @property
    def gan(self):
        return self.task == "image_generation"

    def run_config(self):
        """The run's `config.json` content."""
        return {**_run_config(self), "distribution": self.placement,
                **(self.transfer.config if self.transfer else {})}

    def data_record(self):
        """The run's `data` record: what `predict` and `evaluate` need to read new data."""
        entry, spec = self.entry, self.spec
        text = None
        if spec.kind in ("text", "seq2seq", "lm") and entry.token_ids is None:
            text = {key: getattr(entry, key)
                    for key in ("standardize", "split", "sequence_length", "keep_tokens")}
        return {
            "kind": spec.kind,
            "class_names": list(spec.class_names) if spec.class_names else None,
            "image_size": list(spec.input_shape[:2]) if spec.kind == "image" else None,
            "channels": spec.input_shape[-1] if spec.kind == "image" else None,
            "text": text,
            "token_ids": entry.token_ids,
            "origin": entry.origin or {
                "type": entry.source, "name": entry.name,
                "splits": {"train": entry.train_split, "validation": entry.validation_split,
                           "test": entry.test_split}},
        }


def plan_fit(model_or_name, dataset_or_name, *, epochs=None, batch_size=None, strategy="auto",
             precision="auto", output_dir=None, seed=None, steps_per_epoch=None,
             callbacks=None, data_dir=None, model_args=None, recipe=None, optimizer="auto",
             loss="auto", metrics="auto", overwrite=False, verbose="auto", weights=None,
             freeze=None, unfreeze_after=None, lora_rank=None, accumulate=None, remat=False,
             save_every_steps=None, validation_data=None, test_data=None):
    """Checks `fit`'s arguments and resolves them into one `FitPlan`; trains nothing.

    Arguments as for `fit`.
    """
    from keras_zoo import recipes

    epochs = check_positive_int(epochs, "epochs", allow_none=True)  # NumPy ints as ints
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch", allow_none=True)
    save_every_steps = check_positive_int(save_every_steps, "save_every_steps", allow_none=True)
    if save_every_steps is not None and output_dir is None:
        raise InvalidArgumentError(
            "`save_every_steps` saves mid-epoch checkpoints into the run folder; give an "
            f"`output_dir` too. Received: save_every_steps={save_every_steps!r}, "
            "output_dir=None")
    seed = check_int(seed, "seed", minimum=0, allow_none=True)
    verbose = resolve_verbose(verbose)
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise InvalidArgumentError(f"`callbacks` must be a list. Received: callbacks={callbacks!r}")
    entry = data.resolve(dataset_or_name, data_dir=data_dir, validation_data=validation_data,
                         test_data=test_data, seed=seed)
    # First: a MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy_obj = distribute.get_strategy(strategy)
    if save_every_steps is not None and distribute.is_multi_worker(strategy_obj):
        raise InvalidArgumentError(
            "`save_every_steps` is not available under the multi-worker strategy, whose "
            "training loop resumes at epoch ends only. Received: "
            f"save_every_steps={save_every_steps!r}, strategy={strategy!r}")
    spec = data.dataset_spec(entry, data_dir=data_dir)

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
        task = task_of(model_or_name, spec)
        if task != "image_generation":
            check_shapes(model_or_name, spec)  # the same refusal as evaluate's
    else:
        raise InvalidArgumentError(
            "`model_or_name` must be a registered model name or a keras.Model. "
            f"Received: model_or_name={model_or_name!r}"
        )
    base = recipes.recipe(name if model is None else None,
                          entry.name if entry.curated else None, kind=entry.kind,
                          weights=weights if isinstance(weights, str) else None)
    if isinstance(recipe, recipes.TrainingRecipe):
        base, recipe = recipe, None
    shortcuts = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v}
    resolved = recipes.override(base, {**(recipe or {}), **shortcuts})
    image_size = _image_size(entry, data_dir, resolved, family, model)
    if image_size is not None:
        spec = data.dataset_spec(entry, data_dir=data_dir, image_size=image_size)
        if model is not None and task != "image_generation":
            check_shapes(model, spec)
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
    if resolved.batch_size % batch_multiple(strategy_obj):
        raise InvalidArgumentError(
            f"`batch_size` must divide by the {batch_multiple(strategy_obj)} data-parallel "
            f"devices of strategy {strategy!r}. Received: batch_size={resolved.batch_size}"
        )
    checks.check_batch_fits(spec, resolved.batch_size)
    plan = FitPlan(
        name=name, model=model, task=task, family=family, model_args=args,
        dataset=entry.name, spec=spec, recipe=resolved, entry=entry, image_size=image_size,
        strategy=strategy_obj,
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
    plan = dataclasses.replace(plan, layout=sharding.layout_of(plan),
                               multi_worker=distribute.is_multi_worker(strategy_obj),
                               chief=distribute.is_chief(strategy_obj))
    memory.check_fit(plan)  # refuses a run that cannot fit, before anything is allocated
    plan = _with_run_folder(plan)
    return dataclasses.replace(plan, jit_compile=distribute.jit_compile(
        family=family, deterministic=plan.seed is not None))


def _with_run_folder(plan):
    """The plan with its run folder decided, reading only: a new, resumed or finished run.

    The seed is the folder's (or one drawn to record), agreed by all JAX
    processes; a process that is not the chief trains in a temporary folder
    of its own (made when the run starts), which holds no run.
    """
    if plan.output_dir is None:
        return plan
    output_dir, vocabulary_path = plan.output_dir, None
    if not plan.chief:
        output_dir = os.path.join(tempfile.gettempdir(),
                                  f"keras_zoo_worker_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    config, finished = runs.check_run_dir(output_dir, plan.run_config(), overwrite=plan.overwrite)
    seed = multi_process.agreed_seed(config["seed"])
    candidate = os.path.join(output_dir, runs.VOCABULARY)
    if not plan.overwrite and os.path.exists(candidate):  # resuming: keep the token ids
        vocabulary_path = candidate
    return dataclasses.replace(plan, output_dir=output_dir, seed=seed, config=config,
                               finished=finished, vocabulary_path=vocabulary_path)


def resolve_verbose(verbose):
    """`verbose` checked; "auto": a progress bar on a terminal, one line per epoch otherwise."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise InvalidArgumentError(
            f"`verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}"
        )
    return verbose


def _image_size(entry, data_dir, recipe, family, model):
    """The `(H, W)` images are resized to, or None to keep their size.

    The recipe's `image_size`; else a built model's input size; else the
    data's size rule for the family (`data.pipeline.image_size_for`).
    """
    if entry.kind != "image":
        return None
    shape = data.image_shape(entry, data_dir)
    if recipe.image_size is not None:
        size = (recipe.image_size, recipe.image_size)
    elif model is not None and hasattr(model, "inputs") and len(model.inputs[0].shape) == 4:
        size = tuple(model.inputs[0].shape[1:3])
    else:
        size = data.image_size_for(shape, family)
    return None if size is None or size == tuple(shape[:2]) else size


def task_of(model, spec):
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        return "image_generation"
    if model.name in registry.list_models():
        return registry.model_info(model.name).task
    return _KIND_TASKS[spec.kind]


def _run_config(plan):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from keras_zoo._version import __version__

    def describe(value):
        return value if isinstance(value, str) else repr(value)

    return {
        "model": plan.name,
        "model_args": plan.model_args,
        "dataset": plan.dataset,
        "data": plan.data_record(),
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
            "keras_zoo": __version__,
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


def batch_multiple(strategy=None):
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


def for_evaluation(dataset, strategy=None):
    """`dataset`, its batches padded with zero-weight rows to divide by the devices.

    See `data.pipeline.pad_batches`: every example is counted and the loss
    and (weighted) metrics equal those of a single-device evaluation.
    """
    multiple = batch_multiple(strategy)
    if dataset is None or multiple == 1:
        return dataset
    from keras_zoo.data.pipeline import pad_batches

    return pad_batches(dataset, multiple)


def check_shapes(model, spec):
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
