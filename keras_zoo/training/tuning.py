"""Hyper-parameter search on keras-tuner, scored on the validation split only.

Each trial is an ordinary zoo training run (`plan_fit` then `execute`, the recipe
with the trial's values as overrides) on the training split, scored on the
validation split; the test split is never read during the search. The best
trial is then refitted with the recipe's full schedule and tested once.

```python
import keras_zoo as kz

result = kz.tune("mlp", "digits", trials=20, epochs=5, output_dir="runs/tune-mlp")
result.best_values        # {'learning_rate': 0.0041, 'dropout': 0.1, ...}
result.metrics            # the refitted best configuration on the test split
```

The run folder holds:

- `tuning.json`: the search's settings (checked when a run resumes);
- `search/`: keras-tuner's oracle state and one `trial_*/trial.json` per
  trial, so a killed search resumes where it stopped;
- `trials.csv`, `trials.json`: every trial's values, status and score;
- `scores.png`: the validation score per trial and the best so far;
- `best_config.json`: the best configuration, for
  `keras-zoo train --config FILE`;
- `best/`: the refitted run (config, history, model, test metrics);
- `summary.json`: best values, validation score, test metrics.

Distributed search uses keras-tuner's own protocol: start the same command
in several processes with `KERASTUNER_TUNER_ID` (`chief` for one,
`tuner0`, `tuner1`, ... for the others), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT`, all with the same `output_dir` on a shared
file system. The chief holds the oracle, serves trials, then refits the
best; workers run trials.
"""

import dataclasses
import json
import math
import os
import random
import tempfile

from keras_zoo import recipes, runs
from keras_zoo.errors import (
    InvalidArgumentError,
    ZooError,
    check_int,
    check_positive_int,
)
from keras_zoo.models import registry
from keras_zoo.runs import plots
from keras_zoo.training.loop import execute, fit, op_determinism_scoped, prepare_data
from keras_zoo.training.plan import plan_fit, resolve_verbose

ALGORITHMS = ("random", "bayesian", "hyperband")
TUNING = "tuning.json"
SEARCH = "search"
TRIALS_CSV = "trials.csv"
TRIALS_JSON = "trials.json"
SCORES = "scores.png"
BEST_CONFIG = "best_config.json"
BEST = "best"
SUMMARY = "summary.json"
# Builder arguments that the dataset decides; a search cannot change them.
_DATASET_ARGS = ("input_shape", "num_classes", "vocab_size", "sequence_length",
                 "output_length")
# Recipe fields that are not hyper-parameters.
_NOT_TUNABLE = ("model_args", "reference", "expected")


@dataclasses.dataclass
class TuneResult:
    """What `tune` returns.

    Attributes:
        best_values: `{name: value}` of the best trial (the search space's
            names; tuples for tuple knobs such as `hidden_units`).
        best_score: the best trial's objective on the validation split.
        recipe: the refit's `TrainingRecipe` (the best values applied).
        model_args: the refit's builder arguments given to `fit`.
        trials: one dict per trial: `trial_id`, `status`, `score`, values.
        fit: the refit's `FitResult`; None on a distributed worker.
        metrics: the refit's test metrics (`fit.metrics`); None on a worker.
        output_dir: the tuning folder, or None.
    """

    best_values: dict
    best_score: float
    recipe: object
    model_args: dict
    trials: list
    fit: object = None
    metrics: dict = None
    output_dir: str = None


# --- Search spaces ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Param:
    """One hyper-parameter: a choice, a range, or a fixed value."""

    name: str
    target: str  # "recipe" or "model"
    values: tuple = None  # a choice
    low: float = None  # a range
    high: float = None
    sampling: str = "linear"
    step: float = None
    integer: bool = False
    fixed: object = None

    def to_json(self):
        if self.values is not None:
            return [_jsonable(v) for v in self.values]
        if self.low is not None:
            spec = {"min": self.low, "max": self.high, "sampling": self.sampling}
            if self.step is not None:
                spec["step"] = self.step
            return spec
        return _jsonable(self.fixed)

    def declare(self, hp):
        """Declares this parameter on a keras-tuner `HyperParameters`."""
        if self.values is not None:
            encoded = [_encode(v) for v in self.values]
            hp.Choice(self.name, encoded, ordered=False if isinstance(encoded[0], str)
                      else None)
        elif self.low is not None and self.integer:
            hp.Int(self.name, int(self.low), int(self.high), step=self.step and int(self.step),
                   sampling=self.sampling)
        elif self.low is not None:
            hp.Float(self.name, float(self.low), float(self.high), step=self.step,
                     sampling=self.sampling)
        else:
            hp.Fixed(self.name, _encode(self.fixed))

    def decode(self, value):
        return _decode(value) if isinstance(value, str) and value.startswith("json:") else value


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _encode(value):
    """keras-tuner takes int, float, str and bool values; tuples travel as JSON text."""
    if isinstance(value, (tuple, list)):
        return "json:" + json.dumps(list(value))
    return value


def _decode(value):
    return tuple(json.loads(value[len("json:"):]))


def default_space(name, dataset, recipe=None):
    """Returns the default search space of a model on a dataset.

    From the recipe: the learning rate, log-uniform over a tenth to ten
    times the recipe's; weight decay, log-uniform over a tenth to ten times
    the recipe's (a choice of 0, 1e-4, 1e-3, 1e-2 when it has none). From
    the model's registered knobs, those it has: `dropout` in [0, 0.5] by
    0.1; widths (`hidden_units`, `filters`, `width`, `units`,
    `embedding_dim`, `embed_dim`, `ff_dim`) at half, the default and twice;
    for `hidden_units` also one to three layers; `num_layers` one less, the
    default and one more.

    Args:
        name: a registered model name.
        dataset: a dataset name.
        recipe: the base `TrainingRecipe`; None for `kz.recipe(name, dataset)`.

    Returns:
        A dict in the format `tune(space=...)` takes.

    Example:

    >>> default_space("mlp", "digits")["learning_rate"]
    {'min': 0.0003, 'max': 0.03, 'sampling': 'log'}
    """

    info = registry.model_info(name)
    base = recipe if recipe is not None else recipes.recipe(name, dataset)
    space = {"learning_rate": {"min": _round(base.learning_rate / 10),
                               "max": _round(base.learning_rate * 10), "sampling": "log"}}
    if base.weight_decay:
        space["weight_decay"] = {"min": _round(base.weight_decay / 10),
                                 "max": _round(base.weight_decay * 10), "sampling": "log"}
    else:
        space["weight_decay"] = [0.0, 1e-4, 1e-3, 1e-2]
    knobs = dict(info.defaults)
    knobs.update(base.model_args or {})
    if isinstance(knobs.get("dropout"), float):
        space["dropout"] = {"min": 0.0, "max": 0.5, "step": 0.1}
    heads = knobs.get("num_heads") if isinstance(knobs.get("num_heads"), int) else 1
    for knob in ("width", "units", "embedding_dim", "embed_dim", "ff_dim"):
        value = knobs.get(knob)
        if isinstance(value, int) and not isinstance(value, bool):
            multiple = heads if knob == "embed_dim" else 1  # attention splits it over heads
            choices = sorted({max(multiple, value // 2 // multiple * multiple), value, value * 2})
            space[knob] = choices
    filters = knobs.get("filters")
    if isinstance(filters, tuple) and info.family == "cnn":
        space["filters"] = [tuple(max(1, f // 2) for f in filters), filters,
                            tuple(f * 2 for f in filters)]
    units = knobs.get("hidden_units")
    if isinstance(units, tuple) and units:
        widths = sorted({max(1, units[0] // 4), max(1, units[0] // 2), units[0]})
        space["hidden_units"] = [(w,) * depth for depth in (1, 2, 3) for w in widths]
    layers = knobs.get("num_layers")
    if isinstance(layers, int) and not isinstance(layers, bool):
        space["num_layers"] = sorted({max(1, layers - 1), layers, layers + 1})
    return space


def _round(value):
    return float(f"{value:.3g}")


def _space_error(key, value, accepted):
    raise InvalidArgumentError(
        f"Search space entry {key!r} must be {accepted}. Received: {key}={value!r}"
    )


def parse_space(space, name, dataset, base):
    """Checks a search space and returns its `_Param`s.

    Args:
        space: `{name: spec}`, each name a training-recipe field (e.g.
            `learning_rate`) or a builder argument of the model (e.g.
            `dropout`); each spec a list of choices, a range
            `{"min": a, "max": b, "sampling": "linear"|"log", "step": s}`
            (integers when `min`, `max` and `step` are ints), or a fixed
            value.
        name, dataset: the model and dataset.
        base: the base `TrainingRecipe`.

    Raises:
        InvalidArgumentError: an unknown name, an empty or mixed choice, a
            bad range, or a value the recipe or the builder refuses.
    """

    if not isinstance(space, dict) or not space:
        raise InvalidArgumentError(
            "`space` must be a non-empty dict {name: [choices] | {'min': a, 'max': b, "
            "'sampling': 'linear'|'log', 'step': s} | value}. "
            f"Received: space={space!r}"
        )
    info = registry.model_info(name)
    recipe_fields = [f for f in recipes.TrainingRecipe.__dataclass_fields__
                     if f not in _NOT_TUNABLE]
    knobs = [k for k in info.defaults if k not in _DATASET_ARGS]
    params = []
    for key, spec in space.items():
        if key in recipe_fields:
            target = "recipe"
        elif key in knobs:
            target = "model"
        else:
            raise InvalidArgumentError(
                f"Search space entry {key!r} is neither a training-recipe field nor an "
                f"argument of model {name!r}. Received: {key}={spec!r}. Accepted: recipe "
                f"fields {', '.join(recipe_fields)}; model arguments {', '.join(knobs)}."
            )
        if isinstance(spec, list):
            if not spec:
                _space_error(key, spec, "a non-empty list of choices")
            values = [tuple(v) if isinstance(v, list) else v for v in spec]
            if len({json.dumps(_jsonable(v)) for v in values}) != len(values):
                _space_error(key, spec, "a list of distinct choices")
            kinds = {bool if isinstance(v, bool) else (float if isinstance(v, int) else type(v))
                     for v in values}
            if len(kinds) != 1 or not kinds <= {bool, float, str, tuple}:
                _space_error(key, spec, "a list of choices of one type (numbers, strings, "
                             "bools or tuples)")
            if kinds == {float} and any(isinstance(v, float) for v in values):
                values = [float(v) for v in values]  # keras-tuner wants one type
            param = _Param(key, target, values=tuple(values))
            candidates = values
        elif isinstance(spec, dict):
            unknown = set(spec) - {"min", "max", "sampling", "step"}
            low, high = spec.get("min"), spec.get("max")
            sampling, step = spec.get("sampling", "linear"), spec.get("step")
            numbers = [v for v in (low, high, step) if v is not None]
            if unknown or low is None or high is None or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                    for v in numbers):
                _space_error(key, spec, "a range {'min': a, 'max': b} of finite numbers, "
                             "optionally with 'sampling' and 'step'")
            if not low < high:
                _space_error(key, spec, "a range with min < max")
            if sampling not in ("linear", "log"):
                _space_error(key, spec, "a range whose sampling is 'linear' or 'log'")
            if sampling == "log" and low <= 0:
                _space_error(key, spec, "a log range with min > 0")
            if step is not None and step <= 0:
                _space_error(key, spec, "a range with a positive step")
            integer = all(isinstance(v, int) for v in numbers)
            param = _Param(key, target, low=low, high=high, sampling=sampling, step=step,
                           integer=integer)
            candidates = [low, high]
        else:
            param = _Param(key, target, fixed=tuple(spec) if isinstance(spec, tuple) else spec)
            candidates = [param.fixed]
        for value in candidates:  # the recipe and the registry check each value's type
            try:
                if target == "recipe":
                    recipes.override(base, {key: value})
                else:
                    registry.check_overrides(name, {key: value})
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"Search space entry {key!r}: {e}") from None
        params.append(param)
    return params


# --- The search -----------------------------------------------------------------------------


def _objective(objective, task):
    """The keras-tuner `Objective`; only validation metrics of the task are accepted."""
    import keras_tuner

    names = ["loss", "accuracy"]
    if task == "seq2seq":
        names.append("exact_match")
    if task == "language_modeling":
        names += ["bits_per_char", "bits_per_token"]  # masked LM: loss and accuracy
    accepted = [f"val_{n}" for n in names]
    if objective not in accepted:
        raise InvalidArgumentError(
            "`objective` must be a validation metric (the search never reads the test "
            f"split): one of {', '.join(accepted)}. Received: objective={objective!r}"
        )
    lower = "loss" in objective or "bits_per" in objective
    return keras_tuner.Objective(objective, "min" if lower else "max")


def _oracle(algorithm, objective, trials, epochs, seed, hp):
    import keras_tuner

    common = dict(objective=objective, seed=seed, hyperparameters=hp)
    if algorithm == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=trials, **common)
    if algorithm == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=trials, **common)
    # Hyperband (Li et al. 2018): successive halving over `epochs`; capped at `trials`.
    oracle = keras_tuner.oracles.HyperbandOracle(max_epochs=epochs, factor=3, **common)
    oracle.max_trials = trials
    return oracle


def _tuner_class():
    import keras_tuner

    class ZooTuner(keras_tuner.engine.base_tuner.BaseTuner):
        """Runs each trial through `run` (values -> validation metrics)."""

        def __init__(self, oracle, run, **kwargs):
            self._run = run
            super().__init__(oracle=oracle, **kwargs)

        def run_trial(self, trial, *args, **kwargs):
            from keras_zoo.training.callbacks import TrainingDivergedError

            try:
                return self._run(trial.hyperparameters.values)
            except TrainingDivergedError as e:  # too high a rate: this trial fails, not the search
                raise keras_tuner.errors.FailedTrialError(str(e)) from e
            except ZooError as e:  # a value the builder refuses: one clear error
                error = keras_tuner.errors.FatalError(str(e))
                error.zoo_error = e
                raise error from e

        def save_model(self, trial_id, model, step=0):
            pass  # trials keep no weights: the best is refitted

        def load_model(self, trial):
            raise NotImplementedError("trials keep no weights; the best is refitted")

    return ZooTuner


def _best_epoch(history, objective):
    """The validation metrics of the epoch best for `objective` (keras-tuner's convention)."""
    values = history.get(objective.name)
    if not values:
        raise InvalidArgumentError(
            f"The trial reported no {objective.name!r}; it has "
            f"{', '.join(k for k in history if k.startswith('val_'))}. "
            f"Received: objective={objective.name!r}"
        )
    pick = min if objective.direction == "min" else max
    epoch = values.index(pick(values))
    return {k: float(v[epoch]) for k, v in history.items() if k.startswith("val_")}


def _check_folder(output_dir, settings, overwrite):
    """Checks `output_dir` holds no other search; returns whether it resumes one."""

    path = os.path.join(output_dir, TUNING)
    if overwrite or not os.path.exists(path):
        return False
    try:
        saved = runs.read_json(path)
    except ValueError:
        saved = None
    if saved != json.loads(json.dumps(settings)):
        raise InvalidArgumentError(
            f"{output_dir} holds a tuning run with other settings ({path}); rerun the same "
            "call to resume it, pass overwrite=True (CLI --overwrite) to start again, or use "
            f"another folder. Received: output_dir={output_dir!r}"
        )
    return True


@op_determinism_scoped
def tune(name, dataset, space=None, *, trials=10, algorithm="random",
         objective="val_accuracy", epochs=None, output_dir=None, seed=None, recipe=None,
         model_args=None, data_dir=None, refit=True, overwrite=False, verbose="auto"):
    """Searches hyper-parameters of a zoo model on keras-tuner, then refits the best.

    Every trial trains the model on the training split with the recipe plus
    the trial's values, for `epochs` epochs, and is scored on the
    validation split; the best trial is refitted with the whole recipe
    (its own epochs and schedule) and evaluated once on the test split.

    Args:
        name: a registered model name (not a GAN: it has no validation score).
        dataset: a dataset name.
        space: `{name: spec}`; None for `default_space(name, dataset)`. See
            `parse_space` for the format, e.g.
            `{"learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
            "hidden_units": [[64], [128, 128]]}`.
        trials: number of trials (configurations tried).
        algorithm: `"random"`, `"bayesian"` (Gaussian process) or
            `"hyperband"` (successive halving up to `epochs` epochs a trial;
            each trial trains from scratch).
        objective: a validation metric, e.g. `"val_accuracy"`, `"val_loss"`.
        epochs: epochs per trial; None for the recipe's.
        output_dir: the tuning folder (see the module docstring); a rerun
            with the same arguments resumes the search. None: a temporary
            folder, deleted at the end.
        seed: seed of the search and of every trial's training (each trial
            starts from the same seed); None draws one (recorded).
        recipe: training-recipe fields overriding the registered recipe, for
            the trials and the refit (e.g. `{"epochs": 10}`).
        model_args: builder arguments overriding the defaults.
        data_dir: tfds data folder.
        refit: refit the best configuration and test it (False: search only).
        overwrite: start again in an `output_dir` that holds a search.
        verbose: as for `fit`; trials train silently, keras-tuner reports each.

    Returns:
        A `TuneResult`.

    Raises:
        InvalidArgumentError: a bad search space (one error naming the entry,
            what was received and what is accepted), algorithm, objective,
            or an `output_dir` holding another search.

    Example:

    >>> result = tune("mlp", "digits", trials=20, epochs=5, output_dir="runs/tune")
    >>> result.best_values, result.metrics["accuracy"]
    """
    import keras_tuner


    trials = check_positive_int(trials, "trials")
    epochs = check_positive_int(epochs, "epochs", allow_none=True)
    if algorithm not in ALGORITHMS:
        raise InvalidArgumentError(
            f"`algorithm` must be one of {', '.join(ALGORITHMS)}. Received: algorithm={algorithm!r}"
        )
    distributed = "KERASTUNER_ORACLE_IP" in os.environ  # keras-tuner's own switch
    if seed is None and distributed:
        raise InvalidArgumentError(
            "Distributed tuning needs the same `seed` in every process (CLI --seed), so that "
            "all trials start alike. Received: seed=None")
    seed = check_int(seed, "seed", minimum=0, allow_none=True)
    if seed is None:
        seed = random.randrange(2**31)
    info = registry.model_info(name)
    if info.task == "image_generation":
        raise InvalidArgumentError(
            f"{name} is a GAN: it has no validation score to tune on. Received: name={name!r}"
        )
    verbose = resolve_verbose(verbose)
    base = recipes.recipe(name, dataset)
    base = recipes.override(base, recipe)
    epochs = epochs or base.epochs
    if space is None:
        space = default_space(name, dataset, base)
    params = parse_space(space, name, dataset, base)
    if algorithm == "hyperband" and any(p.name == "epochs" for p in params):
        raise InvalidArgumentError(
            "Hyperband chooses each trial's epochs itself; remove 'epochs' from the space or "
            "use algorithm='random' or 'bayesian'. Received: space['epochs']")
    goal = _objective(objective, info.task)
    by_name = {p.name: p for p in params}

    temporary = output_dir is None
    output_dir = tempfile.mkdtemp(prefix="keras_zoo_tune_") if temporary \
        else os.fspath(output_dir)
    settings = {"model": name, "dataset": dataset, "algorithm": algorithm,
                "objective": objective, "trials": trials, "epochs": epochs, "seed": seed,
                "recipe": recipe or None, "model_args": model_args or None,
                "space": {p.name: p.to_json() for p in params}, "data_dir": data_dir}
    chief = not distributed or "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")
    resuming = False
    if chief:
        resuming = _check_folder(output_dir, settings, overwrite)
        os.makedirs(output_dir, exist_ok=True)
        runs.write_json(os.path.join(output_dir, TUNING), settings)
    else:
        os.makedirs(output_dir, exist_ok=True)

    prepared_by_batch = {}

    def values_of(hp_values):
        """Trial values -> (recipe overrides, model_args), decoded."""
        recipe_values, model_values = {}, {}
        for key, value in hp_values.items():
            if key.startswith("tuner/") or key not in by_name:
                continue
            target = recipe_values if by_name[key].target == "recipe" else model_values
            target[key] = by_name[key].decode(value)
        return recipe_values, model_values

    def run(hp_values):
        recipe_values, model_values = values_of(hp_values)
        trial_epochs = hp_values.get("tuner/epochs", recipe_values.pop("epochs", epochs))
        plan = plan_fit(
            name, dataset, epochs=trial_epochs,
            recipe={**(recipe or {}), **recipe_values},
            model_args={**(model_args or {}), **model_values},
            seed=seed, data_dir=data_dir, verbose=0)
        key = (plan.recipe.batch_size, plan.recipe.augment, plan.recipe.translate)
        if key not in prepared_by_batch:
            prepared = prepare_data(plan, with_test=False)
            # The validation split stands in for the test split: `execute`
            # tests the kept epoch on it, so the test split is never read.
            prepared_by_batch[key] = dataclasses.replace(prepared, test=prepared.validation)
        # Every trial starts from the same weights' seed (`execute` sets it).
        return _best_epoch(execute(plan, prepared_by_batch[key]).history, goal)

    hp = keras_tuner.HyperParameters()
    for param in params:
        param.declare(hp)
    tuner = _tuner_class()(
        _oracle(algorithm, goal, trials, epochs, seed, hp), run,
        # A worker never clears the shared folder; the chief does.
        directory=output_dir, project_name=SEARCH, overwrite=overwrite and chief)
    if verbose and resuming:
        print(f"Resuming the search in {output_dir}")
    try:
        tuner.search(verbose=verbose)
    except keras_tuner.errors.FatalError as e:
        if getattr(e, "zoo_error", None) is not None:
            raise e.zoo_error from None
        raise

    if not chief:  # a distributed worker: the chief reports and refits
        return TuneResult(best_values=None, best_score=None, recipe=None, model_args=None,
                          trials=[], output_dir=None if temporary else output_dir)
    rows = _trial_rows(tuner.oracle, goal, by_name)
    finished = [r for r in rows if r["score"] is not None]
    if not finished:
        raise RuntimeError(f"No trial finished; see the trials in {output_dir}/{SEARCH}.")
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_recipe_values, best_model_values = values_of(best_trial.hyperparameters.values)
    best_values = {**best_recipe_values, **best_model_values}
    refit_recipe = {**(recipe or {}), **best_recipe_values}
    refit_args = {**(model_args or {}), **best_model_values}
    resolved = recipes.override(base, best_recipe_values)
    best_score = float(best_trial.score)
    _write_reports(output_dir, rows, goal, name, dataset, resolved, refit_args, seed)
    fit_result = None
    if refit:
        fit_result = fit(
            name, dataset, recipe=refit_recipe, model_args=refit_args or None, seed=seed,
            data_dir=data_dir, output_dir=None if temporary else os.path.join(output_dir, BEST),
            overwrite=overwrite, verbose=verbose)
    summary = {"best_values": {k: _jsonable(v) for k, v in best_values.items()},
               "best_trial": best_trial.trial_id, objective: best_score,
               "test": fit_result.metrics if fit_result else None}
    runs.write_json(os.path.join(output_dir, SUMMARY), summary)
    result = TuneResult(
        best_values=best_values, best_score=best_score, recipe=resolved,
        model_args=refit_args, trials=rows, fit=fit_result,
        metrics=fit_result.metrics if fit_result else None,
        output_dir=None if temporary else output_dir)
    if temporary:
        import shutil

        shutil.rmtree(output_dir, ignore_errors=True)
    return result


def _trial_rows(oracle, goal, by_name):
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        row = {"trial_id": trial_id, "status": trial.status,
               "score": None if trial.score is None else float(trial.score)}
        for key in by_name:
            if key in values:
                row[key] = _jsonable(by_name[key].decode(values[key]))
        if "tuner/epochs" in values:
            row["epochs"] = values["tuner/epochs"]
        for metric in ("val_loss", "val_accuracy"):
            if metric != goal.name and trial.metrics.exists(metric):
                row[metric] = float(trial.metrics.get_best_value(metric))
        rows.append(row)
    return rows


def _write_reports(output_dir, rows, goal, name, dataset, resolved, model_args, seed):
    import csv
    import io


    runs.write_json(os.path.join(output_dir, TRIALS_JSON), rows)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v
                         for k, v in row.items()})
    runs.atomic_write_text(os.path.join(output_dir, TRIALS_CSV), text.getvalue())
    plots.plot_trials([r["score"] for r in rows], os.path.join(output_dir, SCORES),
                      goal.name, higher_is_better=goal.direction == "max")
    # What `keras-zoo train --config` reads (cli._fill_from_config): the model,
    # dataset, builder arguments and the whole recipe.
    recipe = resolved.to_dict()
    config = {"model": name, "dataset": dataset, "model_args": model_args or None,
              "epochs": recipe.pop("epochs"), "batch_size": recipe.pop("batch_size"),
              "seed": seed, "recipe": recipe}
    runs.write_json(os.path.join(output_dir, BEST_CONFIG), config)
