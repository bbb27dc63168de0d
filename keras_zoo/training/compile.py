"""Compile defaults per task: optimizer, loss and metrics from the training recipe."""

import keras

from keras_zoo import distribute
from keras_zoo.errors import InvalidArgumentError, unknown_name
from keras_zoo.models import registry


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
    from keras_zoo import recipes
    from keras_zoo.models import metrics as zoo_metrics

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
                  steps_per_execution=None, jit_compile=None, recipe=None,
                  steps_per_epoch=1, character_level=False):
    """Compiles `model` with the task's defaults; arguments not "auto" win.

    Args:
        model: a `keras.Model` (a `DCGAN` for `"image_generation"`).
        task: one of `registry.TASKS`.
        optimizer, loss, metrics: "auto" or anything `Model.compile` takes.
        steps_per_execution: passed to `compile`; default
            `distribute.steps_per_execution()`.
        jit_compile: passed to `compile` (not to a GAN's); default
            `distribute.jit_compile()`.
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
                  jit_compile=distribute.jit_compile() if jit_compile is None else jit_compile)
    return model


def _gan_optimizers(recipe, steps_per_epoch):
    """The GAN's two optimizers from its recipe (each a fresh one), or its defaults."""
    if recipe is None:
        return {}
    from keras_zoo import recipes

    return {"d_optimizer": recipes.make_optimizer(recipe, steps_per_epoch),
            "g_optimizer": recipes.make_optimizer(recipe, steps_per_epoch, average=True),
            "label_smoothing": recipe.label_smoothing,
            "augment": recipe.augment, "translate": recipe.translate}


