"""Checks of tfds data folders: usable paths, readable metadata, whole records.

A mistyped `data_dir` (a file, a path under a file, a folder the user cannot
write) and a prepared folder that was damaged (truncated records, garbage
`dataset_info.json`) each get one `InvalidArgumentError` naming the folder or
file and how to fix or rebuild it, instead of TensorFlow's `DataLossError`
or protobuf's `ParseError`.
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
        raise errors.InvalidArgumentError(
            f"Dataset {name!r} must be prepared in {root!r}, but {parent!r} is not writable "
            f"({e.strerror}). Pass a folder you can write to with data_dir=DIR {_CLI}, or "
            f"prepare it there first (`tfds build {name} --data_dir {root}`). "
            f"{_received(data_dir)}"
        ) from None


def _rebuild(name, folder, root):
    from keras_zoo.data import offline

    how = ("keras-zoo generates it again on the next run" if name in offline.BUILDERS
           else f"then rebuild it with `tfds build {name} --data_dir {root}`")
    return f"Delete the folder {folder!r} ({how})."


def open_builder(name, data_dir):
    """`tfds.builder(name, data_dir=data_dir)`, with a bad folder or metadata named.

    Raises:
        InvalidArgumentError: `data_dir` is a file or under one, or the
            prepared version's `dataset_info.json` cannot be read.
    """
    import tensorflow_datasets as tfds
    from google.protobuf import json_format

    check_data_dir(data_dir)
    try:
        return tfds.builder(name, data_dir=data_dir)
    except json_format.ParseError as e:
        root = _root(data_dir)
        bad = _unreadable_info(root, name)
        folder = os.path.dirname(bad) if bad else os.path.join(root, name)
        reason = str(e).split(": ", 1)[-1] if ": " in str(e) else str(e)
        raise errors.InvalidArgumentError(
            f"The metadata of dataset {name!r}, {bad or folder!r}, is damaged ({reason}). "
            f"{_rebuild(name, folder, root)} {_received(data_dir)}"
        ) from None


def _unreadable_info(root, name):
    """The first `dataset_info.json` of `name` under `root` that is not valid JSON, or None."""
    for path in sorted(glob.glob(os.path.join(glob.escape(root), glob.escape(name), "**",
                                              "dataset_info.json"), recursive=True)):
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
        except (OSError, ValueError):
            return path
    return None


def _damaged_record(folder):
    """The first record file in `folder` that TensorFlow cannot read whole, or None."""
    import tensorflow as tf

    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "*.tfrecord*"))):
        try:
            tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda c, _: c + 1)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
            return path
    return None


@contextlib.contextmanager
def damaged_records(name, data_dir):
    """Turns TensorFlow's `DataLossError` while reading `name` into one line naming the file."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.DataLossError as e:
        import tensorflow_datasets as tfds

        root = _root(data_dir)
        try:
            folder = tfds.builder(name, data_dir=data_dir).data_dir
        except Exception:  # noqa: BLE001 - only to word the message
            folder = os.path.join(root, name)
        bad = _damaged_record(folder)
        reason = " ".join(str(e.message).split()).split("}} ")[-1].split(" [Op:")[0]
        raise errors.InvalidArgumentError(
            f"The prepared records of dataset {name!r} are damaged: "
            f"{(bad + ' ') if bad else ''}({reason}). {_rebuild(name, folder, root)} "
            f"{_received(data_dir)}"
        ) from None


def translated(function):
    """Decorates `function(name, ..., data_dir=...)` with `damaged_records`."""

    @functools.wraps(function)
    def wrapper(name, *args, **kwargs):
        with damaged_records(name, kwargs.get("data_dir")):
            return function(name, *args, **kwargs)

    return wrapper
