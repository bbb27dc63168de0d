"""Weights entries: shipped and registered, the download cache, and what `weights=` names.

A weights entry is data: a JSON file (a small model card) beside its
`.weights.h5` file, naming the model and its builder arguments, the file's
sha256, the dataset, the recipe, the measured metrics and the versions that
made it. Entries shipped in the package live in `keras_zoo/weights/pretrained/`;
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

from keras_zoo.errors import InvalidArgumentError, WeightsError, unknown_name
from keras_zoo.models import registry

PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
ENTRY_SUFFIX = ".json"
WEIGHTS_SUFFIX = ".weights.h5"
TOKENIZER_SUFFIX = ".tokenizer.json"  # a subword tokenizer beside its weights, not an entry
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
        tokenizer: for subword data, the Hugging Face `tokenizer.json` shipped
            beside the weights (the same tokens as `vocabulary`, which rebuilds
            it: `keras_zoo.data.subword`), or None.
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
    tokenizer: str = None
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

    def tokenizer_path(self):
        """The `tokenizer.json` beside the entry, or None (no subword tokenizer)."""
        if self.tokenizer and self.folder:
            path = os.path.join(self.folder, self.tokenizer)
            return path if os.path.isfile(path) else None
        return None

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
            if file.endswith(ENTRY_SUFFIX) and not file.endswith(TOKENIZER_SUFFIX):
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
        from keras_zoo import runs

        run_dir = runs.run_dir_of(text) if text.endswith(".keras") else None
        if run_dir is not None:  # a run's model file: the run records its architecture
            return _check_model(dataclasses.replace(
                _run_source(run_dir, model), path=os.path.abspath(text), description=text), model)
        return Source(os.path.abspath(text), text)
    entry = _named_entry(model, text)
    return Source(entry_file(entry), f"{entry.model} weights {entry.name!r}", entry.model,
                  _tuples(dict(entry.model_args)), entry, entry.dataset, entry.vocabulary)


def _named_entry(model, name):
    """The weights `name` of `model`, else of a model whose encoder `model` takes.

    So `weights="stdlib_corpus"` of a `bert_classifier` names `bert_mini`'s
    shipped weights (see `register_encoder_source`).
    """
    pretrained = sorted(p for m, p in _ENCODER_SOURCES if m == model)
    known = []
    for candidate in [model] + pretrained:
        for entry in list_weights(candidate):
            if entry.name == name:
                return entry
            known.append(entry.name)
    return weights_entry(model, name) if not pretrained else _unknown(model, name, known)


def _unknown(model, name, known):
    raise unknown_name(f"weights name for model {model!r} (or its encoder's)", name,
                       sorted(set(known)))


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
    vocabulary = runs.run_vocabulary(folder)
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
