"""Model-parallel training on JAX: a ("batch", "model") device mesh and a layout per family.

`strategy="model_parallel"` puts every device on the "model" axis (with
several JAX processes, each process's devices: one group per process);
`"model_parallel:4x2"` is a mesh of 4 data-parallel groups ("batch") of 2
devices that split the weights ("model"). The batch is split over "batch",
the weights of the Transformer family over "model", Megatron-style
(Shoeybi et al. 2019): the query/key/value kernels and the first
feed-forward kernel by columns (heads, hidden units), the attention output
and second feed-forward kernels by rows, so each block needs one all-reduce
forward; the token embedding by vocabulary rows (it is also the tied output
projection), or by columns when the vocabulary does not divide; the position
embedding by columns. Attention kernels whose heads do not divide by the
"model" axis are split along the width instead (FSDP-style: XLA gathers
them); any other dimension that does not divide stays whole. Keras's
`keras.distribution.ModelParallel` does the rest: variables are created
sharded, XLA (GSPMD) inserts the collectives.

The layout is decided once the plan knows the model (`layout_of`),
because it depends on the model's sizes.
"""

import re

import keras

from keras_zoo.distribute import multi_process
from keras_zoo.errors import InvalidArgumentError

PREFIX = "model_parallel"


def is_model_parallel_name(name):
    """Whether a strategy name asks for model parallelism (`model_parallel[:BxM]`)."""
    return isinstance(name, str) and (name == PREFIX or name.startswith(PREFIX + ":"))


def parse_mesh(name, num_devices, processes=1):
    """Returns `(batch, model)` for a strategy name and a device count.

    `"model_parallel"` is one group per process, splitting the weights over
    that process's devices: `(1, num_devices)` for one process.

    Raises:
        InvalidArgumentError: a malformed shape, or one whose product is
            not the number of devices.
    """
    if name == PREFIX:
        return processes, num_devices // processes
    match = re.fullmatch(r"model_parallel:(\d+)x(\d+)", name)
    if not match:
        raise InvalidArgumentError(
            "A model-parallel strategy is 'model_parallel' (all devices on the model axis) or "
            "'model_parallel:BxM' (B data-parallel groups of M devices), e.g. "
            f"'model_parallel:4x2'. Received: strategy={name!r}")
    batch, model = int(match.group(1)), int(match.group(2))
    if batch < 1 or model < 1 or batch * model != num_devices:
        raise InvalidArgumentError(
            f"The mesh {batch}x{model} needs {batch * model} devices; there are {num_devices}. "
            f"Received: strategy={name!r}")
    return batch, model


def model_parallel(name):
    """A `keras.distribution.ModelParallel` over all devices for a strategy name.

    Over all processes' devices when there are several (see
    `keras_zoo.distribute.multi_process`); each group on the "model" axis must then be
    within one process. Its `LayoutMap` is empty until `set_layout` fills
    it for a model.
    """
    devices = keras.distribution.list_devices()
    processes = multi_process.process_count()
    batch, model = parse_mesh(name, len(devices), processes)
    mesh = keras.distribution.DeviceMesh((batch, model), ("batch", "model"), devices)
    if processes > 1:
        multi_process.check_model_groups(mesh.backend_mesh, 0, name)
    return multi_process.ModelParallel(
        layout_map=keras.distribution.LayoutMap(mesh), batch_dim_name="batch")


def mesh_shape_of(strategy):
    """`(batch, model)` devices of a strategy: `(replicas, 1)` unless model-parallel."""
    from keras_zoo.distribute import devices

    if isinstance(strategy, keras.distribution.ModelParallel):
        mesh = strategy.device_mesh
        shape = dict(zip(mesh.axis_names, mesh.shape))
        return shape.get("batch", 1), shape.get("model", 1)
    return devices.num_replicas(strategy), 1


def transformer_layout(args, model_axis):
    """`{path regex: axes}` for the Transformer family's layers, Megatron-style.

    Args:
        args: the builder's arguments (sizes decide which dimensions divide).
        model_axis: devices on the "model" axis.
    """
    def split(size):
        return "model" if size % model_axis == 0 else None

    heads = split(args["num_heads"])
    hidden = split(args["ff_dim"])
    vocab = split(args.get("vocab_size", 1))
    width = split(args["embed_dim"])
    # Keras matches these against whole variable paths (`re.fullmatch`).
    return {
        # (V, C) by rows; by columns when the vocabulary does not divide (50257)
        r"embedding/token_embedding/embeddings": (vocab, None if vocab else width),
        r"embedding/position_embedding/embeddings": (None, width),  # (T, C) by columns
        # (C, H, D) by heads; when the heads do not divide (12 on 8), by C (FSDP-style)
        r".*/attention/(query|key|value)/kernel": (None if heads else width, heads, None),
        r".*/attention/(query|key|value)/bias": (heads, None),  # (H, D)
        # (H, D, C) by rows (heads), else by C
        r".*/attention/attention_output/kernel": (heads, None, None if heads else width),
        r".*/ffn_intermediate/kernel": (None, hidden),  # (C, F) by columns
        r".*/ffn_intermediate/bias": (hidden,),  # (F,)
        r".*/ffn_output/kernel": (hidden, None),  # (F, C) by rows
        r"logits/kernel": (None, vocab),  # (C, V) an untied output projection
        r"logits/bias": (vocab,),
    }


_LAYOUTS = {"transformer": transformer_layout}


def layout_of(plan):
    """A model-parallel plan's layout for its model, `{pattern: axes}`; None otherwise.

    Pure: `set_layout` puts it into the strategy when the run starts.

    Raises:
        InvalidArgumentError: a model object (already built, so not
            re-sharded), or a family without a layout.
    """
    strategy = plan.strategy
    if not isinstance(strategy, keras.distribution.ModelParallel):
        return None
    if plan.model is not None:
        raise InvalidArgumentError(
            "strategy='model_parallel' shards a model while it is built; pass the model's "
            f"name, not a built keras.Model. Received: model={plan.name!r}")
    if plan.family not in _LAYOUTS:
        raise InvalidArgumentError(
            f"strategy='model_parallel' has layouts for the {', '.join(sorted(_LAYOUTS))} "
            f"family; {plan.name!r} is a {plan.family} model (use 'data_parallel'). "
            f"Received: model={plan.name!r}")
    from keras_zoo.models import registry

    args = {**registry.model_info(plan.name).defaults, **plan.model_args}
    return layout(strategy, plan.family, args)


def layout(strategy, family, args):
    """The `{pattern: axes}` layout of a `family` model with builder `args` on `strategy`'s mesh."""
    _, model_axis = mesh_shape_of(strategy)
    return _LAYOUTS[family](args, model_axis)


def set_layout(strategy, layout_or_family, args=None):
    """Fills a `ModelParallel`'s `LayoutMap`: a `layout` dict, or a `family`'s for `args`.

    Call it before the model is built under the distribution.

    Example:

    >>> strategy = get_strategy("model_parallel:2x4")
    >>> set_layout(strategy, "transformer", {**model_info("gpt_mini").defaults})
    >>> with run_scope(strategy):
    ...     model = create_model("gpt_mini")  # kernels split over 4 devices
    """
    axes_by_pattern = layout_or_family if isinstance(layout_or_family, dict) \
        else layout(strategy, layout_or_family, args)
    layout_map = strategy._layout_map  # Keras keeps no public accessor
    for pattern, axes in axes_by_pattern.items():
        layout_map[pattern] = axes
