"""Several JAX processes (keras_zoo.distribute.multi_process): two processes on 127.0.0.1.

Each process has 2 fake CPU devices (`XLA_FLAGS`), so the two together train
on 4 devices over Gloo, as a single process with 4 devices does. The
processes join through Keras's `KERAS_DISTRIBUTION_*` variables, read by
`fit` itself (`get_strategy` calls `multi_process.initialize`). The
data-parallel run trains an mlp on digits, the model-parallel one a tiny
gpt_mini on tiny_corpus (the layouts are the Transformer family's), each a
few steps; both processes must end with identical weights, equal to those
of one process on 4 devices.
"""

import json
import os
import sys
import textwrap
import types

import numpy as np
import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo import distribute
from keras_zoo.distribute import multi_process, sharding
from tests.helpers import free_ports, run_together

# name: (model, dataset, strategy, model_args). model_parallel has layouts for Transformers.
RUNS = {
    "data_parallel": ("mlp", "digits", "data_parallel", {"hidden_units": [32]}),
    "model_parallel": ("gpt_mini", "tiny_corpus", "model_parallel:2x2",
                       {"embed_dim": 32, "num_heads": 4, "ff_dim": 64, "num_layers": 1,
                        "dropout": 0.0}),
}

# argv: output folder, seed of the data-parallel run ("none": drawn, and agreed on).
PROCESS = textwrap.dedent("""
    import json, sys
    import jax
    import numpy as np
    import keras_zoo as kz

    out, seed = sys.argv[1], sys.argv[2]
    record = {}
    for name, (model, dataset, strategy, model_args) in RUNS.items():
        result = kz.fit(model, dataset, epochs=1, steps_per_epoch=3, batch_size=16,
                        seed=(None if seed == "none" else int(seed)) if name == "data_parallel"
                        else 1,
                        strategy=strategy, precision="float32", verbose=0,
                        output_dir=f"{out}/{name}", model_args=model_args)
        np.savez(f"{out}/{name}_{jax.process_index()}.npz", *result.model.get_weights())
        record[name] = {"loss": result.history["loss"], "metrics": result.metrics,
                        "output_dir": result.output_dir}
    record.update(processes=jax.process_count(), devices=jax.device_count(),
                  mesh=list(kz.get_strategy("model_parallel").device_mesh.shape))
    try:
        kz.get_strategy("model_parallel:1x4")
        record["spanning"] = None
    except kz.InvalidArgumentError as e:
        record["spanning"] = str(e)
    with open(f"{out}/record_{jax.process_index()}.json", "w") as f:
        json.dump(record, f)
""").replace("RUNS", repr(RUNS))


def _environment(devices, **variables):
    env = {name: value for name, value in os.environ.items()
           if name not in multi_process.VARIABLES}
    return dict(env, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
                XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **variables)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two processes of 2 devices, then one process of 4 with the seed they agreed on."""
    for _, dataset, _, _ in RUNS.values():  # build the offline data once, not in both at once
        kz.load_dataset(dataset)
    folder = tmp_path_factory.mktemp("multi_process")
    address = f"127.0.0.1:{free_ports(1)[0]}"
    run_together([([sys.executable, "-c", PROCESS, str(folder / "two"), "none"],
           _environment(2, KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
                        KERAS_DISTRIBUTION_NUM_PROCESSES="2",
                        KERAS_DISTRIBUTION_PROCESS_ID=str(index)))
          for index in range(2)], timeout=420)
    config = json.loads((folder / "two" / "data_parallel" / "config.json").read_text())
    run_together([([sys.executable, "-c", PROCESS, str(folder / "one"), str(config["seed"])],
           _environment(4))], timeout=300)
    return folder


def _weights(folder, name, process=0):
    saved = np.load(folder / f"{name}_{process}.npz")
    return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _record(folder, process=0):
    return json.loads((folder / f"record_{process}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_two_processes_end_with_the_weights_of_one(runs, name):
    two, one = runs / "two", runs / "one"
    first, second, single = (_weights(two, name, 0), _weights(two, name, 1), _weights(one, name))
    assert len(first) == len(single) >= 4  # kernels and biases
    # Both processes hold the same weights, bit for bit (the seed process 0 drew, agreed
    # on, for data_parallel), and those of one process on 4 devices up to float sums.
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(first, single)) < 1e-5
    losses = [_record(two, p)[name]["loss"] for p in range(2)] + [_record(one)[name]["loss"]]
    assert losses[0] == losses[1] == pytest.approx(losses[2], rel=1e-5)
    metrics = [_record(two, p)[name]["metrics"] for p in range(2)] + [_record(one)[name]["metrics"]]
    assert metrics[0] == metrics[1] == pytest.approx(metrics[2], rel=1e-5)


@pytest.mark.slow
def test_process_zero_writes_the_run_folder(runs):
    two = runs / "two"
    first, second = _record(two, 0), _record(two, 1)
    assert first["processes"] == second["processes"] == 2
    assert first["devices"] == second["devices"] == 4  # 2 + 2, seen by every process
    for name in RUNS:
        assert first[name]["output_dir"] == str(two / name)
        assert second[name]["output_dir"] is None  # trained in a temporary folder
        assert (two / name / "model.keras").is_file() and (two / name / "metrics.json").is_file()
    config = json.loads((two / "model_parallel" / "config.json").read_text())
    assert config["distribution"] == {
        "strategy": "ModelParallel", "replicas": 2, "global_batch_size": 16,
        "per_replica_batch_size": 8, "device_kind": "cpu"}
    config = json.loads((two / "data_parallel" / "config.json").read_text())
    assert config["distribution"]["replicas"] == 4


@pytest.mark.slow
def test_model_parallel_mesh_keeps_each_copy_in_one_process(runs):
    record = _record(runs / "two")
    assert record["mesh"] == [2, 2]  # "model_parallel": one group per process
    assert "spans several processes" in record["spanning"]
    assert "'model_parallel:2x2'" in record["spanning"]
    single = _record(runs / "one")
    assert single["mesh"] == [1, 4] and single["spanning"] is None


# Without processes -----------------------------------------------------------------------


@pytest.mark.parametrize("environ,expected", [
    ({}, None),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}, "variables"),
    ({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}, "variables"),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2",
      "SLURM_PROCID": "1", "SLURM_LOCALID": "0"}, "slurm"),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "1",
      "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}, None),  # one task: nothing to join
    ({"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:3", "OMPI_COMM_WORLD_SIZE": "4"}, "openmpi"),
])
def test_launcher_reads_the_environment(environ, expected):
    assert multi_process.launcher(environ, tpu=False) == expected


def test_launcher_on_a_tpu_vm():
    assert multi_process.launcher({}, tpu=True) == "tpu"


def test_one_process_changes_nothing():
    assert multi_process.initialize() == 1  # this process has no cluster variables
    assert multi_process.process_count() == 1 and multi_process.is_first_process()
    assert multi_process.agreed_seed(123) == 123


def test_each_process_keeps_its_rows_of_every_batch():
    # mesh (batch 4, model 2) over 2 processes: process 1 has batch rows 2 and 3.
    mine = np.array([[False, False], [False, False], [True, True], [True, True]])
    shards = multi_process.batch_shards_of(mine, batch_axis=0)
    assert shards == [2, 3]
    x = np.arange(8 * 3).reshape(8, 3)
    data = tf.data.Dataset.from_tensor_slices((x, np.arange(8))).batch(8).concatenate(
        tf.data.Dataset.from_tensor_slices((x[:4], np.arange(4))).batch(4))  # a last, short one
    kept = [(a.numpy(), b.numpy()) for a, b in multi_process.process_rows(data, shards, 4)]
    np.testing.assert_array_equal(kept[0][0], x[4:8])
    np.testing.assert_array_equal(kept[0][1], [4, 5, 6, 7])
    np.testing.assert_array_equal(kept[1][1], [2, 3])
    static = tf.data.Dataset.from_tensor_slices(x).batch(8, drop_remainder=True)
    assert multi_process.process_rows(static, shards, 4).element_spec.shape.as_list() == [4, 3]


def test_shards_that_are_not_neighbours_are_kept_in_order():
    mine = np.array([True, False, False, True])  # a 1-D mesh, process owns rows 0 and 3
    data = tf.data.Dataset.from_tensor_slices(np.arange(8)).batch(8)
    (kept,) = list(multi_process.process_rows(data, multi_process.batch_shards_of(mine, 0), 4))
    np.testing.assert_array_equal(kept, [0, 1, 6, 7])


def test_model_groups_must_stay_in_one_process():
    device = types.SimpleNamespace
    spread = types.SimpleNamespace(devices=np.array(
        [[device(process_index=0), device(process_index=0), device(process_index=1),
          device(process_index=1)]]))  # 1 x 4 over two processes
    with pytest.raises(kz.InvalidArgumentError, match="spans several processes.*2x2"):
        multi_process.check_model_groups(spread, 0, "model_parallel:1x4")
    multi_process.check_model_groups(  # 2 x 2: one copy of the weights per process
        types.SimpleNamespace(devices=spread.devices.reshape(2, 2)), 0, "model_parallel:2x2")


def test_model_parallel_default_mesh_is_one_group_per_process():
    assert sharding.parse_mesh("model_parallel", 8) == (1, 8)
    assert sharding.parse_mesh("model_parallel", 8, processes=2) == (2, 4)
    assert sharding.parse_mesh("model_parallel:4x2", 8, processes=2) == (4, 2)


def test_one_device_strategies_are_refused_with_several_processes(monkeypatch):
    monkeypatch.setattr(multi_process, "initialize", lambda: 2)
    with pytest.raises(kz.InvalidArgumentError, match="one of 2 JAX processes"):
        distribute.get_strategy("cpu")
