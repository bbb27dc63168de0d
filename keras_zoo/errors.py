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


def check_positive_int(value, name, allow_none=False):
    """Checks that `value` is a positive int (not a bool) and returns it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


class RunFolderInUseError(ZooError, RuntimeError):
    """Another process is training into the same run folder."""


class DamagedRunFileError(InvalidArgumentError):
    """A file of a run folder is damaged (empty, truncated, garbage or foreign)."""


class WeightsError(ZooError, ValueError):
    """Pretrained weights that are missing, corrupt, unreachable or of another model."""
