"""Pretrained weights by name, the download cache, headless backbones and fine-tuning.

A weights entry is data: a JSON file (a small model card) beside its
`.weights.h5` file, naming the model and its builder arguments, the file's
sha256, the dataset, the recipe, the measured metrics and the versions that
made it. Entries shipped in the package live in `keras_zoo/pretrained/`;
`publish` writes one from a finished run; `register_weights` adds one.

```python
import keras_zoo as kz

kz.list_weights("simple_cnn")                        # [WeightsEntry(model='simple_cnn', name='digits', ...)]
model = kz.create_model("simple_cnn", weights="digits")
features = kz.create_model("simple_cnn", weights="digits", include_top=False, pooling="avg")
kz.fit("simple_cnn", "digits", weights="digits", freeze="backbone", unfreeze_after=2)
```

`weights=` takes a registered name, a `.weights.h5` or `.keras` file, a run
folder, or a URL (`https://host/x.weights.h5#sha256=<hex>`). Downloads go to
the cache folder (`cache_dir()`): fetched into a temporary folder there,
checked against the hash, then moved in place with `os.replace`, so the
cache never holds half a file.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import urllib.parse

from keras_zoo import registry
from keras_zoo.errors import InvalidArgumentError, WeightsError, unknown_name

PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
ENTRY_SUFFIX = ".json"
WEIGHTS_SUFFIX = ".weights.h5"
# The head of a zoo model is its last layer, named by convention (see models/*.py).
HEAD_NAMES = ("predictions", "logits")
POOLINGS = (None, "avg", "max")
FREEZES = (None, "backbone")
UNFREEZE_LEARNING_RATE = 1e-5  # keras-io "Transfer learning & fine-tuning"

_REGISTERED = {}  # (model, name) -> WeightsEntry added by `register_weights`


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """A weights file and its model card.

    Attributes:
        model: the registered model name.
        name: the weights name, e.g. `"digits"`.
        file: the `.weights.h5` file name.
        sha256: hex digest of the file.
        dataset: the dataset it was trained on.
        model_args: the builder arguments (the architecture).
        recipe: the run's settings (epochs, batch size, optimizer, seed...).
        metrics: measured on the dataset's test split (final losses for a GAN).
        versions: keras-zoo, Keras, TensorFlow... that trained it.
        vocabulary: token list for text datasets (index = token id), or None.
        url: where the file is hosted, or None when it ships beside the entry.
        folder: the folder the entry was read from (where `file` is looked for first).
    """

    model: str
    name: str
    file: str
    sha256: str
    dataset: str
    model_args: dict
    recipe: dict
    metrics: dict
    versions: dict
    vocabulary: tuple = None
    url: str = None
    folder: str = None

    def to_dict(self):
        out = dataclasses.asdict(self)
        out.pop("folder")
        out["vocabulary"] = list(self.vocabulary) if self.vocabulary is not None else None
        return out

    @classmethod
    def from_dict(cls, data, folder=None):
        fields = {f.name for f in dataclasses.fields(cls)} - {"folder"}
        missing = {"model", "name", "file", "sha256"} - set(data)
        if missing:
            raise WeightsError(f"A weights entry needs {sorted(missing)}. Received: keys {sorted(data)}")
        kwargs = {k: v for k, v in data.items() if k in fields}
        if kwargs.get("vocabulary") is not None:
            kwargs["vocabulary"] = tuple(kwargs["vocabulary"])
        for key in ("model_args", "recipe", "metrics", "versions"):
            kwargs.setdefault(key, {})
        kwargs.setdefault("dataset", None)
        return cls(**kwargs, folder=folder)

    def local_path(self):
        """The file beside the entry, or in the cache; None if neither has it."""
        for folder in (self.folder, cache_dir()):
            if folder and os.path.isfile(os.path.join(folder, self.file)):
                return os.path.join(folder, self.file)
        return None


def cache_dir():
    """The download cache: `$KERAS_ZOO_CACHE`, else `~/.cache/keras_zoo` (`$XDG_CACHE_HOME`)."""
    if os.environ.get("KERAS_ZOO_CACHE"):
        return os.path.expanduser(os.environ["KERAS_ZOO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "keras_zoo")


def sha256_of(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_entry(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise WeightsError(f"Cannot read the weights entry ({e}). Received: {path!r}") from None
    if not isinstance(data, dict):
        raise WeightsError(f"A weights entry is a JSON object. Received: {path!r}")
    return WeightsEntry.from_dict(data, folder=os.path.dirname(os.path.abspath(path)))


def _shipped():
    entries = {}
    if os.path.isdir(PRETRAINED_DIR):
        for file in sorted(os.listdir(PRETRAINED_DIR)):
            if file.endswith(ENTRY_SUFFIX):
                entry = _read_entry(os.path.join(PRETRAINED_DIR, file))
                entries[(entry.model, entry.name)] = entry
    return entries


def list_weights(model=None):
    """Returns the weights entries, shipped and registered, sorted by model and name.

    Args:
        model: keep only this model's entries.

    Example:

    >>> [e.name for e in list_weights("simple_cnn")]
    ['digits']
    """
    if model is not None:
        registry.model_info(model)  # raises for an unknown model
    entries = {**_shipped(), **_REGISTERED}
    return [entries[k] for k in sorted(entries) if model is None or k[0] == model]


def weights_entry(model, name):
    """Returns the `WeightsEntry` registered as `name` for `model`."""
    for entry in list_weights(model):
        if entry.name == name:
            return entry
    raise unknown_name(f"weights name for model {model!r}", name,
                       [e.name for e in list_weights(model)])


def register_weights(entry):
    """Adds a weights entry (a `WeightsEntry`, or the path of its JSON file).

    The entry's file is looked for beside its JSON, then in the cache, then
    fetched from its `url`.

    Returns:
        The `WeightsEntry`.
    """
    if not isinstance(entry, WeightsEntry):
        entry = _read_entry(os.fspath(entry))
    registry.model_info(entry.model)
    _REGISTERED[(entry.model, entry.name)] = entry
    return entry


# ----------------------------------------------------------------------------- resolving


@dataclasses.dataclass(frozen=True)
class Source:
    """Where weights come from, once resolved to a local, checked file.

    Attributes:
        path: a `.weights.h5` or `.keras` file.
        description: how to name it in messages.
        model: the model name the file was made for, when known.
        model_args: its builder arguments, when known (else the target's).
        entry: the `WeightsEntry`, for a registered name.
        dataset: the dataset it was trained on, when known.
        vocabulary: its token list, when known.
    """

    path: str
    description: str
    model: str = None
    model_args: dict = None
    entry: WeightsEntry = None
    dataset: str = None
    vocabulary: tuple = None


def _is_url(text):
    return urllib.parse.urlparse(text).scheme in ("http", "https", "ftp", "file")


def resolve(weights, model):
    """Resolves `weights` for `model` to a local, hash-checked `Source`.

    Args:
        weights: a registered weights name, a `.weights.h5`/`.keras` file, a
            run folder, or a URL (optionally with `#sha256=<hex>`).
        model: the registered model name the weights are for.

    Raises:
        WeightsError: a missing, corrupt or foreign file, or a failed download.
        UnknownNameError: an unknown weights name.
    """
    if not isinstance(weights, (str, os.PathLike)):
        raise InvalidArgumentError(
            "`weights` must be a registered weights name, a .weights.h5 or .keras file, a run "
            f"folder or a URL. Received: weights={weights!r}")
    text = os.fspath(weights)
    if _is_url(text):
        url, _, fragment = text.partition("#")
        expected = dict(urllib.parse.parse_qsl(fragment)).get("sha256")
        name = os.path.basename(urllib.parse.urlparse(url).path) or "weights" + WEIGHTS_SUFFIX
        return Source(fetch(url, name, expected), f"{name} from {url}")
    if os.path.isdir(text):
        return _check_model(_run_source(text, model), model)
    if os.path.exists(text) or os.sep in text or text.endswith((".h5", ".keras")):
        if not os.path.isfile(text):
            raise WeightsError(f"No such weights file. Received: weights={text!r}")
        if not text.endswith((WEIGHTS_SUFFIX, ".keras")):
            raise WeightsError(
                "A weights file must be a .weights.h5 or .keras file (or give a run folder, a "
                f"registered weights name or a URL). Received: weights={text!r}")
        from keras_zoo import training

        run_dir = training.run_dir_of(text) if text.endswith(".keras") else None
        if run_dir is not None:  # a run's model file: the run records its architecture
            return _check_model(dataclasses.replace(
                _run_source(run_dir, model), path=os.path.abspath(text), description=text), model)
        return Source(os.path.abspath(text), text)
    entry = weights_entry(model, text)
    return Source(entry_file(entry), f"{entry.model} weights {entry.name!r}", entry.model,
                  _tuples(dict(entry.model_args)), entry, entry.dataset, entry.vocabulary)


def _check_model(source, model):
    if source.model is not None and source.model != model \
            and (model, source.model) not in _ENCODER_SOURCES:
        raise WeightsError(
            f"{source.description} holds weights of model {source.model!r}, not {model!r}. "
            f"Use weights made for {model!r} (see `keras-zoo weights {model}`).")
    return source


def _run_source(folder, model):
    from keras_zoo import runs

    config_path = os.path.join(folder, runs.CONFIG)
    if not os.path.isfile(config_path):
        raise WeightsError(
            f"The folder is not a run folder (no {runs.CONFIG}). Received: weights={folder!r}")
    config = runs.read_json(config_path)
    file = os.path.join(folder, runs.MODEL)
    if not os.path.isfile(file):
        file = os.path.join(folder, runs.BEST)
    if not os.path.isfile(file):
        raise WeightsError(
            f"The run has no {runs.MODEL} nor {runs.BEST} yet (rerun it to finish). "
            f"Received: weights={folder!r}")
    vocabulary = None
    if os.path.isfile(os.path.join(folder, runs.VOCABULARY)):
        vocabulary = tuple(runs.read_vocabulary(os.path.join(folder, runs.VOCABULARY)))
    return Source(file, f"run {folder}", config.get("model"),
                  _tuples(config.get("model_args") or {}), None, config.get("dataset"),
                  vocabulary)


def _tuples(value):
    """JSON lists back to the tuples the builders take (e.g. `input_shape`)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def entry_file(entry):
    """The local, hash-checked file of a weights entry, downloading it if needed."""
    path = entry.local_path()
    if path is not None and path.startswith(cache_dir()) and entry.url:
        return fetch(entry.url, entry.file, entry.sha256)  # re-checks, re-fetches a bad copy
    if path is not None:
        _check_hash(path, entry.sha256, f"Reinstall keras-zoo, or delete {path} and publish "
                                         "the run again.")
        return path
    if not entry.url:
        raise WeightsError(
            f"The weights file {entry.file} of {entry.model} {entry.name!r} is not beside its "
            f"entry ({entry.folder}) nor in the cache ({cache_dir()}), and the entry has no URL. "
            "Reinstall keras-zoo, or copy the file there.")
    return fetch(entry.url, entry.file, entry.sha256)


def _check_hash(path, expected, what_to_do):
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"The weights file {path} is corrupt or truncated: its sha256 is {actual}, "
            f"expected {expected} ({os.path.getsize(path)} bytes). {what_to_do}")


def fetch(url, file_name, sha256=None):
    """Downloads `url` into the cache as `file_name`, checked against `sha256`.

    A cached copy with the right hash is used as is (no network). The file is
    fetched with `keras.utils.get_file` into a temporary folder inside the
    cache, checked, then moved in place with `os.replace`.

    Returns:
        The path of the cached file.

    Raises:
        WeightsError: download failed (offline?), or the hash does not match.
    """
    import keras

    folder = cache_dir()
    final = os.path.join(folder, file_name)
    if os.path.isfile(final):
        if sha256 is None or sha256_of(final) == sha256:
            return final
        print(f"The cached {final} does not match its sha256; downloading it again.")
        os.remove(final)
    os.makedirs(folder, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".download-", dir=folder)
    try:
        try:
            got = keras.utils.get_file(file_name, origin=url, cache_dir=scratch, cache_subdir=".")
        except Exception as e:  # noqa: BLE001  get_file raises a bare Exception on URL errors
            reason = " ".join(str(e).split()) or type(e).__name__
            raise WeightsError(
                f"Could not download {file_name} from {url} ({reason}). Offline? Download it "
                f"elsewhere and pass the local file as `weights=`, or put it in the cache "
                f"folder {folder} (set KERAS_ZOO_CACHE to use another).") from None
        if sha256 is not None:
            actual = sha256_of(got)
            if actual != sha256:
                raise WeightsError(
                    f"The file downloaded from {url} has sha256 {actual}, expected {sha256} "
                    f"({os.path.getsize(got)} bytes; truncated, or the hosted file changed). "
                    "Nothing was kept in the cache; try again, or check the URL.")
        else:
            print(f"Downloaded {file_name} without a hash to check; its sha256 is "
                  f"{sha256_of(got)} (append #sha256=<hex> to the URL to pin it).")
        os.replace(got, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


# ----------------------------------------------------------------------------- building


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
    """`registry.create_model` with weights, or headless; see there."""
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
    registry.check_overrides(name, args)
    model = registry._entry(name).builder(**args)
    headless = None if include_top else cut_head(model, pooling)
    if source is not None:
        load_into(model, source, name, args, headless=headless is not None)
    return model if headless is None else headless


def _head(model):
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

    head = _head(model)
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


def load_into(model, source, name, args, *, headless=False, verbose=True):
    """Loads `source` into `model` (built as `name(**args)`), backbone only if the head differs.

    Prints one line when only the backbone was loaded.

    Raises:
        WeightsError: the weights are of another model or architecture, or unreadable.
    """
    from keras_zoo import training

    if source.model is not None and (name, source.model) in _ENCODER_SOURCES:
        return _load_encoder(model, source, name, headless=headless, verbose=verbose)
    if source.model is not None and source.model != name:
        raise WeightsError(
            f"{source.description} holds weights of model {source.model!r}, not {name!r}. "
            f"Use weights made for {name!r} (see `keras-zoo weights {name}`).")
    path = source.path
    if path.endswith(".keras"):
        try:
            donor = training.load_model(path)
        except InvalidArgumentError as e:
            raise WeightsError(f"{e} (as weights for {name!r})") from None
        if donor.name != name:
            raise WeightsError(
                f"{source.description} holds a model {donor.name!r}, not {name!r}: weights of "
                f"another architecture. Use weights made for {name!r}.")
    else:
        donor_args = source.model_args if source.model_args is not None else args
        if source.model_args is None and _has_head(model):
            return _load_backbone_of_bare_file(model, path, source, name, args, headless)
        if donor_args == args and not headless:
            _load_weights_file(model, path, source, name, args)
            return model
        donor = registry._entry(name).builder(**donor_args)
        _load_weights_file(donor, path, source, name, donor_args)
    if not _has_head(donor) or donor.get_config() == model.get_config():
        try:
            model.set_weights(donor.get_weights())
        except ValueError as e:
            raise WeightsError(f"{source.description} does not fit {name!r}: {_first_line(e)}") from None
        if headless and verbose:
            print(f"Loaded {source.description} into a headless {name}: backbone only.")
        return model
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


def _load_backbone_of_bare_file(model, path, source, name, args, headless):
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
    if headless:
        print(f"Loaded {source.description} into a headless {name}: backbone only.")
    return model


def _load_weights_file(model, path, source, name, args):
    from keras_zoo.archive import check_weights_file

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


@dataclasses.dataclass(frozen=True)
class EncoderSource:
    """How a model takes the encoder of another, pretrained, model.

    Attributes:
        model: the model fine-tuned, e.g. `"bert_classifier"`.
        pretrained: the model whose weights it takes, e.g. `"bert_mini"`.
        args: `f(pretrained_args) -> args`: the architecture arguments of
            `model` that fit the pretrained encoder.
        load: `f(model, pretrained_model) -> names of the layers copied`.
    """

    model: str
    pretrained: str
    args: object
    load: object


_ENCODER_SOURCES = {}  # (model, pretrained model) -> EncoderSource


def register_encoder_source(model, pretrained, *, args, load):
    """Lets `weights=` of `model` be a run, file or weights of `pretrained`.

    `fit(model, ..., weights=...)` and `create_model(model, weights=...)`
    then build `model` with `args(pretrained's arguments)` (the dataset's
    and the user's arguments win) and copy the encoder with `load`; the
    rest (the head) starts fresh.

    Example:

    >>> register_encoder_source("bert_classifier", "bert_mini",
    ...                         args=bert.classifier_args, load=bert.load_encoder_weights)
    """
    entry = EncoderSource(model, pretrained, args, load)
    _ENCODER_SOURCES[(model, pretrained)] = entry
    return entry


def _load_encoder(model, source, name, *, headless=False, verbose=True):
    """Copies the encoder of `source` (a pretrained model's weights) into `model`."""
    from keras_zoo import training

    encoder = _ENCODER_SOURCES[(name, source.model)]
    if source.path.endswith(".keras"):
        pretrained = training.load_model(source.path)
    else:
        pretrained = registry._entry(source.model).builder(**(source.model_args or {}))
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


def freeze_backbone(model):
    """Makes every layer but the head untrainable; returns the number of frozen layers."""
    head = _head(model)
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
    head = _head(model)
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
        model = registry._entry(self.name).builder(**self.args)
        if self.source is not None:
            load_into(model, self.source, self.name, self.args)
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


def publish(run_dir, out_dir, *, name=None, url=None):
    """Writes a finished run's weights file and its entry into `out_dir`.

    The files are `<model>-<name>.weights.h5` and `<model>-<name>.json`
    (the entry: hash, metrics, recipe, architecture, versions, vocabulary),
    ready for `register_weights`, to ship in `keras_zoo/pretrained/`, or to
    host (pass the `url` it will have).

    Args:
        run_dir: a finished run folder.
        out_dir: where to write (created if needed).
        name: the weights name; default the run's dataset.
        url: where the file will be hosted, recorded in the entry.

    Returns:
        The `WeightsEntry`.
    """
    from keras_zoo import runs, training

    run_dir = os.fspath(run_dir)
    metrics_path = os.path.join(run_dir, runs.METRICS)
    if not os.path.isfile(os.path.join(run_dir, runs.CONFIG)):
        raise WeightsError(f"Not a run folder (no {runs.CONFIG}). Received: run_dir={run_dir!r}")
    if not os.path.isfile(metrics_path):
        raise WeightsError(
            f"The run has not finished (no {runs.METRICS}); rerun it to finish, then publish. "
            f"Received: run_dir={run_dir!r}")
    config = runs.read_json(os.path.join(run_dir, runs.CONFIG))
    model = training.load_model(run_dir)
    name = name or config["dataset"]
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        raise InvalidArgumentError(f"A weights name is a plain word. Received: name={name!r}")
    os.makedirs(out_dir, exist_ok=True)
    stem = f"{config['model']}-{name}"
    weights_path = os.path.join(out_dir, stem + WEIGHTS_SUFFIX)
    runs.atomic_write(weights_path, merge_lora(model).save_weights)
    vocabulary = None
    if os.path.isfile(os.path.join(run_dir, runs.VOCABULARY)):
        vocabulary = tuple(runs.read_vocabulary(os.path.join(run_dir, runs.VOCABULARY)))
    import keras_zoo

    recipe = {k: v for k, v in config.items() if k not in ("model", "model_args", "versions",
                                                            "data_dir", "distribution")}
    entry = WeightsEntry(
        model=config["model"], name=name, file=os.path.basename(weights_path),
        sha256=sha256_of(weights_path), dataset=config["dataset"],
        model_args=config.get("model_args") or {}, recipe=recipe,
        metrics=runs.read_json(metrics_path),
        versions={**config.get("versions", {}), "published_by_keras_zoo": keras_zoo.__version__},
        vocabulary=vocabulary, url=url, folder=os.path.abspath(out_dir))
    runs.write_json(os.path.join(out_dir, stem + ENTRY_SUFFIX), entry.to_dict())
    return entry
