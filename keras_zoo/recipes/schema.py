"""The training-recipe schema: `TrainingRecipe`, the lookup `recipe()`, schedules, optimizers.

A `TrainingRecipe` is the optimizer, learning-rate schedule, weight decay,
label smoothing, augmentation, batch size, epochs, the reference it follows
and the result it expects. Recipes are registered per `(model, dataset)`;
`recipe(model, dataset)` falls back to the dataset's generic recipe (model
`"*"`), so every registered model fits every dataset it can read.

```python
import keras_zoo as kz

kz.recipe("resnet20", "cifar10")          # He et al. 2015, section 4.2
kz.recipe("simple_cnn", "digits").epochs  # 60
kz.fit("resnet20", "cifar10", recipe={"epochs": 30})  # any field overridden
```
"""

import dataclasses
import math

from keras_zoo.errors import InvalidArgumentError, is_integer, unknown_name

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step")
WEIGHT_DECAY_TYPES = ("decoupled", "l2")
# Augmentations of training images, applied in this order by the pipeline.
AUGMENTATIONS = ("flip", "translate", "cutout")
GENERIC = "*"
# The kinds of CPU a recipe's `minutes` are given for, by instruction set: the two
# bfloat16 kinds of `keras_zoo.distribute.defaults.cpu_kind`, then AVX-512 without
# bfloat16, then AVX2 and FMA without AVX-512 (many laptops and small cloud VMs).
CPU_KINDS = ("amx", "avx512_bf16", "avx512", "avx2")


@dataclasses.dataclass(frozen=True)
class Expected:
    """The result a recipe is known to reach.

    Attributes:
        metric: a key of `fit(...).metrics`, e.g. `"accuracy"`.
        value: the reference value on the test split.
        tolerance: how far below (above, for a loss) a run may land and
            still count as reproduced.
        higher_is_better: False for losses and bits per character.
        source: where `value` comes from (the paper, or this zoo's
            `scripts/results.py` run).
    """

    metric: str
    value: float
    tolerance: float
    higher_is_better: bool = True
    source: str = ""

    def met_by(self, metrics):
        """Whether `metrics` (a dict) reaches the expected value within tolerance."""
        got = metrics[self.metric]
        if self.higher_is_better:
            return got >= self.value - self.tolerance
        return got <= self.value + self.tolerance


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """How to fit one model on one dataset.

    Attributes:
        optimizer: `"adam"`, `"adamw"` or `"sgd"`.
        learning_rate: the peak learning rate.
        momentum: SGD momentum.
        nesterov: SGD Nesterov momentum.
        beta_1, beta_2: Adam(W) moment decays.
        schedule: `"constant"`, `"cosine"` (to `final_learning_rate` x the
            peak at the last step) or `"step"` (multiplied by `decay_rate`
            at each of `decay_steps`).
        warmup_steps: linear warm-up from 0 over this many optimizer steps
            (a float in (0, 1) is a fraction of all steps).
        decay_steps: step boundaries of the `"step"` schedule.
        decay_rate: factor of the `"step"` schedule at each boundary.
        final_learning_rate: the cosine schedule's last rate, as a fraction
            of the peak.
        weight_decay: decay coefficient; 0 for none.
        weight_decay_type: `"decoupled"` (AdamW, Loshchilov & Hutter) or
            `"l2"` (a penalty `weight_decay / 2 * |w|^2` on kernels, so the
            gradient gains `weight_decay * w`, as in He et al.).
        clipnorm: clip the global gradient norm to this; None for no clip.
        label_smoothing: for classification losses; for a GAN, one-sided
            smoothing of the discriminator's real targets (`1 -
            label_smoothing`, Salimans et al. 2016).
        ema_momentum: a GAN's generator is replaced at the end of training
            by the exponential moving average of its weights with this
            momentum (Keras's optimizer `use_ema`; Yazici et al. 2019); 0
            for none. GAN recipes only.
        mask_rate: masked-LM pretraining: the fraction of tokens chosen
            (`keras_zoo.data.masking`; BERT's 15%). Other tasks ignore it.
        augment: names from `AUGMENTATIONS` applied to training images:
            `"flip"` and `"translate"` in the input pipeline; for a GAN,
            `"translate"` and `"cutout"` are DiffAugment in its train step
            (`keras_zoo.models.gan.diff_augment`: real and generated images
            alike, so the generator does not learn them).
        translate: pixels of the random translation (pad and crop) when
            `"translate"` is in `augment`.
        image_size: images are resized to this square side; None follows
            `keras_zoo.data.pipeline.image_size_for` (a fixed size up to 64
            kept, others resized to the model family's side).
        batch_size: the global batch.
        epochs: passes over the training split.
        model_args: builder arguments the recipe needs on this dataset
            (e.g. `padding="same"` for 8x8 digits); the user's win.
        reference: the paper or example the recipe follows, and where it
            departs from it.
        expected: an `Expected` result, or None when nobody measured one.
        minutes: `{CPU kind: minutes}`: the wall time of `keras-zoo train`
            with the recipe's defaults, measured on each kind of CPU
            (`CPU_KINDS`) where the time depends on it; None when not
            measured. It describes machines, not training, so it is left out
            of `to_dict` (a run's `config.json`).
    """

    batch_size: int
    epochs: int
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    schedule: str = "constant"
    warmup_steps: float = 0
    decay_steps: tuple = ()
    decay_rate: float = 0.1
    final_learning_rate: float = 0.0
    weight_decay: float = 0.0
    weight_decay_type: str = "decoupled"
    clipnorm: float = None
    label_smoothing: float = 0.0
    ema_momentum: float = 0.0
    mask_rate: float = 0.15
    augment: tuple = ()
    translate: int = 4
    image_size: int = None
    model_args: dict = None
    reference: str = ""
    expected: Expected = None
    minutes: dict = None

    def __post_init__(self):
        _check_recipe(self)
        if not self.model_args:  # {} and None mean the same: none
            object.__setattr__(self, "model_args", None)

    def to_dict(self):
        """Returns the recipe as a JSON-ready dict (as stored in `config.json`), less `minutes`."""
        result = dataclasses.asdict(self)
        del result["minutes"]  # the machine's, not the run's: a rerun elsewhere resumes
        result["decay_steps"] = list(self.decay_steps)
        result["augment"] = list(self.augment)
        result["model_args"] = dict(self.model_args) if self.model_args else None
        if self.image_size is None:  # as run folders written before the field have it
            del result["image_size"]
        return result

    def replace(self, **changes):
        """Returns a copy with `changes`, each checked like a user override."""
        return override(self, changes)

    def total_steps(self, steps_per_epoch):
        """Optimizer steps of the whole run."""
        return self.epochs * steps_per_epoch


_FIELDS = {field.name: field for field in dataclasses.fields(TrainingRecipe)}
# What an override of each field must be, for error messages and CLI parsing.
_KINDS = {
    "batch_size": int, "epochs": int, "optimizer": str, "learning_rate": float,
    "momentum": float, "nesterov": bool, "beta_1": float, "beta_2": float, "schedule": str,
    "warmup_steps": float, "decay_steps": tuple, "decay_rate": float,
    "final_learning_rate": float, "weight_decay": float, "weight_decay_type": str,
    "clipnorm": float, "label_smoothing": float, "ema_momentum": float, "mask_rate": float,
    "augment": tuple, "translate": int, "image_size": int,
    "model_args": dict, "reference": str, "expected": Expected, "minutes": dict,
}
_KIND_WORDS = {int: "an int", float: "a number", str: "a string", bool: "a bool", dict: "a dict",
               tuple: "a tuple", Expected: "an Expected (or a dict of its fields)"}


def _fail(field, value, accepted):
    raise InvalidArgumentError(
        f"Recipe field `{field}` must be {accepted}. Received: {field}={value!r}"
    )


def _check_recipe(r):
    for name in ("batch_size", "epochs"):
        value = getattr(r, name)
        if not is_integer(value) or value < 1:
            _fail(name, value, "a positive int")
    for name, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                          ("weight_decay_type", WEIGHT_DECAY_TYPES)):
        if getattr(r, name) not in choices:
            _fail(name, getattr(r, name), f"one of {', '.join(choices)}")
    for name in ("learning_rate", "momentum", "beta_1", "beta_2", "decay_rate",
                 "final_learning_rate", "weight_decay", "label_smoothing", "ema_momentum",
                 "warmup_steps"):
        value = getattr(r, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                or not math.isfinite(value):
            _fail(name, value, "a non-negative number")
    if r.learning_rate <= 0:
        _fail("learning_rate", r.learning_rate, "a positive number")
    if r.clipnorm is not None and (isinstance(r.clipnorm, bool) or not isinstance(
            r.clipnorm, (int, float)) or r.clipnorm <= 0):
        _fail("clipnorm", r.clipnorm, "a positive number or None")
    if not r.label_smoothing < 1:
        _fail("label_smoothing", r.label_smoothing, "a number in [0, 1)")
    if not r.ema_momentum < 1:
        _fail("ema_momentum", r.ema_momentum, "a number in [0, 1)")
    if isinstance(r.mask_rate, bool) or not isinstance(r.mask_rate, (int, float)) \
            or not 0 < r.mask_rate < 1:
        _fail("mask_rate", r.mask_rate, "a number in (0, 1)")
    if not isinstance(r.augment, tuple) or any(a not in AUGMENTATIONS for a in r.augment):
        _fail("augment", r.augment, f"a tuple of {', '.join(AUGMENTATIONS)}")
    if not isinstance(r.decay_steps, tuple) or any(
            not is_integer(s) or s < 1 for s in r.decay_steps) \
            or list(r.decay_steps) != sorted(set(r.decay_steps)):
        _fail("decay_steps", r.decay_steps, "an increasing tuple of positive ints")
    if r.schedule == "step" and not r.decay_steps:
        _fail("decay_steps", r.decay_steps, "non-empty for schedule='step'")
    if r.schedule == "step" and r.warmup_steps:
        _fail("warmup_steps", r.warmup_steps, "0 for schedule='step' (warm-up is for "
              "'constant' and 'cosine')")
    if not is_integer(r.translate) or r.translate < 0:
        _fail("translate", r.translate, "a non-negative int (pixels)")
    if r.image_size is not None and (not is_integer(r.image_size) or r.image_size < 1):
        _fail("image_size", r.image_size, "a positive int (pixels of the square side) or None")
    if r.model_args is not None and not isinstance(r.model_args, dict):
        _fail("model_args", r.model_args, "a dict of builder arguments or None")
    if r.expected is not None and not isinstance(r.expected, Expected):
        _fail("expected", r.expected, _KIND_WORDS[Expected])
    if r.minutes is not None and (not isinstance(r.minutes, dict) or any(
            kind not in CPU_KINDS or isinstance(m, bool) or not isinstance(m, (int, float))
            or not m > 0 for kind, m in r.minutes.items())):
        _fail("minutes", r.minutes, f"a dict of CPU kind ({', '.join(CPU_KINDS)}) to "
              "positive minutes, or None")


def override(base, changes):
    """Returns `base` with `changes` (a dict of field -> value), each checked.

    Unknown fields are refused with the accepted list; lists are taken as
    tuples, an `expected` dict as an `Expected`.

    Raises:
        InvalidArgumentError: an unknown field, or a value of the wrong type.
    """
    if changes is None:
        return base
    if not isinstance(changes, dict):
        raise InvalidArgumentError(
            "`recipe` must be a dict of recipe fields to override, or a TrainingRecipe. "
            f"Received: recipe={changes!r}"
        )
    clean = {}
    for key, value in changes.items():
        if key not in _FIELDS:
            raise InvalidArgumentError(
                f"A training recipe has no field {key!r}. Received: {key}={value!r}. "
                f"Accepted: {', '.join(_FIELDS)}."
            )
        kind = _KINDS[key]
        if kind is tuple and isinstance(value, list):
            value = tuple(value)
        elif kind is tuple and isinstance(value, str):
            value = tuple(v for v in value.split(",") if v) if value else ()
        elif kind is Expected and isinstance(value, dict):
            try:
                value = Expected(**value)
            except TypeError:
                _fail(key, value, _KIND_WORDS[kind])
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        nullable = key in ("clipnorm", "expected", "model_args", "minutes")
        if not (value is None and nullable):
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if not ok:
                _fail(key, value, _KIND_WORDS[kind])
        clean[key] = value
    return dataclasses.replace(base, **clean)


def from_dict(values):
    """Rebuilds a recipe from `TrainingRecipe.to_dict()` output (e.g. `config.json`)."""
    base = TrainingRecipe(batch_size=1, epochs=1)
    return override(base, dict(values))


_RECIPES = {}
_FINE_TUNING = {}  # (model, dataset, weights name): the recipe of a fine-tune from those weights


def register_recipe(model, dataset, recipe, *, weights=None):
    """Registers `recipe` for `(model, dataset)`; model `"*"` is the dataset's generic one.

    With `weights` (a registered weights name of `model`), the recipe is the
    one for fine-tuning from those weights (`fit(model, dataset,
    weights=weights)`), which is often gentler than training from scratch.
    """
    if not isinstance(recipe, TrainingRecipe):
        raise TypeError(f"recipe must be a TrainingRecipe. Received: {recipe!r}")
    table, key = (_RECIPES, (model, dataset)) if weights is None else (
        _FINE_TUNING, (model, dataset, weights))
    if key in table:
        raise ValueError(f"A recipe for {key} is already registered.")
    table[key] = recipe
    return recipe


def recipe(model, dataset, *, kind=None, weights=None, **overrides):
    """Returns the training recipe of a model on a dataset.

    The recipe registered for `(model, dataset)` and `weights` (a fine-tune
    from those registered weights), else for `(model, dataset)`, else the
    dataset's generic recipe; for data the zoo has no recipes for (`dataset`
    None: a tfds catalogue name, the user's own data), the generic recipe of
    its `kind`. `overrides` replace fields (checked: unknown fields and wrong
    types are refused with the accepted list).

    Args:
        model: a registered model name, or None for the dataset's generic
            recipe.
        dataset: a dataset name, or None for data of `kind`.
        kind: the data's kind (`keras_zoo.data.KINDS`), with `dataset` None.
        weights: the registered weights name a fine-tune starts from, or
            None (from scratch, or weights without a recipe of their own).
        **overrides: recipe fields to change, e.g. `epochs=5`.

    Returns:
        A frozen `TrainingRecipe`.

    Example:

    >>> recipe("resnet20", "cifar10").optimizer
    'sgd'
    """
    _load_recipes()
    if dataset is None:
        dataset = kind_key(kind)
    if (GENERIC, dataset) not in _RECIPES:
        datasets = sorted({d for _, d in _RECIPES})
        raise unknown_name("dataset", dataset, datasets)
    if model is not None:
        from keras_zoo.models import registry

        registry.model_info(model)  # unknown names fail with suggestions
    found = _FINE_TUNING.get((model, dataset, weights)) or _RECIPES.get(
        (model, dataset), _RECIPES[(GENERIC, dataset)])
    return override(found, overrides)


def kind_key(kind):
    """The dataset key of the generic recipes for any data of `kind`, e.g. `"*image"`."""
    return f"{GENERIC}{kind}"


def registered_recipes():
    """Returns `{(model, dataset): TrainingRecipe}` of every registered recipe."""
    _load_recipes()
    return dict(_RECIPES)


def _load_recipes():
    pass


def describe(r, model=None, dataset=None):
    """Returns the recipe as aligned `field: value` lines, for the CLI."""
    head = f"Recipe for {model} on {dataset}" if model else "Recipe"
    lines = [head]
    width = max(len(name) for name in _FIELDS)
    for name in _FIELDS:
        value = getattr(r, name)
        if name == "expected" and value is not None:
            arrow = ">=" if value.higher_is_better else "<="
            bound = value.value - value.tolerance if value.higher_is_better \
                else value.value + value.tolerance
            value = f"{value.metric} {arrow} {bound:g} ({value.source})"
        if name == "minutes" and value:
            value = ", ".join(f"{m:g} on {kind}" for kind, m in value.items()) + (
                " (wall minutes of `keras-zoo train` with these defaults, by CPU kind)")
        lines.append(f"  {name:<{width}}  {value}")
    return "\n".join(lines)


def learning_rate(r, steps_per_epoch):
    """Returns the recipe's learning rate: a float or a Keras schedule.

    Args:
        r: a `TrainingRecipe`.
        steps_per_epoch: optimizer steps per epoch, to size cosine decay
            and fractional warm-up.
    """
    import keras

    total = max(1, r.total_steps(steps_per_epoch))
    warmup = r.warmup_steps
    if 0 < warmup < 1:
        warmup = warmup * total
    warmup = int(round(warmup))
    if r.schedule == "step":
        values = [r.learning_rate * r.decay_rate**i for i in range(len(r.decay_steps) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(list(r.decay_steps), values)
    if r.schedule == "constant" and not warmup:
        return r.learning_rate
    # Keras's cosine decay has the linear warm-up; alpha=1 keeps the rate
    # constant after it.
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else r.learning_rate, max(1, total - warmup),
        alpha=1.0 if r.schedule == "constant" else r.final_learning_rate,
        warmup_target=r.learning_rate if warmup else None, warmup_steps=warmup)


def make_optimizer(r, steps_per_epoch, average=False):
    """Returns the Keras optimizer the recipe describes.

    Decoupled weight decay goes to the optimizer (`AdamW`, or `weight_decay`
    of SGD/Adam, which Keras applies decoupled); L2 decay is added to the
    model's kernels by `apply_l2`, not here. With `average`, the optimizer
    keeps the recipe's moving average of the weights (`ema_momentum`).
    """
    import keras

    rate = learning_rate(r, steps_per_epoch)
    decay = r.weight_decay if r.weight_decay_type == "decoupled" and r.weight_decay else None
    common = {"learning_rate": rate, "global_clipnorm": r.clipnorm}
    if average and r.ema_momentum:
        common.update(use_ema=True, ema_momentum=r.ema_momentum)
    if r.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=r.momentum, nesterov=r.nesterov,
                                    weight_decay=decay, **common)
    if r.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=decay or 0.0, beta_1=r.beta_1,
                                      beta_2=r.beta_2, **common)
    return keras.optimizers.Adam(beta_1=r.beta_1, beta_2=r.beta_2, weight_decay=decay, **common)


def apply_l2(model, weight_decay):
    """Adds the L2 penalty `weight_decay / 2 * |w|^2` on every kernel of `model`.

    The gradient then gains `weight_decay * w`, the "weight decay" of He et
    al. 2015 and of Caffe/Torch SGD. Biases, BatchNorm and embeddings are
    not decayed (He et al. decay conv and Dense kernels).
    """
    import keras

    if not weight_decay:
        return model
    penalty = keras.regularizers.L2(weight_decay / 2)
    for layer in model._flatten_layers(include_self=False):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and not isinstance(layer, keras.layers.Embedding) \
                and getattr(kernel, "regularizer", None) is None:
            kernel.regularizer = penalty
    return model

