"""Multi-worker training (keras_zoo.training.multi_worker): two worker processes on 127.0.0.1."""

import json
import os
import sys
import textwrap

import numpy as np
import pytest

import keras_zoo as kz
from tests.helpers import free_ports, run_together

WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import keras_zoo as kz

    out, index = sys.argv[1], sys.argv[2]
    kz.get_strategy("multi_worker")  # first: TensorFlow sets up collectives before any op
    result = kz.fit("mlp", "digits", epochs=3, batch_size=64, seed=1, strategy="multi_worker",
                    model_args={"hidden_units": [16]}, output_dir=out + "/run", verbose=0)
    np.savez(out + f"/worker{index}.npz", *result.model.get_weights(),
             loss=np.array(result.history["loss"]), accuracy=result.metrics["accuracy"])
""")


def _run_workers(folder, timeout=300):
    """Starts two workers with TF_CONFIG; kills both after `timeout` seconds."""
    hosts = [f"127.0.0.1:{port}" for port in free_ports(2)]
    commands = []
    for index in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), CUDA_VISIBLE_DEVICES="")
        commands.append(([sys.executable, "-c", WORKER, str(folder), str(index)], env))
    return run_together(commands, timeout)


@pytest.mark.slow
def test_two_workers_train_to_identical_weights(tmp_path):
    kz.load_dataset("digits")  # prepare the offline data once, not in both workers at once
    _run_workers(tmp_path)
    chief, other = (np.load(tmp_path / f"worker{i}.npz") for i in range(2))
    weights = [k for k in chief.files if k.startswith("arr_")]
    assert weights and all(np.array_equal(chief[k], other[k]) for k in weights)
    loss = chief["loss"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    assert np.array_equal(loss, other["loss"])
    assert float(chief["accuracy"]) > 0.2  # chance is 0.1; single-device gets 0.30 here
    # Only the chief writes the run folder; it records the distribution.
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distribution"] == {
        "strategy": "MultiWorkerMirroredStrategy", "replicas": 2, "global_batch_size": 64,
        "per_replica_batch_size": 32, "device_kind": "cpu"}
    assert (tmp_path / "run" / "model.keras").is_file()
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_fit_routes_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(kz.InvalidArgumentError, match="TF_CONFIG"):
        kz.fit("mlp", "digits", strategy="multi_worker", epochs=1)
