"""Checks of tfds data folders: usable paths, readable metadata, whole records.

A mistyped `data_dir` (a file, a path under a file, a folder the user cannot
write) and a prepared folder that was damaged (truncated, corrupted or
missing records, a `dataset_info.json` that is not tfds metadata) each get
one `InvalidArgumentError` naming the folder or file and how to fix or
rebuild it, instead of TensorFlow's `DataLossError`, `NotFoundError` or
`FailedPreconditionError`, or tfds's `ParseError`, `AssertionError` or
`RuntimeError`.
"""

import contextlib
import functools
import glob
import json
import os
import tempfile

from keras_zoo import errors

_CLI = "(CLI: --data-dir DIR)"


def _root(data_dir):
    import tensorflow_datasets as tfds

    return os.path.abspath(os.path.expanduser(os.fspath(data_dir) if data_dir is not None
                                              else tfds.core.constants.get_default_data_dir()))


def _received(data_dir):
    return f"Received: data_dir={data_dir!r}" if data_dir is not None else \
        "Received: data_dir=None (tfds's default folder)"


def check_data_dir(data_dir):
    """Raises `InvalidArgumentError` when `data_dir` is a file or lies under a file."""
    root = _root(data_dir)
    if os.path.exists(root) and not os.path.isdir(root):
        raise errors.InvalidArgumentError(
            f"The data folder {root!r} is a file, not a folder; pass a folder for tfds data "
            f"(it is created if missing) with data_dir=DIR {_CLI}. {_received(data_dir)}"
        )
    parent = root
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise errors.InvalidArgumentError(
            f"The data folder {root!r} cannot be created: {parent!r} is a file. Pass a folder "
            f"path with data_dir=DIR {_CLI}. {_received(data_dir)}"
        )


def _probe(folder):
    """Creates and removes a folder: permission bits do not tell for root or read-only mounts."""
    os.rmdir(tempfile.mkdtemp(prefix=".keras_zoo-probe-", dir=folder))


def check_writable(name, data_dir):
    """Raises `InvalidArgumentError` when the data of `name` cannot be written under `data_dir`.

    Called only when the dataset is not prepared there yet: a read-only
    folder that already holds it is fine.
    """
    root = _root(data_dir)
    parent = root
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    try:
        _probe(parent)
    except OSError as e:
        from keras_zoo.data import offline

        there = (f"keras-zoo generates {name!r} in it on first use" if name in offline.BUILDERS
                 else f"or prepare it there first with {errors.prepare_command(name, root)}")
        raise errors.InvalidArgumentError(
            f"Dataset {name!r} must be prepared in {root!r}, but {parent!r} is not writable "
            f"({e.strerror}). Pass a folder you can write to with data_dir=DIR {_CLI}; "
            f"{there}. {_received(data_dir)}"
        ) from None


def _rebuild(name, folder, root):
    from keras_zoo.data import offline

    how = ("keras-zoo generates it again on the next run" if name in offline.BUILDERS
           else f"then rebuild it with {errors.prepare_command(name, root)}")
    return f"Delete the folder {folder!r} ({how})."


def open_builder(name, data_dir):
    """`tfds.builder(name, data_dir=data_dir)`, with a bad folder or metadata named.

    Raises:
        InvalidArgumentError: `data_dir` is a file or under one, or a
            prepared version's `dataset_info.json` is not tfds metadata.
    """
    import tensorflow_datasets as tfds

    check_data_dir(data_dir)
    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception:
        root = _root(data_dir)
        damaged = _damaged_info(root, name)
        if damaged is None:
            raise
        path, reason = damaged
        folder = os.path.dirname(path)
        raise errors.InvalidArgumentError(
            f"The metadata of dataset {name!r}, {path!r}, is damaged ({reason}). "
            f"{_rebuild(name, folder, root)} {_received(data_dir)}"
        ) from None


def _info_problem(path, name):
    """Why the `dataset_info.json` at `path` is not tfds metadata of `name`, or None."""
    from google.protobuf import json_format
    from tensorflow_datasets.core.proto import dataset_info_pb2

    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as e:
        return f"cannot be read: {e.strerror}"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        return f"not valid JSON: {e}"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object"
    try:
        proto = json_format.Parse(text, dataset_info_pb2.DatasetInfo(),
                                  ignore_unknown_fields=True)
    except json_format.ParseError as e:
        return f"not tfds metadata: {e}"
    version = os.path.basename(os.path.dirname(path))
    if proto.name != name or proto.version != version:
        return (f"it describes dataset {proto.name!r} version {proto.version!r}, not {name!r} "
                f"version {version!r}")
    return None


def _damaged_info(root, name):
    """`(path, reason)` of the first damaged `dataset_info.json` of `name` under `root`, or None."""
    for path in sorted(glob.glob(os.path.join(glob.escape(root), glob.escape(name), "**",
                                              "dataset_info.json"), recursive=True)):
        reason = _info_problem(path, name)
        if reason is not None:
            return path, reason
    return None


def _count_records(path):
    """The number of records in a TFRecord file; raises `DataLossError` if one is damaged."""
    import tensorflow as tf

    # An explicit buffer_size: the default's notice is one TensorFlow logs at INFO.
    records = tf.data.TFRecordDataset(path, buffer_size=1 << 18)
    return int(records.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def _damaged_record(builder, folder):
    """`(path, reason)` of the first record file that is missing, damaged or short, or None.

    The files and their record counts come from the builder's metadata;
    without it, every record file of `folder` is read whole.
    """
    import tensorflow as tf

    try:
        shards = [(os.fspath(path), count) for split in builder.info.splits.values()
                  for path, count in zip(split.filepaths, split.shard_lengths)]
    except Exception:  # noqa: BLE001 - no usable metadata: read what is there
        shards = [(path, None) for path in
                  sorted(glob.glob(os.path.join(glob.escape(folder), "*.tfrecord*")))]
    for path, expected in shards:
        if not os.path.exists(path):
            return path, "missing"
        try:
            count = _count_records(path)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            return path, " ".join(str(e.message).split()).split("}} ")[-1].split(" [Op:")[0]
        if expected is not None and count != expected:
            return path, f"{count} records, where dataset_info.json counts {expected}"
    return None


@contextlib.contextmanager
def damaged_records(name, data_dir):
    """Turns TensorFlow's error while reading damaged records of `name` into one line naming the file.

    A `DataLossError` (a truncated or corrupted record) always is; a
    `NotFoundError` or `FailedPreconditionError` (a missing file, fewer
    records than the metadata counts) when a record file is found damaged.
    """
    import tensorflow as tf

    try:
        yield
    except (tf.errors.DataLossError, tf.errors.NotFoundError,
            tf.errors.FailedPreconditionError) as e:
        import tensorflow_datasets as tfds

        root = _root(data_dir)
        try:
            builder = tfds.builder(name, data_dir=data_dir)
            folder = builder.data_dir
        except Exception:  # noqa: BLE001 - only to word the message
            builder, folder = None, os.path.join(root, name)
        bad = _damaged_record(builder, folder)
        if bad is None and not isinstance(e, tf.errors.DataLossError):
            raise
        where = f"{bad[0]} ({bad[1]})" if bad else \
            "(" + " ".join(str(e.message).split()).split("}} ")[-1].split(" [Op:")[0] + ")"
        raise errors.InvalidArgumentError(
            f"The prepared records of dataset {name!r} are damaged: {where}. "
            f"{_rebuild(name, folder, root)} {_received(data_dir)}"
        ) from None


def translated(function):
    """Decorates `function(name, ..., data_dir=...)` with `damaged_records` (of `name`'s builder)."""

    @functools.wraps(function)
    def wrapper(name, *args, **kwargs):
        from keras_zoo.data.entries import DATASETS, DatasetEntry

        if isinstance(name, DatasetEntry):
            builder = name.builder_name if name.reader is None else None
        elif isinstance(name, str):
            builder = DATASETS[name].builder_name if name in DATASETS else name
        else:  # the user's arrays or tf.data: no tfds records
            builder = None
        if builder is None:
            return function(name, *args, **kwargs)
        with damaged_records(builder, kwargs.get("data_dir")):
            return function(name, *args, **kwargs)

    return wrapper
