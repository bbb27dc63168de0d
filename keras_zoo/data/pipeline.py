"""Input pipelines: tfds examples to batched `tf.data.Dataset`s.

Order, after the Flax examples: read, decode in a parallel map, cache,
shuffle with a seed (training only, reshuffled each epoch), augment, batch,
finish each batch in a parallel map (scale images to [0, 1], turn text into
token ids), prefetch. Images are cached as uint8 and scaled per batch, so the
cache holds 4x less than float32 and the scaling runs once per batch.
"""

import concurrent.futures
import contextlib
import dataclasses
import functools
import io
import re
import socket

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_zoo import errors
from keras_zoo._quiet import quiet_native_logs
from keras_zoo.data import folders, offline, sources, subword
from keras_zoo.data.entries import DATASETS, KIND_DESCRIPTIONS, DatasetSpec

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_SEED = 0
# Where tfds downloads most datasets from; a connection in a few seconds
# tells whether downloading can work at all.
_PROBE_ADDRESS = ("storage.googleapis.com", 443)
_PROBE_TIMEOUT = 3.0
# Images of a fixed size with no side above this are read at their size; others
# (sizes that vary, or larger) are resized to their model family's side, or this.
MAX_KEPT_SIDE = 64
FAMILY_SIDES = {"dense": 32, "cnn": 64, "transformer": 64, "gan": 32}


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """The three splits of a dataset, ready for `model.fit`.

    Attributes:
        spec: the `DatasetSpec`; for text its `vocab_size` is the size of
            `vocabulary`.
        train: shuffled, batched, last partial batch dropped.
        validation: batched, every example.
        test: batched, every example.
        vocabulary: the token list (index = token id) for text, seq2seq and
            lm data, `None` for images. Save it to evaluate or generate later.
    """

    spec: DatasetSpec
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    vocabulary: list = None


def list_datasets():
    """Returns the sorted names of the datasets the zoo has recipes for.

    Any tfds catalogue name, a folder, arrays or a `tf.data.Dataset` work
    too (see `keras_zoo.data.sources`).

    Example:

    >>> list_datasets()[:3]
    ['addition', 'cifar10', 'cifar100']
    """
    return sorted(DATASETS)


def _entry(name, data_dir=None):
    """The `DatasetEntry` of a name, folder, arrays, `tf.data` or entry (`sources.resolve`)."""
    return sources.resolve(name, data_dir=data_dir)


def image_size_for(shape, family=None):
    """The `(H, W)` images of `shape` are resized to, or None to keep their size.

    A fixed size with no side above `MAX_KEPT_SIDE` (64) is kept; other
    images (sizes that vary, e.g. tf_flowers, or larger, e.g. beans'
    500x500) are resized to a square of the model family's side
    (`FAMILY_SIDES`: dense 32, cnn 64, transformer 64, gan 32), else 64.
    A training recipe's `image_size` overrides the rule.
    """
    height, width = shape[:2]
    if height and width and max(height, width) <= MAX_KEPT_SIDE:
        return None
    side = FAMILY_SIDES.get(family, MAX_KEPT_SIDE)
    return (side, side)


def image_shape(name, data_dir=None):
    """The `(H, W, C)` of a dataset's images as stored, None for sizes that vary."""
    entry = _entry(name, data_dir)
    return tuple(_features(entry, data_dir)[entry.x_key].shape)


def _features(entry, data_dir):
    if entry.reader is not None:
        return entry.reader.info.features
    return folders.open_builder(entry.builder_name, data_dir).info.features


def dataset_spec(name, *, data_dir=None, image_size=None):
    """Returns the `DatasetSpec` of a dataset: shapes, classes, defaults.

    Shapes and class counts come from the tfds builder's info; nothing is
    downloaded or generated.

    Args:
        name: a name from `list_datasets()`, any tfds catalogue name, a
            folder, arrays or a `tf.data.Dataset` (`keras_zoo.data.sources`).
        data_dir: tfds data directory; `None` uses tfds's default.
        image_size: `(H, W)` images are resized to; None follows
            `image_size_for`.

    Returns:
        A frozen `DatasetSpec`.

    Example:

    >>> spec = dataset_spec("digits")
    >>> spec.input_shape, spec.num_classes, spec.batch_size
    ((8, 8, 1), 10, 32)
    """
    from keras_zoo.recipes.schema import recipe as training_recipe

    entry = _entry(name, data_dir)
    generic = training_recipe(None, entry.name if entry.curated else None, kind=entry.kind)
    features = _features(entry, data_dir)
    input_shape = num_classes = vocab_size = class_names = None
    if entry.kind == "image":
        input_shape = tuple(features[entry.x_key].shape)
        size = image_size or image_size_for(input_shape)
        if size is not None:
            input_shape = (*size, input_shape[-1])
    elif entry.kind == "features":
        input_shape = tuple(features[entry.x_key].shape)
    if entry.y_key is not None and isinstance(
        features[entry.y_key], tfds.features.ClassLabel
    ):
        num_classes = features[entry.y_key].num_classes
        class_names = tuple(features[entry.y_key].names)
    if entry.vocabulary is not None:
        vocab_size = len(entry.vocabulary) + 2  # 0 padding, 1 OOV
    elif entry.token_ids is not None:
        vocab_size = entry.token_ids
    elif entry.max_tokens is not None:
        vocab_size = entry.max_tokens
    return DatasetSpec(
        name=entry.name,
        kind=entry.kind,
        input_shape=input_shape,
        num_classes=num_classes,
        vocab_size=vocab_size,
        sequence_length=entry.sequence_length,
        output_length=entry.output_length,
        train_split=entry.train_split,
        validation_split=entry.validation_split,
        test_split=entry.test_split,
        batch_size=generic.batch_size,
        epochs=generic.epochs,
        description=entry.description,
        source=entry.source,
        class_names=class_names,
    )


def offline_datasets():
    """The sorted names of the datasets that need no download (offline builders' views)."""
    return sorted(n for n, r in DATASETS.items() if r.builder_name in offline.BUILDERS)


def is_character_level(name):
    """Whether a dataset's tokens are characters (its language models report bits per char)."""
    return _entry(name).split == "character"


def check_compatible(model_info, spec):
    """Raises `IncompatibleError` if a model cannot read a dataset.

    Args:
        model_info: a `ModelInfo` (see `keras_zoo.model_info`) or model name.
        spec: a `DatasetSpec` or dataset name.

    Example:

    >>> check_compatible(model_info("simple_cnn"), dataset_spec("digits"))
    """
    if isinstance(model_info, str):
        from keras_zoo.models.registry import model_info as get_model_info

        model_info = get_model_info(model_info)
    if not isinstance(spec, DatasetSpec):
        entry = _entry(spec)
        kind, name = entry.kind, entry.name
    else:
        kind, name = spec.kind, spec.name
    if kind in model_info.inputs:
        return
    reads = " or ".join(KIND_DESCRIPTIONS[k] for k in model_info.inputs)
    fitting = [n for n, r in sorted(DATASETS.items()) if r.kind in model_info.inputs]
    raise errors.IncompatibleError(
        f"{model_info.name} reads {reads} but {name} provides "
        f"{KIND_DESCRIPTIONS[kind]}. Datasets that fit: "
        f"{', '.join(fitting) if fitting else 'none of the zoo'}"
        + (", or any tfds catalogue dataset, folder or arrays of that kind."
           if set(model_info.inputs) & {"image", "text"} else ".")
    )


def _tfds_is_mocked():
    """True inside `tfds.testing.mock_data`, where preparing is a no-op."""
    method = tfds.core.DatasetBuilder.download_and_prepare
    return getattr(method, "__module__", "").startswith("tensorflow_datasets.testing")


def _network_available():
    """Whether tfds's download server answers within a few seconds."""

    def connect():
        with socket.create_connection(_PROBE_ADDRESS, timeout=_PROBE_TIMEOUT):
            return True

    # A thread, because name resolution ignores socket timeouts.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=_PROBE_TIMEOUT + 0.5)
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


@contextlib.contextmanager
def _silent_tfds():
    """Hides tfds's progress bars and its "Downloading and preparing" lines."""
    from tensorflow_datasets.core.utils import tqdm_utils

    shown = getattr(tqdm_utils, "_active", True)
    tfds.display_progress_bar(False)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        tfds.display_progress_bar(shown)


def _is_prepared(builder):
    """`builder.is_prepared()`, without tfds 4.9.10's warning on a folder not made yet
    ("Variant folder ... has no dataset_info.json" on every first use)."""
    return tf.io.gfile.exists(builder.data_dir) and builder.is_prepared()


def _opened(entry, data_dir):
    """`(entry, builder)`: the prepared builder, and a catalogue entry re-read from it.

    A tfds catalogue entry is derived before its builder is prepared, when
    its splits may be unknown; once prepared they are known.
    """
    builder = _builder(entry, data_dir)
    if entry.reader is None and not entry.curated and not _tfds_is_mocked():
        from keras_zoo.data import catalogue

        entry = catalogue.catalogue_entry(entry.name, data_dir, builder=builder)
    return entry, builder


def _builder(recipe, data_dir):
    """Returns the prepared tfds builder of a dataset (the reader of the user's data).

    Offline builders are generated on first use; tfds datasets are
    downloaded only if the network answers, otherwise a clear error.
    """
    if recipe.reader is not None:
        return recipe.reader
    name = recipe.builder_name
    builder = folders.open_builder(name, data_dir)
    if _is_prepared(builder) or _tfds_is_mocked():
        return builder
    folders.check_writable(name, data_dir)
    if name in offline.BUILDERS:
        try:
            with _silent_tfds():  # nothing is downloaded: keep tfds's bars and banners quiet
                builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(try_download_gcs=False)
                )
        except FileExistsError:  # another process (e.g. a second worker) prepared it first
            builder = tfds.builder(name, data_dir=data_dir)
            if not builder.is_prepared():
                raise
        return builder
    if not _network_available():
        root = builder.data_dir_root
        raise errors.DatasetNotAvailableError(
            f"Dataset {name!r} is not prepared in {root} and cannot be "
            "downloaded (no network). On a machine with network access run "
            f"{errors.prepare_command(name)}, copy DIR here and pass "
            "`data_dir=DIR` (CLI: --data-dir DIR). Datasets that need no "
            f"download: {', '.join(offline_datasets())}."
        )
    builder.download_and_prepare()
    return builder


def _check_split(recipe, builder, split):
    """Raises `InvalidArgumentError` unless tfds can read `split`."""
    known = set(builder.info.splits)
    if not known:  # Under `tfds.testing.mock_data` splits are unknown.
        known = {
            re.sub(r"\[.*", "", s)
            for s in (recipe.train_split, recipe.validation_split, recipe.test_split)
        }
    accepted = ", ".join(sorted(known))
    if not isinstance(split, str):
        raise errors.InvalidArgumentError(
            f"`split` must be a tfds split string such as 'train' or "
            f"'train[:90%]'. Received: split={split!r}. "
            f"Splits of {recipe.name}: {accepted}."
        )
    try:
        tfds.core.ReadInstruction.from_spec(split)
    except (ValueError, AssertionError) as error:
        raise errors.InvalidArgumentError(
            f"Cannot parse split {split!r} ({error}). Use tfds syntax such as "
            f"'train', 'train[:90%]' or 'train+test'. Received: split={split!r}. "
            f"Splits of {recipe.name}: {accepted}."
        ) from None
    for part in split.split("+"):
        base = re.sub(r"\[.*", "", part).strip()
        if base != "all" and base not in known:
            raise errors.InvalidArgumentError(
                f"Dataset {recipe.name!r} has no split {base!r}. "
                f"Received: split={split!r}. Available splits: {accepted}."
            )


def _read(recipe, builder, split, image_size=None):
    """Reads a split as (x, y) pairs (x alone when there is no target).

    Images are resized to `image_size` (bilinear, as Keras's
    `image_dataset_from_directory`) and kept uint8, when it is given.
    """

    def select(example):
        x = example[recipe.x_key]
        if image_size is not None:
            x = tf.image.resize(x, image_size)
            x = tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)
        if recipe.y_key is None:
            return x
        target = example[recipe.y_key]
        if target.dtype.is_integer:
            target = tf.cast(target, tf.int32)
        return x, target

    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except ValueError as e:
        if "corresponds to no data" not in str(e):  # tfds's words for an empty slice
            raise
        raise errors.InvalidArgumentError(
            f"Split {split!r} of dataset {recipe.name!r} has no examples; give a split with "
            f"data. Received: split={split!r}") from None
    return dataset.map(select, num_parallel_calls=AUTOTUNE)


def _vectorizer(recipe, vocabulary, sequence_length):
    return keras.layers.TextVectorization(
        max_tokens=recipe.max_tokens if vocabulary is None else None,
        standardize=recipe.standardize,
        split=recipe.split,
        output_sequence_length=sequence_length,
        vocabulary=None if vocabulary is None else list(vocabulary),
        # A folder's path or "glue/cola": Keras takes [A-Za-z0-9.][A-Za-z0-9_.-]* here.
        name=re.sub(r"[^\w.-]", "_", f"{recipe.name}_vectorizer").lstrip("_.-"),
    )


def _last_tokens_vectorizer(recipe, vocabulary, length):
    """Returns `f(texts)`: the last `length` token ids of each text, padded after.

    `TextVectorization(output_sequence_length=...)` keeps the first tokens;
    this keeps the last, as `keras.utils.pad_sequences` does by default.
    Dense tensors only: `TextVectorization(ragged=True)` raises on the JAX
    backend (the Colab TPU path), though tf.data runs it.
    """
    layer = _vectorizer(recipe, vocabulary, None)

    def vectorize(texts):
        ids = layer(texts)  # (B, T): each text's ids, then 0s up to the longest
        ids = tf.pad(ids, [[0, 0], [0, length]])  # (B, T + length): a window always fits
        counts = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)  # (B,) ids per text
        start = tf.maximum(counts - length, 0)  # (B,)
        positions = start[:, None] + tf.range(length)[None, :]  # (B, length)
        return tf.gather(ids, positions, batch_dims=1)  # (B, length)

    return vectorize


def _vocabulary(recipe, builder, vocabulary):
    """Returns the token list: given, fixed by the recipe, or adapted on train.

    None for inputs that are token ids already (`recipe.token_ids`).
    """
    if recipe.token_ids is not None:
        return None
    if vocabulary is not None:
        vocabulary = [str(token) for token in vocabulary]
        if len(vocabulary) < 3:
            raise errors.InvalidArgumentError(
                "`vocabulary` must list the tokens, index = token id. "
                f"Received: vocabulary={vocabulary!r}"
            )
        return vocabulary
    if recipe.split == subword.WORDPIECE:
        return _wordpiece_vocabulary(recipe, builder.data_dir_root)
    layer = _vectorizer(recipe, recipe.vocabulary, recipe.sequence_length)
    if recipe.vocabulary is None:
        texts = _read(recipe, builder, recipe.train_split)
        texts = texts.map(lambda x, *_: x).batch(1024).prefetch(AUTOTUNE)
        layer.adapt(texts)
    return [str(token) for token in layer.get_vocabulary()]


def _wordpiece_vocabulary(recipe, data_dir):
    """The WordPiece vocabulary of subword data: trained on `vocabulary_from`'s training split.

    The one shipped with the zoo when there is one (`subword.shipped_vocabulary`,
    trained once: the same ids everywhere); else trained once per process and
    data folder (seconds: Hugging Face's Rust trainer).
    """
    corpus = DATASETS[recipe.vocabulary_from] if recipe.vocabulary_from else recipe
    shipped = subword.shipped_vocabulary(corpus.name)
    if shipped is not None:
        return shipped
    return list(_trained_wordpiece(corpus.name, data_dir, corpus.train_split, recipe.max_tokens))


@functools.lru_cache(maxsize=4)
def _trained_wordpiece(name, data_dir, split, max_tokens):
    corpus = DATASETS[name]
    builder = _builder(corpus, data_dir)
    texts = (x.decode("utf-8") for x in tfds.as_numpy(_read(corpus, builder, split)))
    return tuple(subword.train(texts, max_tokens))


def _augmenter(augment, translate):
    """Returns `f(image, seeds)`: a training recipe's image augmentation.

    `"flip"`: random horizontal flip. `"translate"`: pad `translate` pixels
    on every side and crop back at random (He et al. 2015's 4-pixel pad and
    crop; zeros are padded, as in their Torch code), i.e. a random shift of
    up to `translate` pixels.
    """
    unknown = set(augment) - {"flip", "translate"}
    if unknown:
        raise errors.InvalidArgumentError(
            f"Unknown augmentation {sorted(unknown)}; accepted: flip, translate. "
            f"Received: augment={augment!r}")

    def apply(image, seeds):
        if "flip" in augment:
            image = tf.image.stateless_random_flip_left_right(image, seeds[0])
        if "translate" in augment and translate:
            shape = tf.shape(image)
            pad = [[translate, translate], [translate, translate], [0, 0]]
            image = tf.image.stateless_random_crop(tf.pad(image, pad), shape, seeds[1])
        return image

    return apply


def text_to_ids(recipe, vocabulary, length=None):
    """Returns `f(texts) -> int32 ids (B, length)`: a dataset's tokenisation of text.

    The entry's standardisation and split, `vocabulary` (index = id), and
    the tokens it keeps (`keep_tokens`: the first or the last `length`,
    padded with 0 after). `length` None: the entry's `sequence_length`.
    Used by the pipeline and by `predict`, so they cannot differ.
    """
    length = length or recipe.sequence_length
    if recipe.split == subword.WORDPIECE:  # the Rust tokenizer, in tf.numpy_function
        return subword.tf_encoder(vocabulary, length, recipe.keep_tokens)
    if recipe.keep_tokens == "last":
        layer = _last_tokens_vectorizer(recipe, vocabulary, length)
    else:
        layer = _vectorizer(recipe, vocabulary, length)

    def vectorize(texts):
        ids = tf.cast(layer(texts), tf.int32)
        # Keep the static batch size that `drop_remainder=True` gives.
        return tf.ensure_shape(ids, texts.shape.concatenate([length]))

    return vectorize


def scale_images(images):
    """uint8 (or 0..255 float) images to float32 in [0, 1], as every image pipeline does."""
    return tf.cast(images, tf.float32) / 255.0


def _finisher(recipe, vocabulary):
    """Returns the per-batch map: scale images, or vectorise text."""
    if recipe.kind == "image":
        return lambda x, *y: (scale_images(x), *y)
    if recipe.kind == "features":
        return lambda x, y: (tf.cast(x, tf.float32), y)
    if recipe.kind == "lm":
        return None
    if recipe.token_ids is not None:
        return lambda x, y: (tf.cast(x, tf.int32), y)
    inputs = text_to_ids(recipe, vocabulary)
    if recipe.kind == "seq2seq":  # targets are never cut
        targets = text_to_ids(dataclasses.replace(recipe, keep_tokens="first"), vocabulary,
                              recipe.output_length)
        return lambda x, y: (inputs(x), targets(y))
    return lambda x, y: (inputs(x), y)


def _lm_windows(recipe, dataset, vocabulary, stride=None):
    """Documents to (x, y) windows of `sequence_length`, y shifted by one.

    The split's documents are tokenised one by one (nothing padded), their ids put back
    to back and cut with numpy; windows start every `stride` tokens (None: back to back).
    tf.data's `window` over one element per token took most of tiny_corpus's preparation
    (docs/performance.md).
    """
    if recipe.split == subword.WORDPIECE:  # the Rust tokenizer, the split at once, in parallel
        texts = [x.decode("utf-8") for x in tfds.as_numpy(dataset)]
        encodings = subword.tokenizer(vocabulary).encode_batch(texts) if texts else []
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int32)
    else:
        layer = _vectorizer(recipe, vocabulary, None)
        ids = np.concatenate([np.zeros(0, np.int32)] + [
            np.asarray(layer(text), np.int32).reshape(-1) for text in dataset.batch(1)])
    size = recipe.sequence_length + 1
    stride = stride or size
    count = max(0, (len(ids) - size) // stride + 1)
    windows = ids[np.arange(count)[:, None] * stride + np.arange(size)[None, :]]  # (N, T + 1)
    windows = windows.reshape(count, size)
    return tf.data.Dataset.from_tensor_slices(windows).map(
        lambda w: (w[:-1], w[1:]), num_parallel_calls=AUTOTUNE)


def _filled_cache(dataset):
    """Caches a dataset in memory and fills the cache now, in one pass.

    tf.data's memory cache can keep a truncated copy when a partly read
    iterator (`next(iter(ds))`, `ds.take(1)`) is still being torn down while
    the next one starts (seen with TF 2.21); a cache filled before any other
    iterator exists is complete. The pass also gives the cardinality, which
    windowed text does not know otherwise.
    """
    dataset = dataset.cache()
    count = dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
    return dataset.apply(tf.data.experimental.assert_cardinality(count))


def _check_enough(recipe, split, count, batch_size, drop_remainder):
    """Refuses a split with no example, or a training split without one full batch.

    Without this, Keras on TensorFlow warns and trains no step, and on JAX
    raises a bare `StopIteration` (`steps_per_epoch` repeats an empty dataset).
    """
    what = (f"windows of {recipe.sequence_length + 1} tokens" if recipe.kind == "lm"
            else "examples")
    if count == 0:
        raise errors.InvalidArgumentError(
            f"Split {split!r} of dataset {recipe.name!r} has no {what}; give a split with "
            f"data. Received: split={split!r}")
    if drop_remainder and 0 < count < batch_size:
        raise errors.InvalidArgumentError(
            f"Split {split!r} of dataset {recipe.name!r} has {count} {what}, fewer than one "
            f"batch of {batch_size}, so training would run no step. Use a batch_size of at "
            f"most {count}, or more data. Received: batch_size={batch_size}, split={split!r}")


def _pipeline(recipe, builder, split, *, batch_size, shuffle, seed, drop_remainder, repeat,
              images_only, vocabulary, augment=(), translate=4, image_size=None):
    dataset = _read(recipe, builder, split, image_size)
    if recipe.kind == "lm":
        dataset = _lm_windows(recipe, dataset, vocabulary,
                              recipe.train_window_stride if shuffle else None)
    dataset = _filled_cache(dataset)
    _check_enough(recipe, split, int(dataset.cardinality()), batch_size, drop_remainder)
    if shuffle:
        dataset = dataset.shuffle(recipe.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if shuffle and augment:
        if recipe.kind != "image":
            raise errors.InvalidArgumentError(
                f"Augmentation applies to images; {recipe.name} provides "
                f"{KIND_DESCRIPTIONS[recipe.kind]}. Received: augment={augment!r}")
        apply = _augmenter(augment, translate)
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, seeds.batch(4))
        dataset = dataset.map(
            lambda xy, s: (apply(xy[0], tf.reshape(s, (2, 2))), xy[1]),
            num_parallel_calls=AUTOTUNE,
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    finish = _finisher(recipe, vocabulary)
    if finish is not None:
        dataset = dataset.map(finish, num_parallel_calls=AUTOTUNE)
    if images_only:
        dataset = dataset.map(lambda x, y: x, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def pad_batches(dataset, multiple):
    """Pads every batch to a multiple of `multiple` examples, metrics kept exact.

    Data-parallel evaluation splits each batch over `multiple` devices, so
    every batch, the last partial one too, must divide by it. Padding rows
    are zeros with sample weight 0; real rows get the weight
    `padded_total / total` (per target: `(B, T)` for token targets). Keras averages the loss over all rows (padding
    included) and weighted metrics over the weights, so both equal the
    unpadded values. Costs one pass over the data to count the examples.

    Args:
        dataset: batched `(x, y)` or `(x, y, sample_weight)` dataset.
        multiple: positive int, e.g. the number of devices.

    Returns:
        A dataset of `(x, y, sample_weight)` batches.

    Example:

    >>> ds = pad_batches(load_dataset("digits", "test[:101]", batch_size=16), 8)
    >>> model.evaluate(ds)  # 101 examples counted, batches of 16, ..., 8
    """
    multiple = errors.check_positive_int(multiple, "multiple")

    def size_of(x, *_):
        return tf.shape(tf.nest.flatten(x)[0], out_type=tf.int64)[0]

    def padded(size):
        return (size + multiple - 1) // multiple * multiple

    zero = tf.constant(0, tf.int64)
    total, padded_total = dataset.map(size_of).reduce(
        (zero, zero), lambda acc, size: (acc[0] + size, acc[1] + padded(size)))
    scale = tf.cast(padded_total, tf.float32) / tf.cast(tf.maximum(total, 1), tf.float32)

    def pad(x, y, weight=None):
        size = size_of(x)
        extra = padded(size) - size

        def pad_rows(t):
            return tf.pad(t, [[0, extra]] + [[0, 0]] * (t.shape.rank - 1))

        weight = tf.fill([size], scale) if weight is None else tf.cast(weight, tf.float32) * scale
        if isinstance(y, tf.Tensor):  # one weight per target, e.g. per token: (B, T)
            while weight.shape.rank < y.shape.rank:
                weight = weight[..., None]
            weight = tf.broadcast_to(weight, tf.shape(y))
        return (tf.nest.map_structure(pad_rows, x), tf.nest.map_structure(pad_rows, y),
                pad_rows(weight))

    return dataset.map(pad, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _checked_options(recipe, batch_size, seed, images_only):
    if batch_size is None:
        from keras_zoo.recipes.schema import recipe as training_recipe

        batch_size = training_recipe(None, recipe.name if recipe.curated else None,
                                     kind=recipe.kind).batch_size
    batch_size = errors.check_positive_int(batch_size, "batch_size")
    seed = DEFAULT_SEED if seed is None else errors.check_int(seed, "seed")
    if images_only and recipe.kind != "image":
        raise errors.InvalidArgumentError(
            f"`images_only=True` needs an image dataset; {recipe.name} provides "
            f"{KIND_DESCRIPTIONS[recipe.kind]}. Received: images_only={images_only!r}"
        )
    return batch_size, seed


@quiet_native_logs
@folders.translated
def load_dataset(name, split="train", *, batch_size=None, shuffle=None, seed=None,
                 data_dir=None, drop_remainder=None, repeat=False, images_only=False,
                 vocabulary=None, image_size=None):
    """Returns a batched, prefetched `tf.data.Dataset` of a dataset's split.

    Yields `(x, y)` batches in the format of the dataset's kind (see
    `keras_zoo.data`), or `x` alone with `images_only=True`.

    Args:
        name: a name from `list_datasets()`, any tfds catalogue name, a
            folder, arrays or a `tf.data.Dataset` (`keras_zoo.data.sources`).
        split: a tfds split string, e.g. `"test"` or `"train[:90%]"`.
            `"train"` means the entry's training split (`spec.train_split`).
        batch_size: examples per batch; `None` uses the entry's default.
        shuffle: shuffle the examples (seeded, reshuffled each epoch);
            `None` shuffles the training split only.
        seed: seed of shuffling and augmentation; `None` uses 0, so runs
            repeat.
        data_dir: tfds data directory; `None` uses tfds's default.
        drop_remainder: drop the last partial batch; `None` drops it when
            shuffling (training) and keeps every example otherwise.
        repeat: repeat forever (use with `steps_per_epoch`).
        images_only: yield images alone (for GANs); image datasets only.
        vocabulary: token list (index = token id) for text data, e.g. the
            one `prepare` returned for training; `None` adapts it on the
            training split (or uses the entry's fixed one).
        image_size: `(H, W)` images are resized to; None follows
            `image_size_for`.

    Returns:
        A `tf.data.Dataset`.

    Raises:
        UnknownNameError: `name` is not a known dataset.
        InvalidArgumentError: a bad split or argument.
        DatasetNotAvailableError: the data is not on disk and cannot be
            downloaded.

    Example:

    >>> ds = load_dataset("digits", "test", batch_size=64)
    >>> x, y = next(iter(ds))  # x: (64, 8, 8, 1) float32, y: (64,) int32
    """
    entry = _entry(name, data_dir)
    batch_size, seed = _checked_options(entry, batch_size, seed, images_only)
    entry, builder = _opened(entry, data_dir)
    image_size = _image_size(entry, data_dir, image_size)
    if split == "train":
        split = entry.train_split
    _check_split(entry, builder, split)
    if shuffle is None:
        shuffle = split == entry.train_split
    if drop_remainder is None:
        drop_remainder = bool(shuffle)
    if entry.kind not in ("image", "features"):
        vocabulary = _vocabulary(entry, builder, vocabulary)
    return _pipeline(
        entry, builder, split, batch_size=batch_size, shuffle=shuffle, seed=seed,
        drop_remainder=drop_remainder, repeat=repeat, images_only=images_only,
        vocabulary=vocabulary, image_size=image_size,
    )


def _image_size(entry, data_dir, image_size):
    """The `(H, W)` an image dataset is resized to, or None (`image_size_for`)."""
    if entry.kind != "image":
        return None
    shape = tuple(_features(entry, data_dir)[entry.x_key].shape)
    size = tuple(image_size) if image_size is not None else image_size_for(shape)
    return None if size == tuple(shape[:2]) else size


@folders.translated
def prepare(name, *, batch_size=None, seed=None, data_dir=None, images_only=False,
            vocabulary=None, augment=(), translate=4, with_test=True, image_size=None):
    """Returns the training, validation and test splits and the vocabulary.

    Args:
        name: a name from `list_datasets()`.
        batch_size: examples per batch; `None` uses the entry's default.
        seed: seed of shuffling and augmentation; `None` uses 0.
        data_dir: tfds data directory; `None` uses tfds's default.
        images_only: yield images alone (for GANs).
        vocabulary: token list to reuse; `None` adapts (or uses the fixed one).
        augment: augmentations of training images, names from
            `keras_zoo.recipes.AUGMENTATIONS` (a training recipe's `augment`).
        translate: pixels of the `"translate"` augmentation.
        with_test: False leaves `test` None and never reads the test split
            (hyper-parameter search, `keras_zoo.tuning`).
        image_size: `(H, W)` images are resized to; None follows
            `image_size_for`.

    Returns:
        A `PreparedData(spec, train, validation, test, vocabulary)`.

    Example:

    >>> data = prepare("addition")
    >>> model.fit(data.train, validation_data=data.validation, epochs=data.spec.epochs)
    """
    entry = _entry(name, data_dir)
    batch_size, seed = _checked_options(entry, batch_size, seed, images_only)
    entry, builder = _opened(entry, data_dir)
    image_size = _image_size(entry, data_dir, image_size)
    spec = dataset_spec(entry, data_dir=data_dir, image_size=image_size)
    if entry.kind not in ("image", "features"):
        vocabulary = _vocabulary(entry, builder, vocabulary)
        if vocabulary is not None:
            spec = dataclasses.replace(spec, vocab_size=len(vocabulary))

    def split_dataset(split, training):
        return _pipeline(
            entry, builder, split, batch_size=batch_size, shuffle=training, seed=seed,
            drop_remainder=training, repeat=False, images_only=images_only,
            vocabulary=vocabulary, augment=augment if training else (), translate=translate,
            image_size=image_size,
        )

    return PreparedData(
        spec=spec,
        train=split_dataset(entry.train_split, True),
        validation=split_dataset(entry.validation_split, False),
        test=split_dataset(entry.test_split, False) if with_test else None,
        vocabulary=vocabulary,
    )
