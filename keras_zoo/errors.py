"""Errors raised for bad input.

Every error a user can cause by what they typed derives from `ZooError`,
so the CLI can answer it with one line and exit code 2, while anything
else is an internal error (exit code 1).
"""

import difflib


class ZooError(Exception):
    """Base class of the errors that are the user's to fix."""


class InvalidArgumentError(ZooError, ValueError):
    """An argument has a value or type that is not accepted."""


class UnknownNameError(ZooError, KeyError):
    """A model, dataset, strategy or other name is not known.

    A `KeyError`, so `name in registry`-style code keeps working; its
    message is shown as written (not quoted, as `KeyError` would).
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class DatasetNotAvailableError(ZooError, RuntimeError):
    """A tfds dataset is not prepared on disk and cannot be downloaded."""


def prepare_command(name, data_dir="DIR"):
    """A command that prepares tfds dataset `name` in `data_dir`, as one line to copy.

    A Python line, not `tfds build`: the `tfds` command of tensorflow-datasets
    4.9.10 does not start without apache-beam, which the zoo does not install.
    """
    return (f"`python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('{name}', data_dir='{data_dir}').download_and_prepare()\"`")


class IncompatibleError(InvalidArgumentError):
    """A model and a dataset that cannot work together."""


def unknown_name(kind, name, known):
    """Returns an `UnknownNameError` naming the closest known names.

    Args:
        kind: what was looked up, e.g. `"model"`.
        name: the name received.
        known: the accepted names.
    """
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    if not close:
        close = [k for k in known if str(name).lower() in k.lower()][:3]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    listing = ", ".join(known) if len(known) <= 30 else f"{len(known)} names"
    return UnknownNameError(
        f"Unknown {kind} {name!r}.{hint} Accepted: {listing}."
    )


def is_integer(value):
    """True for a Python or NumPy integer (`np.int64(32)`); never a bool or a float."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name, *, minimum=None, maximum=None, allow_none=False):
    """Checks that `value` is an integer in `[minimum, maximum]`; returns it as an `int`.

    The one integer check of the zoo (`check_positive_int` is its common
    case). Python ints and NumPy integers (`np.int64(32)`) are accepted;
    bools, floats (even `2.0`) and strings are not.

    Raises:
        InvalidArgumentError: naming `name` and the value received.
    """
    if value is None and allow_none:
        return None
    if (not is_integer(value) or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        if minimum == 1 and maximum is None:
            what = "a positive integer"
        elif minimum == 0 and maximum is None:
            what = "a non-negative integer"
        else:
            what = f"an integer{_range(minimum, maximum, low_open=False)}"
        raise InvalidArgumentError(f"`{name}` must be {what}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(value, name, allow_none=False, maximum=None):
    """Checks that `value` is a positive integer (see `check_int`) and returns it as an `int`."""
    return check_int(value, name, minimum=1, maximum=maximum, allow_none=allow_none)


def check_number(value, name, *, minimum=None, maximum=None, above=None, allow_none=False):
    """Checks that `value` is a finite real number in range; returns it as a `float`.

    The one real-number check of the zoo. NaN and the infinities are refused
    whatever the bounds (a `float("nan")` compares False with every bound, so
    a bare `value < 0` lets it through).

    Args:
        value: the value received.
        name: the argument's name as the user wrote it.
        minimum: smallest accepted value (inclusive), or None.
        maximum: largest accepted value (inclusive), or None.
        above: the value must be greater than this (exclusive), or None.
        allow_none: None is accepted (and returned).

    Raises:
        InvalidArgumentError: naming `name` and the value received.
    """
    import math
    import numbers

    if value is None and allow_none:
        return None
    low = above if above is not None else minimum
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value)
          and (minimum is None or value >= minimum) and (above is None or value > above)
          and (maximum is None or value <= maximum))
    if not ok:
        raise InvalidArgumentError(
            f"`{name}` must be a finite number"
            f"{_range(low, maximum, low_open=above is not None)}. Received: {name}={value!r}")
    return float(value)


def _range(low, high, low_open):
    """E.g. " in (0, 1]", " >= 0", " <= 5" or ""."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    return f" <= {high:g}" if high is not None else ""


class RunFolderInUseError(ZooError, RuntimeError):
    """Another process is training into the same run folder."""


class DamagedRunFileError(InvalidArgumentError):
    """A file of a run folder is damaged (empty, truncated, garbage or foreign)."""


class WeightsError(ZooError, ValueError):
    """Pretrained weights that are missing, corrupt, unreachable or of another model."""
