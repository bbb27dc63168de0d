"""The Colab notebooks execute end to end, as a user runs them, with small settings.

Only the install cell (tagged `colab-install`) is left out; the `parameters`
cell is replaced by the small settings given here.
"""

import json
import math
import os
import pathlib

import nbformat
from nbclient import NotebookClient

from keras_zoo._quiet import _NOISE

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name, parameters, tmp_path, env=None):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    cells = []
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "colab-install" in tags:
            continue
        if "parameters" in tags:
            cell.source = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
        cells.append(cell)
    notebook.cells = cells
    old_env = dict(os.environ)
    os.environ.update(env or {})
    try:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    return notebook


def outputs_text(notebook):
    return "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def test_quickstart_notebook(tmp_path):
    notebook = run_notebook(
        "quickstart.ipynb",
        {"MODEL": "simple_cnn", "DATASET": "digits", "EPOCHS": 2, "OUTPUT_DIR": "runs/quickstart"},
        tmp_path,
        env={"TFDS_DATA_DIR": str(tmp_path / "tfds")},
    )
    text = outputs_text(notebook)
    assert "resnet20" in text and "accuracy" in text
    run = tmp_path / "runs" / "quickstart"
    for name in ("config.json", "history.csv", "metrics.json", "model.keras"):
        assert (run / name).exists(), name
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    # What a Colab user sees: progress and results, no native TensorFlow notices.
    stderr = [line for c in notebook.cells for o in c.get("outputs", [])
              if o.get("name") == "stderr" for line in o.get("text", "").splitlines()]
    assert not [line for line in stderr if _NOISE.match(line.encode())], stderr


def test_colab_tpu_notebook(tmp_path):
    """The Colab TPU notebook on 8 simulated CPU devices: JAX, DataParallel, bfloat16."""
    notebook = run_notebook(
        "colab_tpu.ipynb",
        {"MODEL": "simple_cnn", "DATASET": "digits", "EPOCHS": 2, "BATCH_SIZE": 64,
         "STRATEGY": "auto", "PRECISION": "mixed_bfloat16", "OUTPUT_DIR": "runs/colab_tpu"},
        tmp_path,
        env={"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
    )
    text = outputs_text(notebook)
    assert "backend: jax" in text
    assert "devices: 8" in text
    assert "strategy: DataParallel" in text
    assert "weights on 8 devices; trained in mixed_bfloat16, returned in float32" in text
    assert "test metrics:" in text
    run = tmp_path / "runs" / "colab_tpu"
    config = json.loads((run / "config.json").read_text())
    assert config["precision"] == "mixed_bfloat16"
    assert config["distribution"]["replicas"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "loss"} and math.isfinite(metrics["loss"])
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images
