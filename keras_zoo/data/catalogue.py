"""Any tfds catalogue dataset by name: a `DatasetEntry` derived from the builder's info.

`catalogue_entry("svhn_cropped")` opens the tfds builder offline (its info
only: features, supervised keys, description; nothing is downloaded) and
returns the `DatasetEntry` the zoo's pipeline reads, the same dataclass as
the curated entries of `keras_zoo.data.entries`. Names are tfds's:
`"name"`, `"name/config"`, `"name:version"` or `"name/config:version"`.

What the zoo reads (classification only):

- the input: the builder's supervised keys `(input, target)` when it has
  them (a third key, sample weights, is not read); otherwise its first
  `Image` feature, else its one `Text` feature, identifiers (`id`,
  `filename`, `url`, ...) not counted; several text features (entailment,
  paraphrase, question and passage pairs) are refused, since which one is
  the input is not known. An `Image` of height x width x 1 or 3 channels
  (uint8; any size, also variable) gives kind `"image"`; a `Text` of
  strings gives kind `"text"`.
- the target: a scalar `ClassLabel` (the first one, without supervised keys).

Anything else (detection, segmentation, audio, video, translation pairs,
regression targets, images of other channel counts) is refused with one
`InvalidArgumentError` naming the features found.

Text is tokenised as the zoo's curated word-level text datasets are: word
tokens (whitespace split) after `"lower_and_strip_punctuation"`, a
vocabulary of at most 20,000 tokens (`max_tokens`, 0 = padding and 1 = OOV
included) adapted on the training split, the first 200 tokens of each text
kept (`sequence_length`, `keep_tokens="first"`) and shorter texts padded
after.

Splits never let validation read the test split, and the test split is used
for nothing but test. When the builder's splits are known (prepared, or
passed as `builder=` after downloading) the zoo takes its `train`,
`validation` and `test`, and carves what is missing with deterministic tfds
slices: train + test -> validation is the last 10% of train; train +
validation -> validation is the last 10% of train and the builder's
validation is the test split; train alone -> 80/10/10. A builder without a
`train` split trains on its largest other split (by examples, then name),
never on `test`; one with only a `test` split is refused. When the splits
are not known (not prepared, or under `tfds.testing.mock_data`), the entry
assumes train + test, the catalogue's usual case, and says so.
"""

import functools
import re

from keras_zoo import errors
from keras_zoo.data.entries import DATASETS, GENERIC_TEXT, DatasetEntry

SOURCE = "tfds catalogue"

# The zoo's tokenisation of catalogue text (see the module docstring).
TEXT_STANDARDIZE = GENERIC_TEXT["standardize"]
TEXT_MAX_TOKENS = GENERIC_TEXT["max_tokens"]
TEXT_SEQUENCE_LENGTH = GENERIC_TEXT["sequence_length"]
TEXT_KEEP_TOKENS = GENERIC_TEXT["keep_tokens"]

READS = "an Image or Text input and a ClassLabel target"

CATALOGUE_DESCRIPTION = (
    "Any TensorFlow Datasets catalogue name works too (https://www.tensorflow.org/datasets/"
    "catalog/overview), as name, name/config, name:version or name/config:version, e.g. "
    "svhn_cropped, tf_flowers, eurosat/rgb, ag_news_subset: the zoo reads classification "
    "data, an Image input (1 or 3 channels, any size) or a Text input, and a ClassLabel "
    "target, from the builder's supervised keys or else its first such features. Text is "
    f"lower-cased word tokens, a {TEXT_MAX_TOKENS:,}-token vocabulary adapted on the "
    f"training split, the first {TEXT_SEQUENCE_LENGTH} tokens kept. Splits are the "
    "builder's train/validation/test, what is missing carved from train (validation the "
    "last 10% of train when there is no validation split); the test split is only ever "
    "the test. Downloaded on first use; detection, segmentation, audio, video and "
    "translation datasets are refused."
)


def describe_catalogue():
    """A short paragraph for `keras-zoo datasets`: which tfds catalogue names work, and how.

    The same text is `CATALOGUE_DESCRIPTION`, a constant the CLI's generated
    catalog can copy without importing TensorFlow.
    """
    return CATALOGUE_DESCRIPTION


@functools.lru_cache(maxsize=1)
def catalogue_names():
    """The tfds catalogue's builder names, sorted (cached: about 0.5 s the first time).

    Community datasets are left out: listing them tries the network (10 s
    offline with tfds 4.9.10, for nothing), and they need packages and
    downloads the zoo does not have.
    """
    import tensorflow_datasets as tfds

    return tuple(sorted(tfds.list_builders(with_community_datasets=False)))


def _known_names():
    return sorted(set(DATASETS) | set(catalogue_names()))


def _open(name, data_dir):
    """The tfds builder of `name`, its info readable offline; user errors made one line."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import naming, registered

    from keras_zoo.data import folders

    if not isinstance(name, str) or not name.strip():
        raise errors.unknown_name("dataset", name, _known_names())
    try:
        dataset_name, kwargs = naming.parse_builder_name_kwargs(name)
    except ValueError:
        raise errors.InvalidArgumentError(
            f"Cannot read dataset name {name!r}: tfds catalogue names are name, name/config, "
            f"name:version or name/config:version, e.g. 'eurosat/rgb' or 'mnist:3.0.1'. "
            f"Received: dataset={name!r}") from None
    if dataset_name.namespace:
        raise errors.InvalidArgumentError(
            f"Dataset {name!r} is from the community namespace {dataset_name.namespace!r}; "
            f"the zoo reads the tfds catalogue's own datasets (a name such as "
            f"'svhn_cropped' or 'eurosat/rgb'). Received: dataset={name!r}")
    base = dataset_name.name
    try:
        return folders.open_builder(name, data_dir)
    except errors.ZooError:  # a bad data_dir or damaged metadata, already said
        raise
    except registered.DatasetNotFoundError:
        raise errors.unknown_name("dataset", name, _known_names()) from None
    except (ValueError, AssertionError) as error:
        message = " ".join(str(error).split())
        if "config" in kwargs and "BuilderConfig" in message:
            try:
                configs = tfds.builder_cls(base).builder_configs or {}
            except Exception:  # noqa: BLE001 - only to word the message
                configs = {}
            known = [f"{base}/{config}" for config in configs] or [base]
            raise errors.unknown_name("dataset", name, known) from None
        if "version" in kwargs and "version" in message:
            only = re.search(r"cannot be loaded at version \S+, only: (.*)", message)
            versions = only.group(1).rstrip(".") if only else "see the tfds catalogue"
            raise errors.InvalidArgumentError(
                f"Dataset {base!r} has no version {kwargs['version']!r}; its versions: "
                f"{versions}. Received: dataset={name!r}") from None
        raise _cannot_open(name, error) from None
    except Exception as error:  # noqa: BLE001 - tfds's builder code failed: said in one line
        raise _cannot_open(name, error) from None


def _cannot_open(name, error):
    """One line for a tfds builder whose code fails to open offline (tfds's words kept).

    Seen with tfds 4.9.10 offline: about 75 builders (the RLDS robotics
    datasets, asimov_*) read their metadata from Google Cloud Storage when
    constructed; a few import packages the zoo does not install (pandas);
    one misses a file in the tfds wheel.
    """
    message = " ".join(str(error).split())
    message = re.sub(r"Failed to construct dataset \"[^\"]*\", builder_kwargs \"[^\"]*\": ",
                     "", message)
    if len(message) > 300:
        message = message[:297] + "..."
    if isinstance(error, ModuleNotFoundError):
        return errors.InvalidArgumentError(
            f"tfds's builder of dataset {name!r} needs the Python package {error.name!r}, "
            f"which is not installed (pip install {error.name}). Received: dataset={name!r}")
    if re.search(r"resolve host|HTTP request|network|connect", message, re.IGNORECASE):
        return errors.DatasetNotAvailableError(
            f"tfds's builder of dataset {name!r} reads its metadata from the network, which "
            f"does not answer ({message}). Received: dataset={name!r}")
    return errors.InvalidArgumentError(
        f"tfds cannot open dataset {name!r}: {type(error).__name__}: {message} "
        f"Received: dataset={name!r}")


def _describe_feature(feature):
    """A feature's type in a few words: 'Image 32x32x3', 'ClassLabel 10 classes', 'Audio'."""
    import numpy as np
    import tensorflow_datasets as tfds

    kind = type(feature).__name__
    if isinstance(feature, tfds.features.Image):
        return f"Image {'x'.join('?' if d is None else str(d) for d in feature.shape)}"
    if isinstance(feature, tfds.features.ClassLabel):
        return f"ClassLabel {feature.num_classes} classes"
    if isinstance(feature, tfds.features.Tensor) and kind == "Tensor":
        shape = tuple(feature.shape)
        dtype = np.dtype(feature.np_dtype).name
        return f"Tensor {dtype}{' ' + str(shape) if shape else ''}"
    return kind


def _features_found(features, shown=12):
    items = [f"{key} ({_describe_feature(f)})" for key, f in features.items()]
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


# Text features that name or point at an example rather than hold its text.
_IDENTIFIER = re.compile(
    r"(^|[_/-])(id|ids|idx|uid|qid|key|hash|url|uri|path|file_?name|filepath)$", re.IGNORECASE)


def _refusal(name, features, found, why):
    """The one-line `InvalidArgumentError` for a builder the zoo cannot read."""
    return errors.InvalidArgumentError(
        f"Dataset {name!r} cannot be read by the zoo: {found}{'; ' + why if why else ''}. "
        f"The zoo reads {READS} (classification). Its features: {_features_found(features)}. "
        f"Received: dataset={name!r}")


def _input_problem(key, feature):
    """Why `feature` is not an input the zoo reads (None if it is): kind or a reason."""
    import numpy as np
    import tensorflow_datasets as tfds

    if isinstance(feature, tfds.features.Image):
        shape = tuple(feature.shape)
        if len(shape) != 3:
            return f"image {key!r} has {len(shape)} dimensions, not height x width x channels"
        if shape[-1] not in (1, 3):
            return (f"image {key!r} has {'unknown' if shape[-1] is None else shape[-1]} "
                    "channels, not 1 or 3")
        if np.dtype(feature.np_dtype) != np.uint8:
            return f"image {key!r} holds {np.dtype(feature.np_dtype).name}, not uint8 pixels"
        return None
    if isinstance(feature, tfds.features.Text):
        if getattr(feature, "encoder", None) is not None:
            return f"text {key!r} is already encoded as ids, not strings"
        return None
    return f"input {key!r} is {_describe_feature(feature)}, not an Image or Text"


def _target_problem(key, feature):
    import tensorflow_datasets as tfds

    if isinstance(feature, tfds.features.ClassLabel) and tuple(feature.shape) == ():
        return None
    return f"target {key!r} is {_describe_feature(feature)}, not a ClassLabel"


def _input_and_target(name, info):
    """`(kind, x_key, y_key)` read from the builder's info, or an `InvalidArgumentError`."""
    import tensorflow_datasets as tfds

    features = info.features
    keys = info.supervised_keys
    if keys is not None:
        # (input, target) or (input, target, sample weights): the weights are not read.
        pair = tuple(keys)[:2] if isinstance(keys, (tuple, list)) else ()
        if len(pair) != 2 or not all(isinstance(k, str) and k in features for k in pair):
            shown = repr(keys) if len(repr(keys)) <= 120 else repr(keys)[:117] + "..."
            raise _refusal(name, features, f"its supervised keys are {shown}",
                           "not one input feature and one target feature")
        x_key, y_key = pair
        found = (f"its supervised keys pair {x_key} ({_describe_feature(features[x_key])}) "
                 f"with {y_key} ({_describe_feature(features[y_key])})")
        why = _input_problem(x_key, features[x_key]) or _target_problem(y_key, features[y_key])
        if why:
            raise _refusal(name, features, found, why)
    else:
        images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
        texts = [k for k, f in features.items() if isinstance(f, tfds.features.Text)
                 and not _IDENTIFIER.search(k)]
        if not images and len(texts) > 1:
            raise _refusal(
                name, features, "it has no supervised keys and several text features "
                f"({', '.join(texts)})", "which one is the input is not known, and text "
                "pairs (entailment, paraphrase, question and passage) are not read")
        labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)
                  and tuple(f.shape) == ()]
        inputs = images or texts
        if not inputs or not labels:
            missing = " and ".join(what for what, present in (
                ("no Image or Text input", inputs), ("no ClassLabel feature", labels))
                if not present)
            raise _refusal(name, features, f"it has no supervised keys, {missing}", "")
        x_key, y_key = inputs[0], labels[0]
        why = _input_problem(x_key, features[x_key])
        if why:
            raise _refusal(name, features, "it has no supervised keys", why)
    kind = "image" if isinstance(features[x_key], tfds.features.Image) else "text"
    return kind, x_key, y_key


def _carve(name, splits):
    """`(train, validation, test, sentence)`: tfds split strings and the carve in words.

    `splits`: `{split name: number of examples}` of the builder, or empty
    when they are not known (then train + test is assumed).
    """
    if not splits:
        return ("train[:90%]", "train[90%:]", "test",
                ("splits assumed train and test (the builder's splits are not known until it "
                 "is prepared): validation is the last 10% of train; test is test"))
    has = set(splits)
    others = sorted((s for s in has if s not in ("train", "validation", "test")),
                    key=lambda s: (-(splits[s] or 0), s))
    if "train" in has:
        source, note = "train", ""
    elif others:
        source = others[0]
        note = f"it has no train split, so train is its largest split, {source!r}: "
    elif "validation" in has and "test" in has:
        source, note = "validation", "it has no train split, so train is its validation split: "
    elif "validation" in has:
        source, note = "validation", "it has only a validation split, carved: "
    else:
        raise errors.InvalidArgumentError(
            f"Dataset {name!r} has only the split(s) {', '.join(sorted(has))}: nothing to train "
            f"on that is not its test split. The zoo trains on a train split (or another split "
            f"that is not test). Received: dataset={name!r}")
    validation_kept = "validation" in has and source != "validation" and "test" in has
    if validation_kept:
        return (source, "validation", "test",
                f"{note}validation is validation; test is test")
    if "test" in has:
        test, test_words = "test", "test is test"
    elif "validation" in has and source != "validation":
        test, test_words = "validation", "test is its validation split (it has no test split)"
    else:
        return (f"{source}[:80%]", f"{source}[80%:90%]", f"{source}[90%:]",
                (f"{note}train is the first 80% of {source}, validation the next 10%; "
                f"test is the last 10% of {source}"))
    return (f"{source}[:90%]", f"{source}[90%:]", test,
            f"{note}validation is the last 10% of {source}; {test_words}")


def _first_sentence(text, name):
    """The first sentence of a tfds description, on one line (markdown links kept as text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text or "")  # [words](url) -> words
    text = " ".join(text.replace("#", " ").split())
    if not text:
        return f"The tfds dataset {name}."
    match = re.search(r"(?<!\b[A-Za-z])(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)[.!?](?=\s|$)", text)
    sentence = text[: match.end()] if match else text
    if len(sentence) > 300:
        sentence = sentence[:297].rsplit(" ", 1)[0] + "..."
    if sentence[-1] not in ".!?":
        sentence += "."
    return sentence


def catalogue_entry(name, data_dir=None, builder=None):
    """Returns the `DatasetEntry` of a tfds catalogue dataset, derived offline from its info.

    Args:
        name: a tfds name, `"name"`, `"name/config"`, `"name:version"` or
            `"name/config:version"`; the entry's `name` and `builder` are
            this string as given.
        data_dir: tfds data directory; `None` uses tfds's default.
        builder: an opened (e.g. prepared) tfds builder of `name`, whose
            known splits are used; `None` opens one, without downloading.

    Returns:
        A frozen `DatasetEntry` with `source="tfds catalogue"`.

    Raises:
        UnknownNameError: no tfds builder (or config) of that name; the
            closest names are suggested.
        InvalidArgumentError: a builder the zoo cannot read (not an Image or
            Text input with a ClassLabel target), a bad version, or one
            with only a test split.

    Example:

    >>> entry = catalogue_entry("svhn_cropped")
    >>> entry.kind, entry.x_key, entry.y_key, entry.validation_split
    ('image', 'image', 'label', 'train[90%:]')
    """
    if builder is None:
        builder = _open(name, data_dir)
    info = builder.info
    kind, x_key, y_key = _input_and_target(name, info)
    splits = {split: getattr(value, "num_examples", 0) for split, value in info.splits.items()}
    train, validation, test, carve = _carve(name, splits)
    sentences = [_first_sentence(info.description, name)]
    text = {}
    sentences.append(
        f"Input {x_key!r} ({_describe_feature(info.features[x_key])}), target {y_key!r} "
        f"({_describe_feature(info.features[y_key])}).")
    if kind == "text":
        text = {"max_tokens": TEXT_MAX_TOKENS, "standardize": TEXT_STANDARDIZE,
                "sequence_length": TEXT_SEQUENCE_LENGTH, "keep_tokens": TEXT_KEEP_TOKENS}
        sentences.append(
            f"Words lower-cased, a {TEXT_MAX_TOKENS}-word vocabulary adapted on the training "
            f"split, the first {TEXT_SEQUENCE_LENGTH} tokens of each text kept.")
    sentences.append(carve[0].upper() + carve[1:] + ".")
    return DatasetEntry(
        name=name,
        kind=kind,
        source=SOURCE,
        description=" ".join(sentences),
        train_split=train,
        validation_split=validation,
        test_split=test,
        x_key=x_key,
        y_key=y_key,
        builder=name,
        **text,
    )
