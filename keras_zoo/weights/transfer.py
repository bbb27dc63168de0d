"""Pretrained weights into a model: headless backbones, new heads, encoders of other models."""

from keras_zoo.errors import InvalidArgumentError, WeightsError
from keras_zoo.models import bert, registry
from keras_zoo.weights.entries import (
    _ENCODER_SOURCES,
    HEAD_NAMES,
    POOLINGS,
    register_encoder_source,
    resolve,
)


def merged_args(source, overrides, name=None):
    """The builder arguments: the weights' architecture, then `overrides`, which win.

    Weights of a pretrained model whose encoder `name` takes (see
    `register_encoder_source`) give the architecture that encoder needs.
    """
    if not source:
        return dict(overrides or {})
    architecture = source.model_args or {}
    encoder = _ENCODER_SOURCES.get((name, source.model))
    if encoder is not None and source.model != name:
        architecture = encoder.args(dict(architecture))
    return {**architecture, **(overrides or {})}


def create_model(name, *, weights=None, include_top=True, pooling=None, **overrides):
    """Builds a registered model, uncompiled.

    Args:
        name: registry key, see `list_models()`.
        weights: None (random), a registered weights name (`list_weights`),
            a `.weights.h5`/`.keras` file, a run folder or a URL; the model
            takes the weights' architecture, `overrides` win. A different
            `num_classes` loads the backbone alone (see `keras_zoo.weights`).
        include_top: False for the backbone alone (a feature extractor).
        pooling: with `include_top=False`: None (feature map), `"avg"` or `"max"`.
        **overrides: builder arguments that replace the defaults, e.g.
            `num_classes=100`, `input_shape=(28, 28, 1)`.

    Returns:
        A `keras.Model` (Functional), not compiled.

    Example:

    >>> model = create_model("resnet20", num_classes=100)
    """
    if not isinstance(include_top, bool):
        raise InvalidArgumentError(
            f"`include_top` must be True or False. Received: include_top={include_top!r}")
    if pooling not in POOLINGS:
        raise InvalidArgumentError(
            f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if include_top and pooling is not None:
        raise InvalidArgumentError(
            f"`pooling` applies to a headless model (include_top=False). Received: pooling={pooling!r}")
    source = resolve(weights, name) if weights is not None else None
    args = merged_args(source, overrides, name)
    model = registry.build_model(name, **args)
    headless = None if include_top else cut_head(model, pooling)
    if source is not None:
        load_into(model, source, name, args, headless=headless is not None)
    return model if headless is None else headless


def head_layer(model):
    for layer in reversed(model.layers):
        if layer.name in HEAD_NAMES:
            return layer
    raise InvalidArgumentError(
        f"Model {model.name!r} has no head layer named {' or '.join(HEAD_NAMES)} to cut; "
        "only classifiers and sequence models can be built headless. Received: include_top=False")


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _input_of(tensor):
    """The first tensor argument of the call that produced `tensor` (not its mask)."""
    history = tensor._keras_history
    node = history.operation._inbound_nodes[history.node_index]
    return node.arguments.keras_tensors[0]


_POOL_LIKE = ("Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
              "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Cropping1D")


def cut_head(model, pooling=None):
    """The model's backbone: its graph cut before the head, as keras.applications does.

    The head (the layer named `predictions` or `logits`, and the Dropout
    and `head_*` layers before it) is cut; then the model's own pooling (Flatten, global pooling,
    class-token crop), back to the last feature map: `(B, H, W, C)` for CNNs,
    `(B, T, C)` for Transformers. `pooling="avg"` or `"max"` pools that map
    into `(B, C)` (masked positions of a text model are left out of the
    average). Models whose features are already a vector (MLP, recurrent
    classifiers) return it; `pooling` must then be None.

    Returns:
        A Functional `keras.Model` sharing the layers (and weights) of `model`.
    """
    import keras

    head = head_layer(model)
    features = head._inbound_nodes[0].arguments.keras_tensors[0]  # (B, ..., C)
    # The classifier head: Dropout and the layers named head_* (vit's and
    # transformer_classifier's hidden head layers, as keras.applications drops VGG's fc layers).
    while isinstance(_producer(features), keras.layers.Dropout) or \
            _producer(features).name.startswith("head_"):
        features = _input_of(features)
    while type(_producer(features)).__name__ in _POOL_LIKE:
        features = _input_of(features)
    rank = len(features.shape)
    if pooling is not None:
        if rank == 2:
            raise InvalidArgumentError(
                f"The features of {model.name!r} are already a vector {tuple(features.shape)}; "
                f"`pooling` applies to feature maps. Pass pooling=None. Received: pooling={pooling!r}")
        layer = {("avg", 4): keras.layers.GlobalAveragePooling2D,
                 ("max", 4): keras.layers.GlobalMaxPooling2D,
                 ("avg", 3): keras.layers.GlobalAveragePooling1D,
                 ("max", 3): keras.layers.GlobalMaxPooling1D}[(pooling, rank)]
        features = layer(name=f"features_{pooling}_pool", dtype="float32")(features)
    return keras.Model(model.inputs, features, name=f"{model.name}_features")


def _variables_shapes(layer):
    return [tuple(v.shape) for v in layer.weights]


def load_into(model, source, name, args, *, headless=False, verbose=True, announce=False):
    """Loads `source` into `model` (built as `name(**args)`), backbone only if the head differs.

    Prints one line when only the backbone was loaded; with `announce` (as
    `fit` does) also when all of it was.

    Raises:
        WeightsError: the weights are of another model or architecture, or unreadable.
    """
    from keras_zoo import runs

    announce = announce and verbose
    if source.model is not None and (name, source.model) in _ENCODER_SOURCES:
        return _load_encoder(model, source, name, headless=headless, verbose=verbose)
    if source.model is not None and source.model != name:
        raise WeightsError(
            f"{source.description} holds weights of model {source.model!r}, not {name!r}. "
            f"Use weights made for {name!r} (see `keras-zoo weights {name}`).")
    path = source.path
    if path.endswith(".keras"):
        try:
            donor = runs.load_model(path)
        except InvalidArgumentError as e:
            raise WeightsError(f"{e} (as weights for {name!r})") from None
        if donor.name != name:
            raise WeightsError(
                f"{source.description} holds a model {donor.name!r}, not {name!r}: weights of "
                f"another architecture. Use weights made for {name!r}.")
    else:
        donor_args = source.model_args if source.model_args is not None else args
        if source.model_args is None and _has_head(model):
            return _load_backbone_of_bare_file(model, path, source, name, args, headless,
                                               announce)
        if donor_args == args and not headless:
            _load_weights_file(model, path, source, name, args)
            return _loaded(model, source, name, False, announce)
        donor = registry.build_model(name, **donor_args)
        _load_weights_file(donor, path, source, name, donor_args)
    if not _has_head(donor) or donor.get_config() == model.get_config():
        try:
            model.set_weights(donor.get_weights())
        except ValueError as e:
            raise WeightsError(f"{source.description} does not fit {name!r}: {_first_line(e)}") from None
        return _loaded(model, source, name, headless, (verbose and headless) or announce)
    donors = {layer.name: layer for layer in donor.layers}
    new_head = []
    for layer in model.layers:
        if not layer.weights:
            continue
        other = donors.get(layer.name)
        if other is not None and _variables_shapes(other) == _variables_shapes(layer):
            layer.set_weights(other.get_weights())
        elif layer.name in HEAD_NAMES:
            new_head.append(f"{layer.name} {_units(other)} -> {_units(layer)} outputs")
        else:
            found = _variables_shapes(other) if other is not None else "no such layer"
            raise WeightsError(
                f"{source.description} does not fit {name} with {_describe(args)}: layer "
                f"{layer.name!r} has weights {_variables_shapes(layer)}, the file {found}. "
                "Weights of another architecture: build the model with the weights' own "
                "arguments (only the head may differ).")
    if verbose and (new_head or headless):
        kept = "; new untrained head " + ", ".join(new_head) if new_head else ""
        print(f"Loaded the backbone of {name} from {source.description}"
              f"{' into a headless model' if headless else ''}{kept}.")
    return model


def _has_head(model):
    return any(layer.name in HEAD_NAMES for layer in getattr(model, "layers", []))


def _units(layer):
    return layer.weights[0].shape[-1] if layer is not None and layer.weights else "?"


def _describe(args):
    return ", ".join(f"{k}={v!r}" for k, v in sorted(args.items())) or "its default arguments"


def _first_line(error, limit=300):
    text = " ".join(str(error).split())
    if not text:
        return type(error).__name__
    return text if len(text) <= limit else text[:limit] + " ..."


def _named(source):
    if source.description == source.path:
        return source.path
    return f"{source.description} ({source.path})"


def _loaded(model, source, name, headless, say):
    """Returns `model`; with `say`, prints what was loaded: a headless backbone, or all of it."""
    if say:
        into = f"a headless {name}: backbone only" if headless else f"{name}: all of its weights"
        print(f"Loaded {source.description} into {into}.")
    return model


def _load_backbone_of_bare_file(model, path, source, name, args, headless, announce=False):
    """A `.weights.h5` of unknown arguments: all of it, or all but a different head.

    Keras's `load_weights(skip_mismatch=True)` skips the layers whose shapes
    differ; a skipped layer keeps its fresh weights, which is how it is found.
    Anything but the head skipped means another architecture.
    """
    import warnings

    # Before the first try: a failed load has already filled the layers before the mismatch.
    fresh = {layer.name: [w.copy() for w in layer.get_weights()]
             for layer in model.layers if layer.weights}
    try:
        _load_weights_file(model, path, source, name, args)
    except WeightsError as e:
        if "Cannot read" in str(e):
            raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns for each skipped layer
            model.load_weights(path, skip_mismatch=True)
        skipped = [layer.name for layer in model.layers if layer.weights and all(
            (a == b).all() for a, b in zip(layer.get_weights(), fresh[layer.name]))]
        if not skipped or any(n not in HEAD_NAMES for n in skipped):
            raise e from None
        print(f"Loaded the backbone of {name} from {source.description}"
              f"{' into a headless model' if headless else ''}; new untrained head "
              f"{', '.join(skipped)} ({_units(model.get_layer(skipped[0]))} outputs).")
        return model
    return _loaded(model, source, name, headless, headless or announce)


def _load_weights_file(model, path, source, name, args):
    from keras_zoo.runs.archive import check_weights_file

    check_weights_file(path)  # the absolute size limit, before h5py reads any array
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        text = str(e)
        if "truncated" in text.lower() or "signature" in text.lower() or isinstance(e, OSError):
            raise WeightsError(
                f"Cannot read the weights file {path} (truncated, or not a Keras .weights.h5 "
                f"file): {_first_line(e)}. Publish the run again, or download the file again."
            ) from None
        raise WeightsError(
            f"{_named(source)} does not fit {name} with {_describe(args)}: {_first_line(e)}. Weights of another architecture? Build the model with the "
            "arguments the weights were made with, or use a run folder or registered name, "
            "which record them.") from None


# ----------------------------------------------------------------------------- encoders


def _load_encoder(model, source, name, *, headless=False, verbose=True):
    """Copies the encoder of `source` (a pretrained model's weights) into `model`."""
    from keras_zoo import runs

    encoder = _ENCODER_SOURCES[(name, source.model)]
    if source.path.endswith(".keras"):
        pretrained = runs.load_model(source.path)
    else:
        pretrained = registry.build_model(source.model, **(source.model_args or {}))
        _load_weights_file(pretrained, source.path, source, source.model,
                           source.model_args or {})
    try:
        copied = encoder.load(model, pretrained)
    except InvalidArgumentError as e:
        raise WeightsError(f"{source.description} ({source.model}) does not fit {name}: "
                           f"{_first_line(e)}") from None
    if verbose:
        fresh = [layer.name for layer in model.layers if layer.weights
                 and layer.name not in copied]
        print(f"Loaded the encoder of {name} from {source.description} ({source.model}, "
              f"pretrained): {', '.join(copied)}"
              + (f"; new untrained {', '.join(fresh)}" if fresh and not headless else "")
              + ".")
    return model


def check_vocabulary(transfer, vocabulary):
    """Refuses fine-tuning data whose token ids are not the pretraining's.

    Args:
        transfer: the plan's `Transfer`, or None.
        vocabulary: the token list the data was prepared with, or None.

    Raises:
        InvalidArgumentError: the pretrained weights record another vocabulary.
    """
    source = transfer.source if transfer is not None else None
    if source is None or source.vocabulary is None or vocabulary is None:
        return
    if list(source.vocabulary) != list(vocabulary):
        mine, theirs = list(vocabulary), list(source.vocabulary)
        first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b),
                     min(len(mine), len(theirs)))
        raise InvalidArgumentError(
            f"The data's token ids are not those of the pretrained weights: its vocabulary "
            f"has {len(mine)} tokens, the weights' {len(theirs)}, first differing at id "
            f"{first}. Fine-tune on data tokenised as the pretraining's (e.g. both "
            f"character-level over the same characters). Received: weights="
            f"{source.description!r}, dataset vocabulary of {len(mine)} tokens")


# ----------------------------------------------------------------------------- fine-tuning


# `weights=` of a `bert_classifier` takes a `bert_mini` run or weights: its encoder.
register_encoder_source("bert_classifier", "bert_mini", args=bert.classifier_args,
                        load=bert.load_encoder_weights)
