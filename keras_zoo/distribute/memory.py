"""Training memory of a model, estimated from its arguments before anything is built.

`estimate(name, ...)` counts parameters analytically from the builder's
arguments (no graph, no weights) and adds what training keeps per device:

- weights (float32 variables, also under mixed precision),
- gradients (float32, one per weight),
- optimizer state (Adam/AdamW: two moments; SGD: momentum if any; gradient
  accumulation: one accumulator per weight),
- activations kept for the backward pass, per example, times the per-device
  batch (what JAX saves for Keras's layers, `saved_activation_bytes`; 16-bit
  compute halves those not kept in float32; with `remat` only each block's
  input and one block's working set).

Weight-sized terms are divided by the shards of the "model" axis
(`strategy="model_parallel"`), activations by nothing (conservative:
tensor parallelism splits part of them too). Activations are counted for a
non-flash attention (the (T, T) scores of each head kept): on a device with
flash attention and dropout 0 the real figure is lower.

`fit` calls `check_fit(plan)` before it loads data or builds a model: a run
whose estimate exceeds the device memory is refused with one line naming
what would make it fit.
"""

import dataclasses
import os
import re

from keras_zoo.distribute.defaults import POLICIES
from keras_zoo.errors import InvalidArgumentError, ZooError
from keras_zoo.models import registry

_GIB = 1024**3
# Bytes of optimizer state per float32 weight.
_OPTIMIZER_BYTES = {"adam": 8, "adamw": 8, "sgd": 0, "sgd_momentum": 4}


class DoesNotFitError(ZooError, RuntimeError):
    """A run's estimated training memory exceeds the device's memory."""


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Training memory of one device, in bytes.

    Attributes:
        name: the model.
        parameters: trainable parameters of the whole model.
        batch_size: examples per device (the global batch over the
            data-parallel devices).
        precision: the dtype policy.
        optimizer: `"adam"`, `"adamw"`, `"sgd"` or `"sgd_momentum"`.
        model_shards: devices the weights are split over ("model" axis).
        accumulate: gradient accumulation steps (1: none).
        remat: whether activations are rematerialised.
        weights, gradients, optimizer_state, activations: bytes per device.
        activations_per_example: bytes of activations for one example.
        bytes_per_parameter: weights + gradients + optimizer state per
            parameter (before sharding).
        model_args: the builder arguments given, as `(name, value)` pairs.
    """

    name: str
    parameters: int
    batch_size: int
    precision: str
    optimizer: str
    model_shards: int
    accumulate: int
    remat: bool
    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    activations_per_example: int
    bytes_per_parameter: int
    model_args: tuple = ()

    @property
    def total(self):
        """Bytes per device: weights, gradients, optimizer state, activations."""
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def describe(self):
        """One line, e.g. "124.4M parameters: 1.85 GiB weights+grads+Adam ... per device"."""
        return (f"{self.parameters / 1e6:.1f}M parameters; training memory per device "
                f"{gib(self.total)} = weights {gib(self.weights)} + gradients "
                f"{gib(self.gradients)} + {self.optimizer} state {gib(self.optimizer_state)} "
                f"+ activations {gib(self.activations)} ({self.batch_size} example(s) x "
                f"{gib(self.activations_per_example)}"
                f"{', remat' if self.remat else ''}; {self.precision})")


def gib(n):
    """`n` bytes as a short string in GiB (or MiB below 1 GiB)."""
    return f"{n / _GIB:.2f} GiB" if n >= _GIB else f"{n / 1024**2:.1f} MiB"


# Parameter and activation counts, per family ------------------------------------------


def _gpt_parameters(args):
    """Trainable parameters of `models.transformer._build_gpt`."""
    v, t, c = args["vocab_size"], args["sequence_length"], args["embed_dim"]
    f, n = args["ff_dim"], args["num_layers"]
    # Per block: q, k, v (C x C + C each), output (C x C + C), two LayerNorms
    # (2C each), feed-forward C x F + F and F x C + C.
    block = 4 * c * c + 4 * c + 4 * c + 2 * c * f + f + c
    params = v * c + t * c + n * block + 2 * c  # embeddings, blocks, final norm
    if not args["tie_embeddings"]:
        params += c * v + v
    return params


def _gpt_activation_bytes(args, compute_bytes, remat):
    """Bytes per example kept for the backward pass of `_build_gpt`.

    The terms are what JAX saves for Keras's layers, counted by
    `saved_activation_bytes` (2026-12, Keras 3.15, JAX 0.10.2; equal within 1 %
    in float32), not a textbook count: exact GELU keeps four (T, F) tensors,
    attention three (H, T, T), and under mixed precision the LayerNorms,
    residual stream and two of the softmax's terms stay float32. With `remat`:
    each block's input plus one block recomputed in the backward pass.
    """
    t, c, h = args["sequence_length"], args["embed_dim"], args["num_heads"]
    f, n, v = args["ff_dim"], args["num_layers"], args["vocab_size"]
    htt = h * t * t
    # Per block: 6 (T, C) tensors and 2 (H, T, T) kept in float32; in the compute
    # dtype 6 (T, C) (q, k, v by head, context), 4 (T, F), 1 (H, T, T); the causal mask.
    block = 4 * (6 * t * c + 2 * htt) + compute_bytes * (6 * t * c + 4 * t * f + htt) + htt
    outside = 4 * 3 * t * c + compute_bytes * t * c  # embedding output, final norm in/out
    if args["dropout"] > 0:  # attention and residual dropouts: values and boolean masks
        block += compute_bytes * (2 * t * c + 2 * htt) + 2 * htt + 2 * t * c
        outside += compute_bytes * t * c + t * c
    logits = 4 * 2 * t * v  # logits and their softmax in the loss, always float32
    kept = n * 4 * t * c + block if remat else n * block
    return kept + outside + logits


# name -> (parameters(args), activation_bytes(args, compute_bytes, remat)); the
# models without one are counted by building them.
_ANALYTIC = {name: (_gpt_parameters, _gpt_activation_bytes)
             for name in ("gpt_mini", "gpt_baby", "gpt2_small")}


def has_estimate(name):
    """Whether `name`'s memory is estimated from its arguments alone (no build)."""
    return name in _ANALYTIC


def count_parameters(name, **model_args):
    """Trainable parameters of a registered model, from its arguments.

    Analytic (nothing built) for the GPT family; other models are built once
    and counted (they are small).

    Example:

    >>> count_parameters("gpt2_small")
    124439808
    """
    info = registry.model_info(name)
    registry.check_overrides(name, model_args)
    args = {**info.defaults, **model_args}
    if name in _ANALYTIC:
        return _ANALYTIC[name][0](args)
    model = registry.build_model(name, **model_args)
    return int(sum(_size(w) for w in model.trainable_weights))


def _size(variable):
    size = 1
    for d in variable.shape:
        size *= int(d)
    return size


def bytes_per_parameter(optimizer="adam", accumulate=1):
    """Training bytes per parameter in float32: weight, gradient, optimizer state.

    The one figure the zoo's memory checks use (16 for Adam: the weight, its
    gradient and the two moments), plus 4 for the accumulated gradient.
    """
    return 8 + _OPTIMIZER_BYTES[optimizer] + (4 if accumulate > 1 else 0)


def estimate(name, batch_size=1, precision="float32", optimizer="adam", *, model_args=None,
             model_shards=1, accumulate=1, remat=False):
    """Estimates the training memory of a registered model on one device.

    Args:
        name: a registered model name.
        batch_size: examples per device in one step (micro-batch with
            gradient accumulation).
        precision: a dtype policy name; 16-bit compute stores the activations
            Keras computes in it in 2 bytes.
        optimizer: `"adam"`, `"adamw"`, `"sgd"` or `"sgd_momentum"`.
        model_args: builder arguments overriding the defaults.
        model_shards: devices the weights are sharded over.
        accumulate: gradient accumulation steps; above 1 adds an
            accumulator per weight.
        remat: activations rematerialised (`keras.RematScope`).

    Returns:
        A `MemoryEstimate`.

    Example:

    >>> estimate("gpt2_small", batch_size=8, precision="mixed_bfloat16").describe()
    """
    model_args = dict(model_args or {})
    info = registry.model_info(name)
    registry.check_overrides(name, model_args)
    if precision not in POLICIES:
        raise InvalidArgumentError(
            f"`precision` must be one of {POLICIES}. Received: precision={precision!r}")
    if optimizer not in _OPTIMIZER_BYTES:
        raise InvalidArgumentError(
            f"`optimizer` must be one of {tuple(_OPTIMIZER_BYTES)}. "
            f"Received: optimizer={optimizer!r}")
    args = {**info.defaults, **model_args}
    act_bytes = 4 if precision == "float32" else 2
    if name in _ANALYTIC:
        parameters, activation_bytes = _ANALYTIC[name]
        params = parameters(args)
        per_example = activation_bytes(args, act_bytes, remat)
    else:  # small models: count by building, activations from the layers' outputs
        model = registry.build_model(name, **model_args)
        params = sum(_size(w) for w in model.trainable_weights)
        per_example = _built_activations(model) * act_bytes
    state = bytes_per_parameter(optimizer, accumulate) - 8  # beyond weight and gradient
    shards = max(1, int(model_shards))
    return MemoryEstimate(
        name=name, parameters=int(params), batch_size=int(batch_size), precision=precision,
        optimizer=optimizer, model_shards=shards, accumulate=int(accumulate),
        remat=bool(remat), weights=4 * params // shards, gradients=4 * params // shards,
        optimizer_state=state * params // shards,
        activations=int(batch_size) * int(per_example),
        activations_per_example=int(per_example), bytes_per_parameter=8 + state,
        model_args=tuple(sorted(model_args.items())))


def _built_activations(model):
    """Elements per example of every layer's output in a built Functional model."""
    total = 0
    for layer in model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            for tensor in node.output_tensors:
                size = 1
                for d in tensor.shape[1:]:
                    size *= int(d or 1)
                total += size
    return total


def _step_loss(model, x, y, loss):
    import keras

    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step_loss(trainable, non_trainable):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss(y, outputs)

    return step_loss, ([v.value for v in model.trainable_variables],
                       [v.value for v in model.non_trainable_variables])


def _needs_jax(what):
    import keras

    if keras.backend.backend() != "jax":
        raise InvalidArgumentError(
            f"`{what}` needs the jax Keras backend (KERAS_BACKEND=jax). "
            f"Received: backend {keras.backend.backend()!r}")


def saved_activation_bytes(model, x, y, loss=None):
    """Bytes the backward pass of one training step keeps, as JAX counts them.

    The residuals JAX saves between the forward and the backward pass of
    `loss(y, model(x))` (the model's weights and inputs left out): what
    rematerialisation trades for recomputation, whatever a compiler then
    does with the step. JAX backend only.

    Args:
        model: a built Keras model.
        x, y: one batch of inputs and targets.
        loss: a Keras loss; sparse categorical cross-entropy on logits by default.
    """
    _needs_jax("saved_activation_bytes")
    # `jax.ad_checkpoint.print_saved_residuals` prints the same list; its data
    # is not public in JAX 0.10.2.
    from jax._src.ad_checkpoint import saved_residuals

    step_loss, variables = _step_loss(model, x, y, loss)
    residuals = saved_residuals(step_loss, *variables)
    return sum(int(array.size) * array.dtype.itemsize for array, where in residuals
               if "argument" not in where)


def compiled_step_bytes(model, x, y, loss=None):
    """Temporary bytes XLA allocates for one jitted loss-and-gradient step.

    From the compiled step's `memory_analysis()`. On XLA:CPU remat shows here
    only with `levers.XLA_CPU_REMAT_FLAG` in `XLA_FLAGS` (see there). JAX
    backend only; arguments as `saved_activation_bytes`.
    """
    _needs_jax("compiled_step_bytes")
    import jax

    step_loss, variables = _step_loss(model, x, y, loss)
    compiled = jax.jit(jax.grad(step_loss)).lower(*variables).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def info_lines(name):
    """What `keras-zoo info NAME` prints about memory, at the registry's default sizes
    and the batch and optimizer of the model's recipe on its default dataset."""
    from keras_zoo import recipes

    info = registry.model_info(name)
    recipe = recipes.recipe(name, info.dataset)
    optimizer = _optimizer_of(recipe)
    full = estimate(name, recipe.batch_size, "float32", optimizer)
    half = estimate(name, recipe.batch_size, "mixed_bfloat16", optimizer)
    remat = estimate(name, recipe.batch_size, "mixed_bfloat16", optimizer, remat=True)
    return [
        f"parameters {full.parameters:,} (counted from the arguments; nothing built)",
        f"training memory per parameter {full.bytes_per_parameter} bytes "
        f"(weights, gradients, {optimizer} state) = "
        f"{gib(full.weights + full.gradients + full.optimizer_state)}",
        f"activations per example {gib(full.activations_per_example)} float32, "
        f"{gib(half.activations_per_example)} mixed_bfloat16, "
        f"{gib(remat.activations_per_example)} mixed_bfloat16 with remat",
        f"at batch {recipe.batch_size} (its {info.dataset} recipe's): {gib(full.total)} "
        f"float32, {gib(half.total)} mixed_bfloat16, {gib(remat.total)} with remat",
    ]


# Device memory -------------------------------------------------------------------------


def _parse_bytes(text):
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kmgt]?i?b?)?\s*", str(text).lower())
    if not match:
        raise InvalidArgumentError(
            "KERAS_ZOO_DEVICE_MEMORY must be a size such as 16GiB, 80GB or 1e9 (bytes). "
            f"Received: KERAS_ZOO_DEVICE_MEMORY={text!r}")
    unit = (match.group(2) or "").rstrip("b")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
             "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}[unit]
    return int(float(match.group(1)) * scale)


def device_memory():
    """Returns `(bytes, where)`: the memory of one training device, or `(None, why)`.

    `KERAS_ZOO_DEVICE_MEMORY` (e.g. `16GiB`) wins; on JAX the device's
    `memory_stats()["bytes_limit"]` (GPU, TPU); a CPU device gets the host's
    available memory shared by the local devices; a TensorFlow GPU: unknown.
    """
    import keras

    if os.environ.get("KERAS_ZOO_DEVICE_MEMORY"):
        return _parse_bytes(os.environ["KERAS_ZOO_DEVICE_MEMORY"]), "KERAS_ZOO_DEVICE_MEMORY"
    from keras_zoo.distribute import devices

    kind = devices.device_kind()
    if keras.backend.backend() == "jax" and kind != "cpu":
        import jax

        stats = jax.local_devices()[0].memory_stats() or {}
        if stats.get("bytes_limit"):
            return int(stats["bytes_limit"]), f"{kind} memory"
    if kind == "cpu":
        local = 1
        if keras.backend.backend() == "jax":
            import jax

            local = jax.local_device_count()
        available = _host_available()
        if available:
            return available // local, ("host memory available" if local == 1 else
                                        f"host memory available / {local} devices")
    return None, f"the {kind}'s memory is unknown (set KERAS_ZOO_DEVICE_MEMORY)"


def _host_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# The check `fit` runs -----------------------------------------------------------------


def _optimizer_of(recipe):
    if recipe.optimizer == "sgd":
        return "sgd_momentum" if recipe.momentum else "sgd"
    return recipe.optimizer


def plan_estimate(plan):
    """The `MemoryEstimate` of a `training.FitPlan`, or None (a model object, or a
    registered model without an analytic count)."""
    if plan.model is not None or not has_estimate(plan.name):
        return None
    from keras_zoo.distribute import sharding

    batch_axis, model_axis = sharding.mesh_shape_of(plan.strategy)
    return estimate(plan.name, plan.recipe.batch_size // batch_axis,
                    _precision(plan.precision), _optimizer_of(plan.recipe),
                    model_args=plan.model_args, model_shards=model_axis,
                    accumulate=getattr(plan, "accumulate", 1) or 1,
                    remat=bool(getattr(plan, "remat", False)))


def _precision(policy):
    return policy if policy in POLICIES else "float32"


def check_fit(plan):
    """Refuses a run that cannot fit the device, before anything is allocated.

    Prints the estimate next to the device memory when the plan is verbose.

    Raises:
        DoesNotFitError: one line, with the estimate, the device memory and
            what would make the run fit.
    """
    est = plan_estimate(plan)
    if est is None:
        return None
    available, where = device_memory()
    if plan.verbose:
        device = gib(available) if available else "unknown"
        print(f"Memory: {est.describe()}; device {device} ({where})")
    if available is None or est.total <= available:
        return est
    raise DoesNotFitError(
        f"{plan.name} needs about {gib(est.total)} per device to train at batch "
        f"{plan.recipe.batch_size} ({est.describe()}), more than the {gib(available)} "
        f"of one device ({where}). It would fit with: {_levers(est, available)}. "
        f"Received: batch_size={plan.recipe.batch_size}, strategy={plan.strategy_name!r}")


def _levers(est, available):
    """What would make `est` fit in `available` bytes, as a short list."""
    fixed = est.weights + est.gradients + est.optimizer_state  # weight-sized terms
    options = []
    shards = est.model_shards
    while fixed * est.model_shards // shards >= available and shards < 1024:
        shards *= 2  # the weights alone do not fit: shard them first
    sharded = fixed * est.model_shards // shards
    where = "" if shards == est.model_shards else (
        f"strategy='model_parallel' over {shards} devices (KERAS_BACKEND=jax) and ")
    if sharded < available:
        largest = (available - sharded) // max(1, est.activations_per_example)
        if largest >= 1 and largest < est.batch_size:
            steps = -(-est.batch_size // largest)
            options.append(f"{where}a batch of {largest} per device (accumulate={steps} "
                           f"keeps about {est.batch_size} examples per step)")
        elif largest >= est.batch_size and where:
            options.append(where.removesuffix(" and "))
        if not est.remat:
            rematted = estimate(est.name, est.batch_size, est.precision, est.optimizer,
                                model_shards=shards, accumulate=est.accumulate,
                                remat=True, model_args=dict(est.model_args))
            if rematted.total <= available:
                options.append(f"{where}remat=True")
    if est.precision == "float32" and est.activations:
        options.append("precision='mixed_bfloat16' (16-bit activations except the float32 ones)")
    return "; or ".join(options) if options else "more or larger devices"

