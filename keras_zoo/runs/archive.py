"""Checks of model and weights files before they are opened.

A `.keras` file is a zip archive (`metadata.json`, `config.json`,
`model.weights.h5`, sometimes `assets/`). A file from an untrusted source can
store a few kilobytes on disk yet declare gigabytes once decompressed, or
declare a model whose weights alone exhaust memory when Keras builds it.
`check_keras_archive` reads only the archive's directory and a bounded
`config.json`, and refuses such a file with an `InvalidArgumentError` before
anything large is allocated; `check_weights_file` does the same for a
`.weights.h5` file.

Keras 3.15 has its own guards (`keras.src.saving.saving_lib._reject_zip_bomb`
and the HDF5 dataset guard), but only above a 4 GiB floor: a weights member
declaring 3 GB of zeros, or a 2 GB `config.json`, passes them and is read
into memory (the process is killed). The zoo's limits are derived from the
model's own config instead, so a small model cannot carry a large member.

```python
from keras_zoo.runs.archive import check_keras_archive

check_keras_archive("downloaded.keras")   # raises InvalidArgumentError, or returns None
```
"""

import json
import math
import os
import posixpath
import re
import struct
import zipfile

from keras_zoo.errors import InvalidArgumentError

MAX_BYTES_ENV = "KERAS_ZOO_MAX_MODEL_BYTES"
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB: 500M float32 parameters, ~50x the zoo's largest model
CONFIG_MAX_BYTES = 64 << 20  # a 1,000-layer Functional config is about 1 MB
METADATA_MAX_BYTES = 1 << 20  # Keras writes ~100 bytes
# Keras writes members stored (ratio 1); DEFLATE cannot exceed ~1032x, and
# float weights deflate by ~1.1x. Keras's own guard uses the same 100x.
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 1 << 20  # small members may compress well (JSON)
# Weights file of a model with P parameters in V variables: at most 8 bytes
# per value (float64), the variable plus up to 3 optimizer slots (Adam's m and
# v, AMSGrad's v_hat or an EMA copy), and HDF5's per-dataset and per-group
# overhead (measured ~1.8 KB per variable on the zoo's models).
_BYTES_PER_PARAM = 8 * 4
_BYTES_PER_VARIABLE = 4 * 16 << 10
_WEIGHTS_SLACK = 1 << 20

_WEIGHTS_MEMBER = "model.weights.h5"
_CONFIG_MEMBER = "config.json"
_METADATA_MEMBER = "metadata.json"
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?)?\s*$", re.IGNORECASE)


def max_model_bytes(max_bytes=None):
    """The absolute size limit: `max_bytes`, else `$KERAS_ZOO_MAX_MODEL_BYTES`, else 2 GiB.

    The variable takes bytes, optionally with a binary suffix: `8G`, `512M`.
    """
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidArgumentError(
                f"`max_bytes` must be a positive number of bytes. Received: max_bytes={max_bytes!r}"
            )
        return max_bytes
    value = os.environ.get(MAX_BYTES_ENV)
    if not value:
        return DEFAULT_MAX_BYTES
    match = _SIZE.match(value)
    if not match or int(match.group(1)) < 1:
        raise InvalidArgumentError(
            f"{MAX_BYTES_ENV} must be a positive number of bytes, optionally with a suffix "
            f"K, M, G or T (e.g. 8G). Received: {MAX_BYTES_ENV}={value!r}"
        )
    unit = (match.group(2) or " ")[0].upper()
    return int(match.group(1)) << (10 * " KMGT".index(unit))


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def _refuse(path, what, hint=""):
    return InvalidArgumentError(
        f"Refused the file before loading it: {what}.{hint} Received: path={os.fspath(path)!r}"
    )


def _raise_hint(limit):
    return (f" If you trust the file and the model is that large, raise the limit "
            f"({_size(limit)}) with {MAX_BYTES_ENV}=BYTES (Python: max_bytes=).")


def weights_limit(num_params, num_variables):
    """The largest weights file a model of this size can need, in bytes."""
    return _BYTES_PER_PARAM * num_params + _BYTES_PER_VARIABLE * num_variables + _WEIGHTS_SLACK


def model_size(model):
    """`(parameters, variables)` of a built `keras.Model` (weights, not optimizer state)."""
    return sum(math.prod(v.shape) for v in model.weights), len(model.weights)


def config_model_size(config, safe_mode=True):
    """`(parameters, variables)` of the model a `.keras` config describes, or None.

    The model is rebuilt from the config by Keras itself inside a
    `keras.StatelessScope` that never initialises its variables, so only
    shapes exist: a config declaring 10**11 parameters costs milliseconds and
    no memory. None when Keras cannot rebuild it that way (loading will then
    report what is wrong; only the absolute limit applies).
    """
    import keras
    from keras.src.backend.common import global_state
    from keras.src.saving.serialization_lib import ObjectSharingScope

    config = {**config, "compile_config": None}
    key = "uninitialized_variables"
    pending = list(global_state.get_global_attribute(key, []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False), ObjectSharingScope():
            model = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
        return model_size(model)
    except Exception:  # noqa: BLE001 - a config Keras cannot rebuild fails at loading, clearly
        return None
    finally:
        # The uninitialised variables stay registered for the next scope to
        # initialise, which would allocate them: forget ours.
        global_state.set_global_attribute(key, pending)


def _check_name(path, name):
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise _refuse(path, f"archive member {name!r} points outside the archive "
                            "(absolute path or '..'); a .keras file holds only relative names")


def _read_bounded(zf, info, limit):
    """Reads a member, never more than `limit` bytes (its declared size is checked first)."""
    with zf.open(info) as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def check_keras_archive(path, max_bytes=None, *, safe_mode=True):
    """Checks a `.keras` archive before it is opened; raises if it is unsafe to load.

    Reads only the zip directory, `config.json` (at most 64 MiB) and the
    weights member's HDF5 metadata, and refuses:

    - member names that are absolute or contain `..`, and duplicate names;
    - a `config.json` over 64 MiB or `metadata.json` over 1 MiB (declared);
    - a member that decompresses to more than 100x its stored size (over
      1 MiB; Keras stores members uncompressed);
    - a model whose config declares more parameters than the limit allows;
    - a `model.weights.h5` (declared, and its HDF5 datasets) larger than the
      model in `config.json` can need (`weights_limit`);
    - more than the absolute limit (`max_model_bytes`) in all.

    Args:
        path: the `.keras` file.
        max_bytes: the absolute limit in bytes; None for
            `$KERAS_ZOO_MAX_MODEL_BYTES`, else 2 GiB.
        safe_mode: passed to Keras when the config is rebuilt to count its
            parameters (see `keras_zoo.load_model`).

    Raises:
        InvalidArgumentError: what is wrong, the member and the limit.

    Example:

    >>> check_keras_archive("runs/cnn/model.keras")
    """
    limit = max_model_bytes(max_bytes)
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: Keras's own error says so (load_model words it)
    with zf:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        for name in names:
            _check_name(path, name)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise _refuse(path, f"archive member {dup!r} appears twice")
        for info in infos:
            if info.file_size > RATIO_FLOOR_BYTES and \
                    info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _refuse(path, f"member {info.filename!r} declares {_size(info.file_size)} "
                                    f"but stores {_size(info.compress_size)} (over {MAX_RATIO}x; "
                                    "a decompression bomb)")
        total = sum(info.file_size for info in infos)
        if total > limit:
            raise _refuse(path, f"its members declare {_size(total)} in all, over the limit",
                          _raise_hint(limit))
        by_name = {info.filename: info for info in infos}
        meta = by_name.get(_METADATA_MEMBER)
        if meta is not None and meta.file_size > METADATA_MAX_BYTES:
            raise _refuse(path, f"{_METADATA_MEMBER} declares {_size(meta.file_size)} "
                                f"(at most {_size(METADATA_MAX_BYTES)})")
        info = by_name.get(_CONFIG_MEMBER)
        if info is None:
            return  # not a Keras archive: Keras's own error says so
        config_limit = min(CONFIG_MAX_BYTES, limit)
        text = None if info.file_size > config_limit else _read_bounded(zf, info, config_limit)
        if text is None:
            raise _refuse(path, f"{_CONFIG_MEMBER} holds more than {_size(config_limit)} "
                                f"(declared {_size(info.file_size)})")
        try:
            config = json.loads(text)
        except (ValueError, RecursionError):
            return  # Keras reports the bad JSON
        if not isinstance(config, dict):
            return
        size = config_model_size(config, safe_mode=safe_mode)
        weights = by_name.get(_WEIGHTS_MEMBER)
        if size is not None:
            params, variables = size
            if 4 * params > limit:
                raise _refuse(path, f"{_CONFIG_MEMBER} describes a model of {params:,} "
                                    f"parameters ({_size(4 * params)} as float32), over the limit",
                              _raise_hint(limit))
            cap = min(weights_limit(params, variables), limit)
            if weights is not None and weights.file_size > cap:
                raise _refuse(path, f"{_WEIGHTS_MEMBER} declares {_size(weights.file_size)}, but "
                                    f"the model in {_CONFIG_MEMBER} has {params:,} parameters "
                                    f"in {variables} variables (at most {_size(cap)} of weights)")
        else:
            cap = limit
        if weights is not None:
            _check_h5_datasets(path, _member_file(zf, path, weights), cap, _WEIGHTS_MEMBER,
                               "what the model can need" if size is not None else "the limit")


class _Window:
    """A read-only, seekable view of `length` bytes of `file` from `start`.

    For a stored (uncompressed) zip member: Python 3.11's `ZipExtFile.seek`
    re-reads the member from its start on every backward seek, which HDF5's
    metadata reads make quadratic.
    """

    def __init__(self, file, start, length):
        self.file, self.start, self.length, self.pos = file, start, length, 0

    def seek(self, offset, whence=0):
        base = (0, self.pos, self.length)[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self):
        return self.pos

    def read(self, n=-1):
        n = self.length - self.pos if n is None or n < 0 else min(n, self.length - self.pos)
        if n <= 0:
            return b""
        self.file.seek(self.start + self.pos)
        data = self.file.read(n)
        self.pos += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _member_file(zf, path, info):
    if info.compress_type != zipfile.ZIP_STORED:
        return zf.open(info)  # bounded by the declared size checked above
    file = open(path, "rb")
    file.seek(info.header_offset)
    header = file.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        file.close()
        return zf.open(info)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return _Window(file, info.header_offset + 30 + name_length + extra_length, info.file_size)


def _check_h5_datasets(path, file, cap, what, why):
    """Refuses an HDF5 file whose datasets declare more than `cap` bytes.

    Only metadata is read. HDF5 datasets can be chunked and compressed, so a
    small file can declare huge arrays, which Keras would read whole.
    """
    import h5py

    declared = 0
    try:
        with file, h5py.File(file, "r") as h5:
            def visit(_, item):
                nonlocal declared
                if isinstance(item, h5py.Dataset):
                    declared += math.prod(item.shape or ()) * item.dtype.itemsize

            h5.visititems(visit)
    except (OSError, ValueError, KeyError, TypeError):
        return  # not readable as HDF5: Keras's own error says so
    if declared > cap:
        raise _refuse(path, f"the arrays in {what} declare {_size(declared)}, over {why} "
                            f"({_size(cap)})")


def check_weights_file(path, max_bytes=None, *, model=None):
    """Checks a `.weights.h5` file (downloaded or cached) before it is loaded.

    Refuses a file, or HDF5 arrays declared in it, larger than the absolute
    limit (`max_model_bytes`), or than `model` can need when it is given.

    Args:
        path: the `.weights.h5` file.
        max_bytes: the absolute limit in bytes; None for
            `$KERAS_ZOO_MAX_MODEL_BYTES`, else 2 GiB.
        model: the built `keras.Model` the weights are for, or None.

    Raises:
        InvalidArgumentError: the size, and the limit.

    Example:

    >>> check_weights_file(cached_path, model=model)
    """
    limit = max_model_bytes(max_bytes)
    path = os.fspath(path)
    cap, why = limit, "the limit"
    if model is not None:
        params, variables = model_size(model)
        if weights_limit(params, variables) < cap:
            cap = weights_limit(params, variables)
            why = f"what a model of {params:,} parameters can need"
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # missing: the loader's own error names it
    hint = _raise_hint(limit) if cap == limit else ""
    if size > cap:
        raise _refuse(path, f"the weights file holds {_size(size)}, over {why} "
                            f"({_size(cap)})", hint)
    _check_h5_datasets(path, open(path, "rb"), cap, posixpath.basename(path), why)
