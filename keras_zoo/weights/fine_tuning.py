"""Fine-tuning: frozen backbones, LoRA, unfreezing, and the `Transfer` plan `fit` follows."""

import dataclasses
import json
import os
import tempfile

from keras_zoo.errors import InvalidArgumentError
from keras_zoo.models import registry
from keras_zoo.weights.entries import (
    FREEZES,
    UNFREEZE_LEARNING_RATE,
    WEIGHTS_SUFFIX,
    Source,
    resolve,
    sha256_of,
)
from keras_zoo.weights.transfer import head_layer, load_into, merged_args


def freeze_backbone(model):
    """Makes every layer but the head untrainable; returns the number of frozen layers."""
    head = head_layer(model)
    frozen = 0
    for layer in model.layers:
        if layer is not head and layer.weights:
            layer.trainable = False
            frozen += 1
    return frozen


def trainable_count(model):
    import numpy as np

    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def enable_lora(model, rank, *, verbose=True):
    """LoRA on the attention query and value projections, through Keras's `enable_lora`.

    As keras-hub's backbones do: every layer is frozen, then
    `layer.enable_lora(rank)` on each attention `query` and `value`
    projection adds trainable low-rank factors `A (d, rank)`, `B (rank, n)`
    (the kernel stays frozen, the output is `x @ (W + A @ B * alpha / rank)`);
    the head stays trainable. Keras saves the merged kernel (`W + A @ B *
    scale`, see `Dense.save_own_variables`), so `.keras` files, run folders
    and published weights hold plain weights; `merge_lora` merges in memory.

    Returns:
        The model, with the trainable parameter count printed.
    """
    import keras

    from keras_zoo.errors import check_positive_int

    check_positive_int(rank, "lora_rank")
    targets = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
               if isinstance(layer, (keras.layers.EinsumDense, keras.layers.Dense))
               and layer.name in ("query", "value")]
    if not targets:
        raise InvalidArgumentError(
            f"Model {model.name!r} has no attention query/value projections for LoRA; "
            f"`lora_rank` applies to the Transformer family. Received: lora_rank={rank!r}")
    head = head_layer(model)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not list(layer._flatten_layers(include_self=False)) and layer not in targets:
            layer.trainable = layer is head  # leaves only: a frozen container would hide LoRA
    for layer in targets:
        layer.enable_lora(rank)
    if verbose:
        total = model.count_params()
        print(f"LoRA rank {rank} on {len(targets)} attention projections: "
              f"{trainable_count(model):,} trainable parameters of {total:,}.")
    return model


def merge_lora(model):
    """A copy of `model` with every LoRA delta merged into its kernel (no LoRA weights left).

    Keras's own save writes merged kernels (`kernel + lora_a @ lora_b *
    alpha / rank`), so the copy is the model's config rebuilt without LoRA and
    loaded from a saved weights file. A model without LoRA is returned as is.
    """
    if not any(getattr(layer, "lora_enabled", False)
               for layer in model._flatten_layers(include_self=False, recursive=True)):
        return model
    config = json.loads(json.dumps(model.get_config()))
    _strip_lora(config)
    merged = model.__class__.from_config(config)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "merged" + WEIGHTS_SUFFIX)
        model.save_weights(path)
        merged.load_weights(path)
    return merged


def _strip_lora(config):
    if isinstance(config, dict):
        config.pop("lora_rank", None)
        config.pop("lora_alpha", None)
        for value in config.values():
            _strip_lora(value)
    elif isinstance(config, list):
        for value in config:
            _strip_lora(value)


def unfreeze_callback(after, learning_rate=UNFREEZE_LEARNING_RATE):
    """A callback that unfreezes the backbone at the start of epoch `after` (0-based).

    The keras-io transfer-learning recipe's second phase: every layer becomes
    trainable except BatchNormalization layers, which stay in inference mode;
    the optimizer is replaced by a fresh one of the same kind with
    `learning_rate` (a recompile, which Keras cannot do inside `fit`), and the
    train function is traced again with the new trainable variables.
    """
    import keras

    class UnfreezeBackbone(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.after = after
            self.learning_rate = learning_rate
            self.done = False

        def on_epoch_begin(self, epoch, logs=None):
            if self.done or epoch < self.after:
                return
            self.done = True
            model = self.model
            for layer in model._flatten_layers(include_self=False, recursive=True):
                if not list(layer._flatten_layers(include_self=False)):
                    layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
            config = {**model.optimizer.get_config(), "learning_rate": self.learning_rate}
            scope = _strategy_scope(model)
            with scope:
                optimizer = model.optimizer.__class__.from_config(config)
                optimizer.build(model.trainable_variables)
            model.optimizer = optimizer
            model.train_function = None
            model.make_train_function(force=True)
            print(f"Epoch {epoch + 1}: backbone unfrozen (BatchNormalization kept in inference "
                  f"mode), learning rate {self.learning_rate:g}, "
                  f"{trainable_count(model):,} trainable parameters.")

    return UnfreezeBackbone()


def _strategy_scope(model):
    import contextlib

    import keras

    if keras.backend.backend() == "tensorflow":
        return model.distribute_strategy.scope()
    return contextlib.nullcontext()


@dataclasses.dataclass
class Transfer:
    """What `fit` does with `weights=`, `freeze=`, `unfreeze_after=` and `lora_rank=`.

    Attributes:
        name: the model name.
        args: the builder arguments (the weights' architecture, then the
            dataset's shapes and the user's arguments).
        source: the resolved weights, or None.
        config: the run config's record of these settings (empty when unused).
    """

    name: str
    args: dict
    source: Source = None
    freeze: str = None
    unfreeze_after: int = None
    lora_rank: int = None
    config: dict = dataclasses.field(default_factory=dict)

    def build(self):
        """Builds the model (in the strategy scope), loads, freezes, enables LoRA."""
        model = registry.build_model(self.name, **self.args)
        if self.source is not None:
            load_into(model, self.source, self.name, self.args, announce=True)
        if self.freeze == "backbone":
            frozen = freeze_backbone(model)
            print(f"Backbone frozen ({frozen} layers): {trainable_count(model):,} trainable "
                  f"parameters of {model.count_params():,}.")
        if self.lora_rank:
            enable_lora(model, self.lora_rank)
        return model

    def callbacks(self):
        return [unfreeze_callback(self.unfreeze_after)] if self.unfreeze_after else []


def plan_transfer(name, args, *, weights=None, freeze=None, unfreeze_after=None, lora_rank=None):
    """Checks the fine-tuning arguments of `fit` and returns a `Transfer`.

    Args:
        name: the registered model name.
        args: the builder arguments `fit` worked out (dataset shapes, user's).
        weights: see `resolve`; the head is new when `num_classes` differs.
        freeze: None, or `"backbone"` to train the head alone.
        unfreeze_after: with `freeze="backbone"`, unfreeze after this many
            epochs and go on at learning rate 1e-5 (TensorFlow backend).
        lora_rank: LoRA rank for a Transformer (see `enable_lora`).
    """
    import keras

    from keras_zoo.errors import check_positive_int

    if freeze not in FREEZES:
        raise InvalidArgumentError(f"`freeze` must be None or 'backbone'. Received: freeze={freeze!r}")
    check_positive_int(unfreeze_after, "unfreeze_after", allow_none=True)
    check_positive_int(lora_rank, "lora_rank", allow_none=True)
    if unfreeze_after and freeze != "backbone":
        raise InvalidArgumentError(
            "`unfreeze_after` needs freeze='backbone' (there is nothing to unfreeze). "
            f"Received: unfreeze_after={unfreeze_after!r}, freeze={freeze!r}")
    if unfreeze_after and keras.backend.backend() != "tensorflow":
        raise InvalidArgumentError(
            "`unfreeze_after` retraces the train function inside `fit`, which only the "
            "TensorFlow backend allows; run the two phases as two `fit` calls on JAX. "
            f"Received: unfreeze_after={unfreeze_after!r}")
    if lora_rank and freeze:
        raise InvalidArgumentError(
            "`lora_rank` already freezes everything but the LoRA factors and the head; "
            f"leave freeze=None. Received: freeze={freeze!r}, lora_rank={lora_rank!r}")
    source = resolve(weights, name) if weights is not None else None
    if source is not None:
        args = merged_args(source, args, name)
        registry.check_overrides(name, args)
    config = {}
    if any(v is not None for v in (weights, freeze, unfreeze_after, lora_rank)):
        config["transfer"] = {
            "weights": os.fspath(weights) if weights is not None else None,
            "weights_sha256": sha256_of(source.path) if source is not None else None,
            "freeze": freeze, "unfreeze_after": unfreeze_after, "lora_rank": lora_rank,
        }
    return Transfer(name, args, source, freeze, unfreeze_after, lora_rank, config)


# ----------------------------------------------------------------------------- publishing


