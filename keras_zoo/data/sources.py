"""The user's own data as dataset entries: image and text folders, arrays, `tf.data`.

`resolve(dataset)` turns whatever `fit`, `evaluate` and `load_dataset`
receive into a `DatasetEntry`: a zoo name (`DATASETS`), any tfds catalogue
name (`keras_zoo.data.catalogue`), a folder, `(x, y)` arrays or a
`tf.data.Dataset` of `(x, y)` examples. The user's data gets a `reader`, a
small stand-in for a tfds builder with the splits `train`, `validation` and
`test`, so the input pipeline reads it as it reads tfds data.

- **Image folder**: one sub-folder per class, as
  `keras.utils.image_dataset_from_directory` reads it (its file index and
  class names; png, jpg, gif and bmp files, others ignored). Every image is
  decoded once by a scan before training, which names a file that cannot be
  decoded and finds the size and channels.
- **Text folder**: one sub-folder per class of `.txt` files, read by
  `keras.utils.text_dataset_from_directory`.
- **Arrays** `(x, y)`: images `(N, H, W[, C])` (uint8 0..255, or float:
  `[0, 1]` when the largest value is at most 1, else 0..255), texts (an
  array of strings), token ids (an int array `(N, T)`, 0 = padding) or
  feature vectors (a float array `(N, D)`); labels ints (class ids) or
  strings (ids in sorted order, the names kept).
- **`tf.data.Dataset`** of `(x, y)` examples in the same forms (images may
  vary in size); a batched one is unbatched, said once.

Without `validation_data` / `test_data`, validation and test are carved
from the data: 10% of each class each (at least one example), chosen by a
seeded permutation, so the same seed gives the same carve; the carve is
said once and recorded in the run's `config.json` (`data.origin`), with the
data's fingerprint (a folder's file names, sizes and modification times,
or the arrays' bytes, hashed) so a resume on changed data is refused.
"""

import hashlib
import os
import types

import numpy as np

from keras_zoo import errors
from keras_zoo.data.entries import DATASETS, GENERIC_TEXT, DatasetEntry

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # image_dataset_from_directory's
TEXT_FORMATS = (".txt",)  # text_dataset_from_directory's
VALIDATION_FRACTION = TEST_FRACTION = 0.1
ROLES = ("train", "validation", "test")
# What `keras-zoo datasets` says of the user's data.
DESCRIPTION = (
    "Your own data works too: a folder with one sub-folder per class of images (png, jpg, "
    "gif, bmp) or of .txt files (keras-zoo train simple_cnn --dataset ./my_photos), and in "
    "Python (x, y) NumPy arrays (images, texts, token ids, feature vectors; int or string "
    "labels) or a tf.data.Dataset of (x, y) examples. Validation and test are carved from "
    "it, 10% of each class each, seeded; images of varying or large size are resized to "
    "the model family's size (--recipe image_size=N to choose)."
)
# Arrays and tensors of at most this many bytes are hashed for the run's fingerprint.
_FINGERPRINT_BYTES = 1 << 30


def is_path(dataset):
    """Whether `dataset` names a folder rather than a dataset.

    A `os.PathLike`, or a string that exists on disk, starts with `.`, `/`
    or `~`, or ends with a path separator. `"eurosat/rgb"` is a tfds name.
    """
    if isinstance(dataset, os.PathLike):
        return True
    if not isinstance(dataset, str):
        return False
    return (os.path.exists(dataset) or dataset.startswith((".", "/", "~"))
            or dataset.endswith(("/", os.sep)))


def resolve(dataset, *, data_dir=None, validation_data=None, test_data=None, seed=None,
            evaluation=False, class_names=None, trained_on=None):
    """Returns the `DatasetEntry` of what a user passed as a dataset.

    Args:
        dataset: a zoo or tfds catalogue name, a folder, `(x, y)` arrays, a
            `tf.data.Dataset` of `(x, y)` examples, or a `DatasetEntry`.
        data_dir: tfds data folder (names only).
        validation_data, test_data: the user's validation and test data in
            the same forms (not names); None carves them from `dataset`.
        seed: the carve's seed; None uses 0.
        evaluation: the data is all test data (`evaluate` on new data): no
            carve, every example in the `test` split.
        class_names: the classes, index = id, a trained model predicts
            (string labels and folders are numbered by them); None takes
            them from the data.
        trained_on: with `evaluation`, the `origin` a run recorded of its
            data: data with the same fingerprint is carved with the run's
            seed, as in training, instead of being all test data.

    Raises:
        UnknownNameError: a name that is neither the zoo's nor tfds's.
        InvalidArgumentError: data the zoo cannot read, said in one line.
    """
    if isinstance(dataset, DatasetEntry):
        return dataset
    if isinstance(dataset, str) and not is_path(dataset):
        _no_extra_splits(dataset, validation_data, test_data)
        if dataset in DATASETS:
            return DATASETS[dataset]
        from keras_zoo.data import catalogue

        return catalogue.catalogue_entry(dataset, data_dir)
    seed = 0 if seed is None else errors.check_int(seed, "seed", minimum=0)
    main = _source(dataset, "dataset")
    given = {"validation": validation_data, "test": test_data}
    others = {role: _source(value, f"{role}_data") for role, value in given.items()
              if value is not None}
    sources = [main, *others.values()]
    _check_same_kind(sources)
    if class_names is None:
        class_names = _merged_class_names(sources)
    for source in sources:
        source.set_class_names(class_names)
    if evaluation:
        if not _is_own_data(main, trained_on or {}):
            return _entry(main, {"test": main.everything()}, seed, carve=None)
        seed = trained_on.get("seed") or 0
    carve = [role for role in ("validation", "test") if role not in others]
    roles = _carve(main, carve, seed)
    splits = {role: main.subset(roles == index) for index, role in enumerate(ROLES)
              if role == "train" or role in carve}
    splits.update({role: source.everything() for role, source in others.items()})
    return _entry(main, splits, seed, carve=carve, others=others)


def _is_own_data(source, origin):
    """Whether `source` is the data a run recorded as `origin`, carved by the run alone."""
    fingerprint = origin.get("fingerprint")
    return (fingerprint is not None and fingerprint == source.origin.get("fingerprint")
            and not origin.get("validation_data") and not origin.get("test_data"))


def _no_extra_splits(name, validation_data, test_data):
    if validation_data is not None or test_data is not None:
        raise errors.InvalidArgumentError(
            "`validation_data` and `test_data` go with the user's own data (a folder, arrays "
            f"or a tf.data.Dataset); dataset {name!r} has its own splits. Received: "
            f"validation_data={type(validation_data).__name__}, "
            f"test_data={type(test_data).__name__}")


# --- Sources: the user's examples, their labels, and subsets by index -----------------


class _Source:
    """The user's examples: `labels` (ids), `class_names`, and `tf.data` subsets by mask.

    Attributes:
        kind: "image", "text" or "features".
        description: what the data is, for messages and the run's record.
        origin: the record kept in `config.json` (type, path, counts, fingerprint).
        image_shape: (H, W, C) with None for sizes that vary (images).
        token_ids: vocabulary size of token-id inputs, else None.
    """

    kind = None
    image_shape = None
    token_ids = None
    sequence_length = None
    feature_shape = None

    def set_class_names(self, names):
        """Numbers the labels by `names`, index = class id (string labels by name)."""
        self.class_names = tuple(names)
        if self.raw_labels.dtype.kind in "iu":
            self.labels = self.raw_labels.astype(np.int64)
            if len(self.labels) and self.labels.max() >= len(names):
                raise errors.InvalidArgumentError(
                    f"Class id {self.labels.max()} is out of range for the {len(names)} "
                    f"classes {list(names)[:10]}. Received: {_describe(self)}")
            return
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in self.raw_labels} - set(index))
        if unknown:
            raise errors.InvalidArgumentError(
                f"Classes {unknown[:10]} are not among the classes {list(names)[:20]}. "
                f"Received: {_describe(self)}")
        self.labels = np.array([index[str(v)] for v in self.raw_labels], np.int64)

    def everything(self):
        return self.subset(np.ones(len(self.raw_labels), bool))

    def subset(self, mask):
        raise NotImplementedError


class _ArraySource(_Source):
    """Examples held in NumPy arrays (arrays, a text folder, a read `tf.data`)."""

    def __init__(self, x, y, origin, described):
        """`described`: `_kind_of_array(x)`, computed once by the caller."""
        self.x, self.raw_labels, self.origin = x, y, origin
        self.kind, self.image_shape, self.token_ids, self.feature_shape = described
        if self.kind == "text" and self.token_ids:
            self.sequence_length = x.shape[1]
        self.given_names = None

    def subset(self, mask):
        import tensorflow as tf

        x, y = self.x[mask], self.labels[mask]
        return lambda: tf.data.Dataset.from_tensor_slices({"x": x, "label": y})


class _FileImageSource(_Source):
    """An image folder: file paths and labels, decoded when read."""

    kind = "image"

    def __init__(self, paths, labels, class_names, shape, origin):
        self.paths, self.raw_labels, self.given_names = paths, labels, class_names
        self.image_shape, self.origin = shape, origin

    def subset(self, mask):
        import tensorflow as tf

        paths, labels, channels = self.paths[mask], self.labels[mask], self.image_shape[2]
        fixed = self.image_shape if None not in self.image_shape else None

        def load(path, label):
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                       expand_animations=False)
            if fixed is not None:
                image = tf.ensure_shape(image, fixed)
            return {"x": image, "label": label}

        return lambda: tf.data.Dataset.from_tensor_slices((paths, labels)).map(
            load, num_parallel_calls=tf.data.AUTOTUNE)


def _source(value, what):
    """The `_Source` of a folder, `(x, y)` arrays or a `tf.data.Dataset`."""
    import tensorflow as tf

    if is_path(value):
        return _folder_source(value, what)
    if isinstance(value, tf.data.Dataset):
        return _tf_data_source(value, what)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        x, y = value
        return _array_source(x, y, what)
    if isinstance(value, str):
        raise errors.InvalidArgumentError(
            f"`{what}` must be a folder, (x, y) arrays or a tf.data.Dataset, not a dataset "
            f"name. Received: {what}={value!r}")
    raise errors.InvalidArgumentError(
        f"`{what}` must be a dataset name, a folder, a pair (x, y) of arrays or a "
        f"tf.data.Dataset of (x, y) examples. Received: {what} of type "
        f"{type(value).__name__}{_shape_words(value)}")


def _shape_words(value):
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f" with shape {tuple(shape)}"
    if isinstance(value, (tuple, list)):
        return f" of {len(value)} item(s)"
    return ""


def _as_array(value, what):
    """`value` as a NumPy array, refusing ragged lists and object arrays of mixed types."""
    try:
        array = np.asarray(value)
    except ValueError as error:  # a ragged nested list
        raise errors.InvalidArgumentError(
            f"`{what}` must be a rectangular array; a ragged list cannot be one ({error}). "
            f"Pad it, or pass a tf.data.Dataset. Received: {what} of type "
            f"{type(value).__name__} of {len(value)} item(s)") from None
    if array.dtype == object:
        if all(isinstance(v, (str, bytes)) for v in array.ravel()):
            return array.astype(str)
        raise errors.InvalidArgumentError(
            f"`{what}` must be an array of numbers or of strings; it holds other objects "
            f"(a ragged list?). Received: {what} with shape {array.shape}, dtype object")
    if array.dtype.kind == "S":
        array = array.astype(str)
    return array


def _kind_of_array(x, what):
    """`(kind, image_shape, token_ids, feature_shape)` of input array `x` (N, ...)."""
    shape = x.shape
    if x.dtype.kind == "U":
        if x.ndim != 1:
            raise errors.InvalidArgumentError(
                f"Texts must be a 1-D array of strings, one per example. Received: {what} "
                f"with shape {shape}")
        return "text", None, None, None
    if x.dtype.kind not in "iuf" or x.dtype == bool:
        raise errors.InvalidArgumentError(
            f"`{what}` must hold images, texts, token ids or feature vectors (numbers or "
            f"strings). Received: {what} with shape {shape}, dtype {x.dtype}")
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
        raise errors.InvalidArgumentError(
            f"`{what}` holds NaN or infinite values in {bad} example(s); clean them first. "
            f"Received: {what} with shape {shape}, dtype {x.dtype}")
    if x.ndim == 2 and x.dtype.kind in "iu":
        if x.size and x.min() < 0:
            raise errors.InvalidArgumentError(
                f"Token ids must be >= 0 (0 = padding). Received: {what} with shape {shape}, "
                f"smallest id {x.min()}")
        return "text", None, int(x.max()) + 1 if x.size else 2, None
    if x.ndim == 2:
        return "features", None, None, (shape[1],)
    if x.ndim == 3 or (x.ndim == 4 and shape[3] in (1, 3)):
        return "image", (*shape[1:3], shape[3] if x.ndim == 4 else 1), None, None
    raise errors.InvalidArgumentError(
        f"`{what}` has a shape the zoo does not read: images are (N, H, W) or (N, H, W, C) "
        f"with C 1 or 3, token ids (N, T) ints, feature vectors (N, D) floats, texts (N,) "
        f"strings. Received: {what} with shape {shape}, dtype {x.dtype}")


def _labels(y, what, count):
    y = _as_array(y, what)
    if y.ndim != 1:
        raise errors.InvalidArgumentError(
            f"Labels must be one class per example, a 1-D array of ints or strings. Received: "
            f"{what} with shape {y.shape}")
    if len(y) != count:
        raise errors.InvalidArgumentError(
            f"x and y must have one label per example. Received: {count} examples in x, "
            f"{len(y)} labels in y (shape {y.shape})")
    if y.dtype.kind in "iu":
        if len(y) and y.min() < 0:
            raise errors.InvalidArgumentError(
                f"Integer labels are class ids, >= 0. Received: smallest label {y.min()} in "
                f"{what} with shape {y.shape}")
        return y.astype(np.int64)
    if y.dtype.kind == "U":
        return y
    raise errors.InvalidArgumentError(
        f"Labels must be ints (class ids) or strings (class names). Received: {what} with "
        f"dtype {y.dtype}, e.g. {y[:3].tolist()}"
        + (" (cast class ids with y.astype(int))" if y.dtype.kind in "fb" else ""))


def _array_source(x, y, what):
    x = _as_array(x, f"{what}[0] (x)")
    y = _labels(y, f"{what}[1] (y)", len(x))
    if x.ndim == 0 or len(x) == 0:
        raise errors.InvalidArgumentError(
            f"`{what}` has no examples. Received: x with shape {x.shape}")
    described = _kind_of_array(x, f"{what}[0] (x)")
    kind = described[0]
    if kind == "image":
        if x.ndim == 3:
            x = x[..., None]
        if x.dtype.kind == "f":
            x = x.astype(np.float32) * (255.0 if x.max() <= 1.0 else 1.0)
        elif x.dtype != np.uint8:
            if x.min() < 0 or x.max() > 255:
                raise errors.InvalidArgumentError(
                    f"Integer images must hold 0..255. Received: {what}[0] (x) with values "
                    f"{x.min()}..{x.max()}, dtype {x.dtype}")
            x = x.astype(np.uint8)
    elif kind == "features":
        x = x.astype(np.float32)
    origin = {"type": "arrays", "examples": len(x), "x_shape": list(x.shape),
              "fingerprint": _hash_arrays(x, y)}
    return _ArraySource(x, y, origin, described)


def _hash_arrays(*arrays):
    if sum(a.nbytes for a in arrays) > _FINGERPRINT_BYTES:
        return None
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str((a.shape, a.dtype.str)).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def _tf_data_source(dataset, what):
    """A `tf.data.Dataset` of `(x, y)` examples, read once into arrays."""
    import tensorflow as tf

    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2
            and all(isinstance(s, tf.TensorSpec) for s in spec)):
        raise errors.InvalidArgumentError(
            f"A tf.data.Dataset must yield (x, y) examples, two tensors. Received: {what} "
            f"with element_spec {spec}")
    if spec[1].shape.rank == 1:  # labels (B,): batches of examples
        print(f"note: {what} is batched (labels of shape {spec[1].shape}); the zoo unbatches "
              "it and batches with the recipe's batch size.")
        dataset = dataset.unbatch()
        spec = dataset.element_spec
    if spec[1].shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"A tf.data.Dataset must yield (x, y) with y one class label (a scalar). Received: "
            f"{what} with element_spec {spec}")
    xs, ys = [], []
    for x, y in dataset.as_numpy_iterator():
        xs.append(x)
        ys.append(y.decode() if isinstance(y, bytes) else y)
    if not xs:
        raise errors.InvalidArgumentError(f"`{what}` has no examples. Received: {spec}")
    if spec[0].shape.rank in (2, 3) and spec[0].dtype != tf.string and \
            len({x.shape for x in xs}) > 1:
        x = _stack_images([x if x.ndim == 3 else x[..., None] for x in xs])
    else:
        x = _as_array([x.decode() if isinstance(x, bytes) else x for x in xs], what)
    source = _array_source(x, np.asarray(ys), what)
    source.origin = {**source.origin, "type": "tf.data"}
    if source.origin["fingerprint"] is None:
        print(f"note: {what} is too large to fingerprint; a resume cannot check that it is "
              "the same data.")
    return source


def _stack_images(images):
    """Images of different sizes as one array, each resized to the largest (bilinear)."""
    import tensorflow as tf

    height = max(i.shape[0] for i in images)
    width = max(i.shape[1] for i in images)
    print(f"note: the images vary in size; each is resized to {height}x{width} (the largest) "
          "before the model's size is applied.")
    return np.stack([tf.image.resize(i, (height, width)).numpy() for i in images])


def _folder_source(path, what):
    """An image folder or a text folder, one sub-folder per class."""
    root = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isdir(root):
        found = "a file" if os.path.exists(root) else "nothing"
        raise errors.InvalidArgumentError(
            f"`{what}` is a path, but {root!r} holds {found}; a folder with one sub-folder "
            f"per class is needed. Received: {what}={os.fspath(path)!r}")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and
                     not e.name.startswith("."))
    files = {c: sorted(_files_under(os.path.join(root, c))) for c in classes}
    images = sum(f.lower().endswith(IMAGE_FORMATS) for fs in files.values() for f in fs)
    texts = sum(f.lower().endswith(TEXT_FORMATS) for fs in files.values() for f in fs)
    if not classes or (images == 0 and texts == 0):
        raise errors.InvalidArgumentError(
            f"Folder {root!r} has {len(classes)} sub-folder(s) and no image "
            f"({', '.join(IMAGE_FORMATS)}) or text (.txt) file in them; one sub-folder per "
            f"class holding its files is needed. Received: {what}={os.fspath(path)!r}")
    if images and texts:
        raise errors.InvalidArgumentError(
            f"Folder {root!r} holds {images} image and {texts} text file(s); a folder holds "
            f"one kind. Received: {what}={os.fspath(path)!r}")
    formats = IMAGE_FORMATS if images else TEXT_FORMATS
    counts = {c: sum(f.lower().endswith(formats) for f in fs) for c, fs in files.items()}
    kind = "image" if images else "text"
    if len(classes) < 2:
        raise errors.InvalidArgumentError(
            f"Folder {root!r} has one class ({classes[0]!r}, {counts[classes[0]]} {kind} "
            f"file(s)); classification needs at least two sub-folders. Received: "
            f"{what}={os.fspath(path)!r}")
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise errors.InvalidArgumentError(
            f"Class folder(s) {', '.join(repr(c) for c in empty)} of {root!r} hold no {kind} "
            f"file; remove them or add files. Received: {what}={os.fspath(path)!r}")
    paths = [os.path.join(root, c, f) for c in classes for f in files[c]
             if f.lower().endswith(formats)]
    origin = {"type": f"{kind} folder", "path": root, "files": len(paths),
              "fingerprint": fingerprint(paths)}
    if kind == "text":
        return _text_folder(root, classes, origin, what)
    return _image_folder(root, classes, origin, what)


def _files_under(folder):
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            yield os.path.relpath(os.path.join(parent, name), folder)


def fingerprint(paths):
    """A hash of the files' names, sizes and modification times (no content is read)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = os.stat(path)
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _image_folder(root, classes, origin, what):
    import keras

    dataset = keras.utils.image_dataset_from_directory(
        root, class_names=classes, batch_size=None, shuffle=False, verbose=False)
    paths = np.array(dataset.file_paths)
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[os.path.relpath(p, root).split(os.sep)[0]] for p in paths],
                      np.int64)
    shape = scan_images(paths, what)
    return _FileImageSource(paths, labels, tuple(classes), shape, origin)


def scan_images(paths, what="dataset"):
    """Decodes every image once; returns `(H, W, C)` (None for sizes that vary).

    A file that cannot be decoded is named; C is 3 if any image has colour.
    """
    import tensorflow as tf

    def shape_of(path):
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return path, tf.shape(image)

    # Read back in batches: one element at a time cost 8x (scripts/folder_scan_benchmark.py).
    scanned = tf.data.Dataset.from_tensor_slices(paths).map(
        shape_of, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    shapes = {p.decode(): tuple(s) for batch_paths, batch_shapes in
              scanned.batch(1024).as_numpy_iterator()
              for p, s in zip(batch_paths, batch_shapes)}
    bad = [p for p in paths if p not in shapes]
    if bad:
        raise errors.InvalidArgumentError(
            f"{len(bad)} image file(s) cannot be decoded, e.g. {str(bad[0])!r}; remove or replace "
            f"them. Received: {what} with {len(paths)} image file(s)")
    sizes = {s[:2] for s in shapes.values()}
    channels = 1 if all(s[2] == 1 for s in shapes.values()) else 3
    height, width = sizes.pop() if len(sizes) == 1 else (None, None)
    return (height, width, channels)


def _text_folder(root, classes, origin, what):
    import keras

    dataset = keras.utils.text_dataset_from_directory(
        root, class_names=classes, batch_size=None, shuffle=False, verbose=False)
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8", errors="replace"))
        labels.append(label)
    source = _ArraySource(np.array(texts, dtype=str), np.array(labels, np.int64), origin,
                          ("text", None, None, None))
    source.given_names = tuple(classes)
    return source


# --- Several sources, their classes and the carve ---------------------------------------


def _check_same_kind(sources):
    kinds = {(s.kind, s.image_shape and s.image_shape[2]) for s in sources}
    if len(kinds) > 1:
        raise errors.InvalidArgumentError(
            "`dataset`, `validation_data` and `test_data` must hold the same kind of data. "
            f"Received: {', '.join(_describe(s) for s in sources)}")


def _merged_class_names(sources):
    """The class names, index = class id: a folder's, string labels sorted, or ids."""
    first = sources[0]
    names = first.given_names
    if names is None and first.raw_labels.dtype.kind == "U":
        names = tuple(sorted({str(v) for s in sources for v in s.raw_labels}))
    if names is None:
        top = max(int(s.raw_labels.max()) for s in sources)
        if any(s.raw_labels.dtype.kind == "U" for s in sources):
            raise errors.InvalidArgumentError(
                "Labels must be all ints or all strings across dataset, validation_data and "
                "test_data. Received: both")
        return tuple(str(i) for i in range(top + 1))
    for source in sources[1:]:
        theirs = source.given_names or tuple(sorted({str(v) for v in source.raw_labels}))
        unknown = sorted(set(theirs) - set(names))
        if unknown:
            raise errors.InvalidArgumentError(
                f"Classes {unknown} are not among the training data's classes {list(names)}. "
                f"Received: {_describe(source)}")
        if source.given_names is not None:  # a folder's ids, re-numbered by name
            source.raw_labels = np.array(source.given_names)[source.raw_labels]
    return tuple(names)


def _carve(source, roles, seed):
    """Assigns each example a role index (0 train, 1 validation, 2 test), per class."""
    labels = source.labels
    assignment = np.zeros(len(labels), np.int8)
    rng = np.random.default_rng(seed)
    needed = 1 + len(roles)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < needed:
            raise errors.InvalidArgumentError(
                f"Class {source.class_names[label]!r} has {len(members)} example(s); carving "
                f"{' and '.join(roles)} from the data needs at least {needed} per class. Add "
                "examples, or pass validation_data/test_data. Received: "
                f"{_describe(source)}")
        members = rng.permutation(members)
        start = 0
        for role in roles:
            fraction = VALIDATION_FRACTION if role == "validation" else TEST_FRACTION
            count = max(1, round(fraction * len(members)))
            assignment[members[start:start + count]] = ROLES.index(role)
            start += count
    return assignment


def _describe(source):
    origin = source.origin
    where = origin.get("path") or f"{origin['examples']} examples"
    return f"{origin['type']} {where} ({source.kind})"


# --- The entry ----------------------------------------------------------------------------


class _Reader:
    """A stand-in for a tfds builder over the user's data: `info` and `as_dataset`."""

    def __init__(self, features, splits, description):
        self._splits = splits
        self.info = types.SimpleNamespace(
            features=features, description=description,
            splits={role: None for role in splits})
        self.data_dir = None

    def as_dataset(self, split, shuffle_files=False):
        if split not in self._splits:
            raise errors.InvalidArgumentError(
                f"The user's data has the splits {', '.join(self._splits)} (no slicing). "
                f"Received: split={split!r}")
        return self._splits[split]()


def _entry(main, splits, seed, carve, others=None):
    """The `DatasetEntry` of the user's data, read through a `_Reader`."""
    import tensorflow_datasets as tfds

    names = main.class_names
    features = {"label": tfds.features.ClassLabel(names=list(names))}
    if main.kind == "image":
        features["x"] = tfds.features.Image(shape=main.image_shape)
    elif main.kind == "features":
        features["x"] = tfds.features.Tensor(shape=main.feature_shape, dtype=np.float32)
    else:
        features["x"] = tfds.features.Text()
    carved = ""
    if carve:
        carved = (f"; {' and '.join(carve)} carved from it, {VALIDATION_FRACTION:.0%} of each "
                  f"class each, seed {seed}")
    origin = {**main.origin, "class_names": list(names), "carve": carve, "seed": seed,
              **{f"{role}_data": other.origin for role, other in (others or {}).items()}}
    description = f"{_describe(main)}{carved}"
    text = GENERIC_TEXT if main.kind == "text" and not main.token_ids else {}
    return DatasetEntry(
        name=origin.get("path") or origin["type"],
        kind=main.kind,
        source=origin["type"],
        description=description,
        train_split="train" if "train" in splits else "test",
        validation_split="validation" if "validation" in splits else "test",
        test_split="test",
        x_key="x",
        y_key="label",
        **text,
        **({"sequence_length": main.sequence_length} if main.token_ids else {}),
        token_ids=main.token_ids,
        reader=_Reader(features, splits, description),
        origin=origin,
    )

