"""Memory levers of `fit`: gradient accumulation and rematerialisation, through Keras.

- `accumulate=N`: the optimizer's own `gradient_accumulation_steps`. Keras
  sums the gradients of N batches and applies their mean on the N-th (with
  clipping and weight decay then), which is the step of one N times larger
  batch. Keras reads a learning-rate schedule at every batch, not every
  update; `accumulate_gradients` makes the schedule count optimizer steps.
- `remat=True`: the model is built inside a `keras.RematScope` naming its
  Transformer blocks, so each block's activations are recomputed in the
  backward pass instead of being kept (only its input is); other families
  have no blocks to recompute.
"""

import contextlib
import os

import keras

from keras_zoo.errors import InvalidArgumentError, is_integer


def check(accumulate, remat):
    """Checks `fit`'s `accumulate` and `remat`; returns them as `FitPlan` fields."""
    if accumulate is None:
        accumulate = 1
    if not is_integer(accumulate) or accumulate < 1:
        raise InvalidArgumentError(
            "`accumulate` must be a positive integer (batches per optimizer step) or None. "
            f"Received: accumulate={accumulate!r}")
    if not isinstance(remat, bool):
        raise InvalidArgumentError(f"`remat` must be True or False. Received: remat={remat!r}")
    return {"accumulate": accumulate, "remat": remat}


# The Transformer family names its blocks block_1, block_2, ...
# (`models.transformer.apply_transformer_blocks`).
_BLOCKS = [f"block_{i}" for i in range(1, 1025)]


def remat_scope(remat):
    """A `keras.RematScope` recomputing each Transformer block if `remat`, else a no-op.

    Per block, not `mode="full"`: on JAX, "full" wraps layers whose `call`
    takes a Python `training` flag (Dropout, the Functional model itself)
    in `jax.checkpoint`, which fails on it; `TransformerBlock` binds it.
    """
    if not remat:
        return contextlib.nullcontext()
    note = xla_cpu_remat_note()
    if note:
        print(note, flush=True)
    return keras.RematScope(mode="list_of_layers", layer_names=_BLOCKS)


# XLA:CPU expands `jax.checkpoint`'s optimization barriers early (this pass), after
# which common-subexpression elimination merges the recomputation into the forward
# pass: remat then saves nothing. Without the pass, gpt_baby's compiled step at
# batch 8 needs 165.1 MiB of temporaries with remat instead of 738.8 MiB, same
# gradients (measured 2026-12, JAX 0.10.2; docs/big-models.md, "Rematerialisation").
XLA_CPU_REMAT_FLAG = "--xla_disable_hlo_passes=cse_barrier_expander"


def xla_cpu_remat_note():
    """A line for `remat=True` on JAX's CPU backend without `XLA_CPU_REMAT_FLAG`, else None."""
    if keras.backend.backend() != "jax" or XLA_CPU_REMAT_FLAG in os.environ.get("XLA_FLAGS", ""):
        return None
    import jax

    if jax.default_backend() != "cpu":
        return None
    return ("Note: remat=True recomputes the Transformer blocks, but XLA:CPU merges the "
            "recomputation away and saves no memory unless JAX starts with "
            f"XLA_FLAGS={XLA_CPU_REMAT_FLAG}.")


@keras.saving.register_keras_serializable(package="keras_zoo")
class PerUpdateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule read at optimizer updates under gradient accumulation.

    Keras evaluates an optimizer's schedule at its batch counter, which
    under `gradient_accumulation_steps=N` advances N times per update; this
    passes `step // N`, the number of updates, so a schedule written in
    optimizer steps (warm-up, decay boundaries) keeps its meaning.

    Args:
        schedule: the `LearningRateSchedule` in optimizer steps.
        steps: the accumulation steps N.
    """

    def __init__(self, schedule, steps):
        self.schedule = schedule
        self.steps = int(steps)

    def __call__(self, step):
        return self.schedule(keras.ops.floor_divide(step, self.steps))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "steps": self.steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["steps"])


def accumulate_gradients(model, steps):
    """Makes a compiled model's optimizer accumulate `steps` batches per update.

    A no-op for `steps == 1`. The optimizer must not have been built (it is
    built at the first training step).

    Raises:
        InvalidArgumentError: a GAN (two optimizers), or an optimizer that
            already trained.
    """
    if steps == 1:
        return model
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not isinstance(optimizer, keras.optimizers.Optimizer):
        raise InvalidArgumentError(
            f"`accumulate` needs a model with one Keras optimizer; {model.name!r} has none "
            f"(a GAN trains two). Received: accumulate={steps}")
    if optimizer.built:
        raise InvalidArgumentError(
            "`accumulate` applies to an optimizer before its first step; this model's "
            f"optimizer has already trained. Received: accumulate={steps}")
    optimizer.gradient_accumulation_steps = steps
    schedule = optimizer._learning_rate  # Keras keeps no public setter for a schedule
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        optimizer._learning_rate = PerUpdateSchedule(schedule, steps)
    return model
