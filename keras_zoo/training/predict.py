"""`predict`: a trained classifier on new images or texts, prepared exactly as in training.

What a model reads is decided by its run, never guessed from the inputs:

- The run folder's `config.json`: its `"data"` record (kind, class names,
  text settings) where the run wrote one, else its `"dataset"` through the
  dataset entry (`keras_zoo.data.entries.DATASETS`) and the class names of
  the tfds builder's `ClassLabel` (offline builders need no download).
- The run's `vocabulary.txt` for text (`runs.run_vocabulary`).
- The model's input shape for images: height, width and channels.

A bare `.keras` file (or a `keras.Model`) outside a run folder has no run to
read: images only, its classes named by their indices (`"0"`, `"1"`, ...).

Images are decoded with `tf.io.decode_image(channels=C,
expand_animations=False)` (PNG, JPEG, GIF's first frame, BMP), resized to the
model's height and width with `tf.image.resize` (bilinear, as
`keras.utils.image_dataset_from_directory`) when their size differs, and
scaled by 1/255 by the training pipeline's own function
(`keras_zoo.data.pipeline.scale_images`). Arrays follow one rule: integers are
pixel values 0..255; floats whose maximum is at most 1 are taken as [0, 1]
(multiplied by 255 first), other floats as 0..255. Texts become token ids
through the pipeline's `text_to_ids`, with the run's vocabulary and the dataset's
standardisation, split, sequence length and kept tokens.
"""

import csv
import dataclasses
import io
import os
import re

import keras
import numpy as np

from keras_zoo import runs
from keras_zoo._quiet import quiet_native_logs
from keras_zoo.data import folders, pipeline
from keras_zoo.data.entries import DATASETS, DatasetEntry
from keras_zoo.errors import InvalidArgumentError, check_positive_int
from keras_zoo.models import registry
from keras_zoo.runs import load_model, run_dir_of
from keras_zoo.training.compile import outputs_logits

# The tasks `predict` reads: a model that outputs one probability per class.
CLASSIFYING_TASKS = ("classification", "image_classification", "text_classification")
# The files a folder is searched for, as `keras.utils.image_dataset_from_directory`
# and `text_dataset_from_directory` list them (the suffix in any case).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_SUFFIXES = (".txt",)
DEFAULT_BATCH_SIZE = 32
_CHUNK = 4096  # inputs decoded and predicted at a time, so a large folder fits in memory


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A classifier's answer for one input.

    Attributes:
        input: the file's path, or the position of the input in the list or
            array given (texts, arrays).
        top: `((class_name, probability), ...)`, most likely first; `top`
            of `predict` decides how many.
    """

    input: object
    top: tuple

    @property
    def label(self):
        """The most likely class's name."""
        return self.top[0][0]

    @property
    def probability(self):
        """The most likely class's probability."""
        return self.top[0][1]


@dataclasses.dataclass(frozen=True)
class _Reading:
    """How a model's inputs are made: image or text, classes, vocabulary."""

    kind: str  # "image", "text" or "features"
    class_names: tuple
    entry: DatasetEntry = None  # text: the settings the pipeline's vectoriser reads
    vocabulary: tuple = None
    problem: str = None  # text: why texts cannot be read (token-id arrays still can)


@quiet_native_logs
def predict(run_or_model, inputs, *, top=1, batch_size=None, safe_mode=True):
    """Classifies new images or texts with a trained classifier.

    Args:
        run_or_model: a run folder, a `.keras` file (in a run folder, the
            run's settings are used) or a `keras.Model` (images only).
            Image and text classifiers; GANs and language models are
            refused (use `keras-zoo generate`).
        inputs: for an image classifier: an image file path, a folder
            (every `.png`, `.jpg`, `.jpeg`, `.gif` and `.bmp` file in it and
            its sub-folders, sorted by path), a list of those, or an array
            `(N, H, W)` or `(N, H, W, C)` (integers 0..255; floats in
            [0, 1] when their maximum is at most 1, else 0..255). For a text
            classifier: a list of texts (`str`), a NumPy array of strings,
            or a path (`str` alone, or `os.PathLike` inside a list) of a
            `.txt` file (one example per file, as
            `keras.utils.text_dataset_from_directory` reads them) or a
            folder of them. Images of another size are resized (bilinear);
            grey and colour follow the model's channels.
        top: how many classes to return per input, most likely first
            (at most the number of classes); None for every class.
        batch_size: inference batch size; None for the run's (else 32).
        safe_mode: see `load_model`.

    Returns:
        A list of `Prediction(input, top)`, one per input, in order (a
        folder's files in place, sorted); `prediction.label` and
        `prediction.probability` are the most likely class. Probabilities
        are the model's softmax (applied here when it outputs logits).

    Raises:
        InvalidArgumentError: not a classifier, a missing or undecodable
            file, an empty folder, an array of the wrong shape or range, or
            texts for an image model (or the reverse).

    Example:

    >>> [p.label for p in predict("runs/digits-cnn", ["seven.png", "digits/"])]
    ['7', '3', '0', ...]
    """
    if top is not None:
        top = check_positive_int(top, "top")
    check_positive_int(batch_size, "batch_size", allow_none=True)
    model, run_dir = _load(run_or_model, safe_mode)
    _check_classifier(model, run_or_model)
    reading = _reading(model, run_dir, run_or_model)
    if batch_size is None:
        batch_size = _run_batch_size(run_dir)
    items = _items(inputs, reading.kind)
    return _predict_items(model, reading, items, top, batch_size)


def write_csv(predictions, path):
    """Writes predictions as CSV (`input,rank,class,probability`, one row per class kept).

    Atomically: a temporary file in the same folder, then `os.replace`, so
    `path` holds the old file or the whole new one.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["input", "rank", "class", "probability"])
    for prediction in predictions:
        for rank, (name, probability) in enumerate(prediction.top, 1):
            writer.writerow([prediction.input, rank, name, f"{probability:.6g}"])
    runs.atomic_write_text(os.fspath(path), buffer.getvalue())


# --- the model and its run ---------------------------------------------------------------


def _load(run_or_model, safe_mode):
    if isinstance(run_or_model, keras.Model):
        return run_or_model, None
    model = load_model(run_or_model, safe_mode=safe_mode)  # checks the path and the file
    return model, run_dir_of(run_or_model)


def _task(model):
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        return "image_generation"
    if model.name in registry.list_models():
        return registry.model_info(model.name).task
    return "classification" if len(model.outputs[0].shape) == 2 else "language_modeling"


def _check_classifier(model, source):
    task = _task(model)
    if task in CLASSIFYING_TASKS and len(model.inputs) == 1:
        return
    what = task.replace("_", " ")
    if task in ("image_generation", "language_modeling"):
        way = "sample from it with `keras-zoo generate`"
    elif task in CLASSIFYING_TASKS:
        way = f"it reads {len(model.inputs)} inputs, not one image or text"
    else:
        way = "score it with `keras-zoo evaluate` (`keras-zoo generate` samples GANs and " \
              "language models)"
    shown = source if not isinstance(source, keras.Model) else model.name
    raise InvalidArgumentError(
        f"predict classifies images or texts with an image or text classifier; model "
        f"{model.name!r} is a {what} model: {way}. Received: run_or_model={shown!r}")


def _run_batch_size(run_dir):
    if run_dir is None:
        return DEFAULT_BATCH_SIZE
    size = runs.read_config(run_dir).get("batch_size")
    return size if isinstance(size, int) and size > 0 else DEFAULT_BATCH_SIZE


def _model_kind(model):
    shape = model.inputs[0].shape
    if len(shape) == 4:
        return "image"
    if len(shape) == 2:
        return "text" if "int" in str(model.inputs[0].dtype) else "features"
    raise InvalidArgumentError(
        f"predict reads image models (input (H, W, C)), text models (input token ids) and "
        f"feature-vector models (input (D,)); model {model.name!r} takes inputs of shape "
        f"{tuple(shape)[1:]}.")


def _reading(model, run_dir, source):
    """What the model reads, from the run's `"data"` record, else its dataset entry."""
    kind = _model_kind(model)
    config = runs.read_config(run_dir, way_out="restore it from the run's command") \
        if run_dir else {}
    record = config.get("data") if isinstance(config.get("data"), dict) else {}
    entry = DATASETS.get(config.get("dataset"))
    num_classes = model.outputs[0].shape[-1]
    names = record.get("class_names") or _builder_class_names(entry, config)
    if not isinstance(names, (list, tuple)) or len(names) != num_classes:
        names = [str(i) for i in range(num_classes)]  # a bare file, or another head
    names = tuple(str(name) for name in names)
    if kind != "text":
        return _Reading(kind, names)
    # Token ids in an int array need nothing more; texts need the run's vocabulary and
    # settings, checked when texts come (`_dataset`).
    vocabulary = runs.run_vocabulary(run_dir) if run_dir else None
    text = record.get("text") if isinstance(record.get("text"), dict) else None
    problem = None
    if vocabulary is None:
        problem = (f"texts become token ids with the run folder's {runs.VOCABULARY}; "
                   + ("this run has none" if run_dir
                      else "the model file is not in a run folder: give the run folder"))
    elif text is None and entry is None:
        problem = (f"the run's dataset {config.get('dataset')!r} is not one the zoo knows and "
                   f"its config.json has no \"data\" record, so how its texts became token "
                   f"ids is unknown")
    else:
        entry = _text_entry(entry, text, config.get("dataset"))
        length = model.inputs[0].shape[1]
        if length is not None and entry.sequence_length != length:
            raise InvalidArgumentError(
                f"The run's texts were cut to {entry.sequence_length} tokens but model "
                f"{model.name!r} reads {length}. Received: run_or_model={_shown(source)!r}")
    if problem is not None:
        return _Reading("text", names, problem=f"{problem}. Received: "
                        f"run_or_model={_shown(source)!r}")
    return _Reading("text", names, entry, tuple(vocabulary))


def _shown(source):
    return source.name if isinstance(source, keras.Model) else os.fspath(source)


def _builder_class_names(entry, config):
    """The dataset's class names from its tfds builder's `ClassLabel`, or None."""
    if entry is None or entry.y_key is None:
        return None
    try:
        feature = folders.open_builder(entry.builder_name, config.get("data_dir")) \
            .info.features[entry.y_key]
        return list(feature.names)
    except Exception:  # noqa: BLE001  names are a courtesy; indices do without them
        return None


def _text_entry(entry, text, dataset):
    """A text `DatasetEntry` carrying the run's text settings, for the pipeline's vectoriser."""
    if entry is None:
        entry = DatasetEntry(name=str(dataset or "run"), kind="text", source="run",
                             description="", train_split="train", validation_split="train",
                             test_split="train")
    if text is not None:
        fields = {key: text[key] for key in ("standardize", "split", "sequence_length",
                                             "keep_tokens") if key in text}
        entry = dataclasses.replace(entry, kind="text", **fields)
    return entry


# --- the inputs ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Item:
    label: object  # what `Prediction.input` shows: the path, or the position given
    value: object  # a path (`file`), a text, or an image array row
    file: bool


def _items(inputs, kind):
    """The inputs as `_Item`s, in order: files (folders expanded), texts or array rows."""
    if isinstance(inputs, np.ndarray):
        if kind == "text" and inputs.dtype.kind in "iu" and inputs.ndim == 2:
            return _nonempty([_Item(i, row, False) for i, row in enumerate(inputs)])  # ids
        if kind == "text":
            if inputs.dtype.kind not in "USO" or inputs.ndim != 1:
                raise InvalidArgumentError(
                    "A text model reads a 1-D array of strings, or token ids (N, T) as "
                    f"integers. Received: an array of shape {inputs.shape} and dtype "
                    f"{inputs.dtype}")
            return _nonempty([_Item(i, _text(v, i), False)
                              for i, v in enumerate(inputs.tolist())])
        if kind == "features":
            if inputs.dtype.kind not in "uif" or inputs.ndim != 2:
                raise InvalidArgumentError(
                    "A feature-vector model reads a numeric array (N, D). Received: an array "
                    f"of shape {inputs.shape} and dtype {inputs.dtype}")
            return _nonempty([_Item(i, row, False) for i, row in enumerate(inputs)])
        return _nonempty([_Item(i, row, False) for i, row in enumerate(_image_array(inputs))])
    if kind == "features":
        raise InvalidArgumentError(
            "A feature-vector model reads a NumPy array (N, D) of numbers. Received: "
            f"inputs={inputs!r}"[:300])
    as_path = isinstance(inputs, (str, os.PathLike))  # a string alone is a path, always
    if as_path:
        inputs = [inputs]
    elif not isinstance(inputs, (list, tuple)):
        raise InvalidArgumentError(
            "`inputs` must be a path, a list of paths (or of texts, for a text model) or "
            f"a NumPy array. Received: inputs={inputs!r}"[:300])
    items = []
    for position, value in enumerate(inputs):
        if kind == "text" and isinstance(value, str) and not as_path:
            items.append(_Item(position, _text(value, position), False))
        elif isinstance(value, (str, os.PathLike)):
            items.extend(_Item(path, path, True) for path in _files(os.fspath(value), kind))
        else:
            what = "texts (str) or paths" if kind == "text" else "image paths"
            raise InvalidArgumentError(
                f"`inputs` must hold {what}; item {position} is a {type(value).__name__}. "
                f"Received: inputs[{position}]={value!r}"[:300])
    return _nonempty(items)


def _nonempty(items):
    if not items:
        raise InvalidArgumentError("No inputs to predict. Received: inputs=[]")
    return items


def _text(value, position):
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = None
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"Texts must be strings (UTF-8). Received: inputs[{position}]={value!r}"[:300])
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from a terminal arrive as surrogates
        raise InvalidArgumentError(
            f"Text {position} is not valid UTF-8; pass UTF-8 text. "
            f"Received: inputs[{position}]={ascii(value)[:200]}") from None
    return value


def _files(path, kind):
    """The file `path`, or the sorted files of the folder `path` that `kind` reads."""
    suffixes = IMAGE_SUFFIXES if kind == "image" else TEXT_SUFFIXES
    if os.path.isdir(path):
        found = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            found.extend(os.path.join(root, n) for n in sorted(names)
                         if n.lower().endswith(suffixes))
        if not found:
            raise InvalidArgumentError(
                f"The folder holds no {'image' if kind == 'image' else 'text'} files "
                f"({', '.join(suffixes)}; its sub-folders searched too). Received: "
                f"path={path!r}")
        return sorted(found)
    if not os.path.exists(path):
        hint = (" To classify a text itself, pass it in a list: predict(run, [text])"
                " (CLI: --text TEXT)." if kind == "text" else
                " The model is an image classifier: it reads image files, folders and arrays "
                "(texts, CLI --text, need a text classifier).")
        raise InvalidArgumentError(f"No such file or folder.{hint} Received: path={path!r}")
    if kind == "text" and not path.lower().endswith(TEXT_SUFFIXES):
        raise InvalidArgumentError(
            "A text model reads .txt files (one example per file, as "
            "text_dataset_from_directory reads them), or texts given as strings "
            f"(CLI: --text). Received: path={path!r}")
    return [path]


def _read_bytes(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgumentError(
            f"Cannot read the {what} file ({e.strerror}). Received: path={path!r}") from None


def _image_array(array):
    """`(N, H, W[, C])` pixels (see the module docstring) as float32 0..255 `(N, H, W, C)`."""
    if array.dtype.kind not in "uif" or array.ndim not in (3, 4):
        raise InvalidArgumentError(
            "Images must be a numeric array (N, H, W) or (N, H, W, C). Received: an array "
            f"of shape {array.shape} and dtype {array.dtype}")
    if array.ndim == 3:
        array = array[..., None]
    if array.size:
        low, high = float(np.min(array)), float(np.max(array))
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
            raise InvalidArgumentError(
                "Image values must be pixels 0..255, or floats in [0, 1]. Received: values "
                f"from {low:g} to {high:g}")
        if array.dtype.kind == "f" and high <= 1:
            array = array * 255.0
    return array.astype("float32")


def _image_shape(model):
    _, height, width, channels = model.inputs[0].shape
    if channels not in (1, 3) or height is None or width is None:
        raise InvalidArgumentError(
            f"predict reads images of a fixed size, grey (1 channel) or colour (3); model "
            f"{model.name!r} takes inputs of shape {(height, width, channels)}.")
    return height, width, channels


def _decoded(path, channels):
    """A file's image, `tf.io.decode_image(channels=C, expand_animations=False)`, as float32."""
    import tensorflow as tf

    raw = _read_bytes(path, "image")
    try:
        image = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    except (tf.errors.OpError, ValueError) as e:
        reason = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", str(getattr(e, "message", e)))
        reason = " ".join(reason.split())[:200]  # TensorFlow's words, its op names left out
        raise InvalidArgumentError(
            f"Cannot decode the image (PNG, JPEG, GIF or BMP expected: {reason}). "
            f"Received: path={path!r}") from None
    return tf.cast(image, tf.float32)[None]


def _fitted(images, shape):
    """`(N, h, w, c)` float pixels to the model's `(N, H, W, C)`: channels, then size."""
    import tensorflow as tf

    height, width, channels = shape
    have = images.shape[-1]
    if have == 4 and channels != 4:  # RGBA: alpha dropped, as decode_image(channels=3) does
        images, have = images[..., :3], 3
    if have == 1 and channels == 3:
        images = tf.image.grayscale_to_rgb(images)
    elif have == 3 and channels == 1:
        images = tf.image.rgb_to_grayscale(images)
    elif have != channels:
        raise InvalidArgumentError(
            f"The images have {have} channels; the model reads {channels} (arrays of 1, 3 "
            f"or 4 channels are converted). Received: an array of shape {tuple(images.shape)}")
    if tuple(images.shape[1:3]) != (height, width):  # as image_dataset_from_directory
        images = tf.image.resize(images, (height, width), method="bilinear")
    return np.asarray(images, dtype="float32")


# --- inference -----------------------------------------------------------------------------

def _dataset(model, reading, chunk, batch_size):
    """One chunk of inputs through the training pipeline's per-batch map."""
    import tensorflow as tf

    if reading.kind == "image":
        shape = _image_shape(model)
        if chunk[0].file:
            pixels = np.concatenate([_fitted(_decoded(item.value, shape[2]), shape)
                                     for item in chunk])
        else:
            pixels = _fitted(np.stack([item.value for item in chunk]), shape)
        dataset = tf.data.Dataset.from_tensor_slices(pixels).batch(batch_size)
        return dataset.map(pipeline.scale_images)  # as training: by 1/255
    if isinstance(chunk[0].value, np.ndarray):  # token ids or feature vectors, as given
        values = np.stack([item.value for item in chunk])
        width = model.inputs[0].shape[1]
        if width is not None and values.shape[1] != width:
            what = "token ids" if reading.kind == "text" else "features"
            raise InvalidArgumentError(
                f"Model {model.name!r} reads {width} {what} per example. Received: an array "
                f"of shape {(len(chunk),) + values.shape[1:]}")
        dtype = "int32" if reading.kind == "text" else "float32"
        return tf.data.Dataset.from_tensor_slices(values.astype(dtype)).batch(batch_size)
    if reading.problem:
        raise InvalidArgumentError(f"Cannot read texts: {reading.problem}")
    to_ids = pipeline.text_to_ids(reading.entry, reading.vocabulary)  # as training
    texts = [_read_text(item.value) if item.file else item.value for item in chunk]
    return tf.data.Dataset.from_tensor_slices(texts).batch(batch_size).map(to_ids)


def _read_text(path):
    raw = _read_bytes(path, "text")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(
            f"The text file is not UTF-8 text. Received: path={path!r}") from None
    return raw


def _predict_items(model, reading, items, top, batch_size):
    logits = outputs_logits(model)
    names = reading.class_names
    keep = len(names) if top is None else min(top, len(names))
    predictions = []
    for start in range(0, len(items), _CHUNK):
        chunk = items[start:start + _CHUNK]
        scores = np.asarray(model.predict(_dataset(model, reading, chunk, batch_size),
                                          verbose=0), dtype="float64")
        if logits:
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
        for item, row in zip(chunk, scores):
            order = np.argsort(-row, kind="stable")[:keep]
            predictions.append(Prediction(item.label, tuple((names[i], float(row[i]))
                                                            for i in order)))
    return predictions
