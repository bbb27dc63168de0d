"""Publishing a finished run as a weights entry and file."""

import os

from keras_zoo.errors import InvalidArgumentError, WeightsError
from keras_zoo.weights.entries import (
    ENTRY_SUFFIX,
    WEIGHTS_SUFFIX,
    WeightsEntry,
    sha256_of,
)
from keras_zoo.weights.fine_tuning import merge_lora


def publish(run_dir, out_dir, *, name=None, url=None):
    """Writes a finished run's weights file and its entry into `out_dir`.

    The files are `<model>-<name>.weights.h5` and `<model>-<name>.json`
    (the entry: hash, metrics, recipe, architecture, versions, vocabulary),
    ready for `register_weights`, to ship in `keras_zoo/weights/pretrained/`, or to
    host (pass the `url` it will have).

    Args:
        run_dir: a finished run folder.
        out_dir: where to write (created if needed).
        name: the weights name; default the run's dataset.
        url: where the file will be hosted, recorded in the entry.

    Returns:
        The `WeightsEntry`.
    """
    from keras_zoo import runs

    run_dir = os.fspath(run_dir)
    metrics_path = os.path.join(run_dir, runs.METRICS)
    if not os.path.isfile(os.path.join(run_dir, runs.CONFIG)):
        raise WeightsError(f"Not a run folder (no {runs.CONFIG}). Received: run_dir={run_dir!r}")
    if not os.path.isfile(metrics_path):
        raise WeightsError(
            f"The run has not finished (no {runs.METRICS}); rerun it to finish, then publish. "
            f"Received: run_dir={run_dir!r}")
    config = runs.read_json(os.path.join(run_dir, runs.CONFIG))
    model = runs.load_model(run_dir)
    name = name or config["dataset"]
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        raise InvalidArgumentError(f"A weights name is a plain word. Received: name={name!r}")
    os.makedirs(out_dir, exist_ok=True)
    stem = f"{config['model']}-{name}"
    weights_path = os.path.join(out_dir, stem + WEIGHTS_SUFFIX)
    runs.atomic_write(weights_path, merge_lora(model).save_weights)
    vocabulary = runs.run_vocabulary(run_dir)
    from keras_zoo._version import __version__

    recipe = {k: v for k, v in config.items() if k not in ("model", "model_args", "versions",
                                                            "data_dir", "distribution")}
    entry = WeightsEntry(
        model=config["model"], name=name, file=os.path.basename(weights_path),
        sha256=sha256_of(weights_path), dataset=config["dataset"],
        model_args=config.get("model_args") or {}, recipe=recipe,
        metrics=runs.read_json(metrics_path),
        versions={**config.get("versions", {}), "published_by_keras_zoo": __version__},
        vocabulary=vocabulary, url=url, folder=os.path.abspath(out_dir))
    runs.write_json(os.path.join(out_dir, stem + ENTRY_SUFFIX), entry.to_dict())
    return entry
