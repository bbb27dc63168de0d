"""Loading a saved model or run folder, its files checked before Keras reads them."""

import os
import keras
from keras_zoo import models  # noqa: F401  registers the custom layers, losses and metrics runs save
from keras_zoo.runs import folder
from keras_zoo._quiet import quiet_native_logs
from keras_zoo.runs.archive import check_keras_archive
from keras_zoo.errors import InvalidArgumentError


def run_dir_of(path):
    """The run folder holding `path` (a run folder or a file in one), or None."""
    path = os.path.abspath(os.fspath(path))
    for candidate in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        if os.path.isfile(os.path.join(candidate, folder.CONFIG)):
            return candidate
    return None


@quiet_native_logs
def load_model(path, safe_mode=True):
    """Loads a model saved by the zoo.

    Args:
        path: a `.keras` file, or a run folder (its `model.keras`).
        safe_mode: refuse files that carry Python code (a `Lambda` layer's
            bytecode), which loading would run. Pass False only for files you
            trust (CLI: `--unsafe`).

    Returns:
        The `keras.Model`, compiled as it was saved.

    Example:

    >>> model = load_model("runs/cnn")
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"`path` must be a file or folder path. Received: path={path!r}")
    path = os.fspath(path)
    file = path
    if os.path.isdir(path):
        file = os.path.join(path, folder.MODEL)
        if not os.path.isfile(file):
            best = os.path.join(path, folder.BEST)
            hint = f" Its best checkpoint so far is {best}." if os.path.isfile(best) else ""
            raise InvalidArgumentError(
                f"The folder has no {folder.MODEL} (not a run folder, or the run has not "
                f"finished; rerun the same command to resume).{hint} Received: path={path!r}"
            )
    elif not os.path.exists(path):
        raise InvalidArgumentError(f"No such model file or run folder. Received: path={path!r}")
    elif not path.endswith(".keras"):
        raise InvalidArgumentError(
            f"A model file must be a `.keras` file (or give a run folder). Received: path={path!r}"
        )
    check_keras_archive(file, safe_mode=safe_mode)  # sizes and names, before Keras reads anything
    try:
        return keras.saving.load_model(file, safe_mode=safe_mode)
    except Exception as e:  # a truncated or foreign file is the user's to fix
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if safe_mode and "safe_mode" in str(e):
            raise InvalidArgumentError(
                "The model file carries Python code (e.g. a Lambda layer), which loading "
                "would run; refused in safe mode. If you trust the file, pass "
                f"safe_mode=False (CLI: --unsafe). Received: path={file!r}"
            ) from None
        raise InvalidArgumentError(
            f"Could not load the model file (corrupt, or not saved by keras-zoo): {reason} "
            f"Received: path={file!r}"
        ) from e


