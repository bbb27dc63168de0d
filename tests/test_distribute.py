"""Strategy resolution (keras_zoo.distribute): names, TPU set-up, MirroredStrategy training."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo import distribute
from keras_zoo.distribute import defaults, devices, strategies


def _run(code, timeout=120, **env):
    """Runs `code` in a fresh Python (devices are fixed at start-up); returns its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


# names ----------------------------------------------------------------------------------


def test_names_on_one_cpu(monkeypatch):
    for name in ("TF_CONFIG", "COLAB_TPU_ADDR", "TPU_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(devices, "tpu_attached", lambda: False)
    assert kz.get_strategy() is tf.distribute.get_strategy()
    assert kz.get_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(kz.get_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    for name, missing in [("mirrored", "at least 2"), ("tpu", "found no TPU"),
                          ("multi_worker", "TF_CONFIG"), ("data_parallel", "KERAS_BACKEND=jax")]:
        with pytest.raises(kz.InvalidArgumentError, match=missing):
            kz.get_strategy(name)
    with pytest.raises(kz.UnknownNameError, match="Did you mean: mirrored"):
        kz.get_strategy("mirrorred")
    assert distribute.device_kind() == "cpu"


def test_auto_uses_several_workers_from_tf_config(monkeypatch):
    monkeypatch.setattr(devices, "tpu_attached", lambda: False)
    monkeypatch.setattr(strategies, "_multi_worker", lambda: "multi-worker strategy")
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
               "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    assert kz.get_strategy("auto") == "multi-worker strategy"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}}))
    assert kz.get_strategy("auto") is tf.distribute.get_strategy()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(kz.InvalidArgumentError, match="TF_CONFIG"):
        kz.get_strategy("auto")


# TPU, with the TensorFlow TPU calls replaced -------------------------------------------


@pytest.fixture
def fake_tpu(monkeypatch):
    """Replaces the resolver, connect, initialise and TPUStrategy; records the calls."""
    calls = []

    class Resolver:
        def __init__(self, tpu):
            self.tpu = tpu
            calls.append(("resolver", tpu))

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", Resolver)
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster",
                        lambda r: calls.append(("connect", r.tpu)))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system",
                        lambda r: calls.append(("initialize", r.tpu)))
    monkeypatch.setattr(tf.distribute, "TPUStrategy", lambda r: ("TPUStrategy", r.tpu))
    monkeypatch.setattr(strategies, "_PROCESS_STRATEGIES", {})
    for name in ("COLAB_TPU_ADDR", "TPU_NAME", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_tpu_on_colab(fake_tpu, monkeypatch):
    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    assert distribute.tpu_attached() and distribute.device_kind() == "tpu"
    strategy = kz.get_strategy("auto")
    assert strategy == ("TPUStrategy", "grpc://10.0.0.2:8470")
    assert fake_tpu == [("resolver", "grpc://10.0.0.2:8470"), ("connect", "grpc://10.0.0.2:8470"),
                        ("initialize", "grpc://10.0.0.2:8470")]
    assert kz.get_strategy("tpu") is strategy  # the TPU system is initialised once


def test_tpu_vm_and_named_tpu(fake_tpu, monkeypatch):
    monkeypatch.setattr(devices.glob, "glob",
                        lambda p: ["/dev/accel0"] if p == "/dev/accel*" else [])
    assert kz.get_strategy("tpu") == ("TPUStrategy", "local")
    monkeypatch.setattr(strategies, "_PROCESS_STRATEGIES", {})
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert kz.get_strategy("tpu") == ("TPUStrategy", "my-tpu")


def test_tpu_resolver_can_be_injected(fake_tpu):
    class Injected:
        tpu = "injected"

    assert kz.get_strategy("tpu", tpu_resolver=Injected()) == ("TPUStrategy", "injected")
    assert ("connect", "injected") in fake_tpu


# replicas and batch sizes -------------------------------------------------------------


def test_placement_checks_the_global_batch():
    info = distribute.placement(tf.distribute.get_strategy(), 32)
    assert info == {"strategy": "default", "replicas": 1, "global_batch_size": 32,
                    "per_replica_batch_size": 32, "device_kind": "cpu"}

    class TwoReplicas:
        num_replicas_in_sync = 2

    assert distribute.placement(TwoReplicas(), 64)["per_replica_batch_size"] == 32
    with pytest.raises(kz.InvalidArgumentError, match="divide by the 2 replicas.*batch_size=33"):
        distribute.placement(TwoReplicas(), 33)


# MirroredStrategy on two logical CPUs (a fresh process) --------------------------------

MIRRORED = """
    import json, sys, tempfile
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    import keras_zoo as kz
    from keras_zoo import distribute

    rng = np.random.default_rng(0)
    x = rng.random((160, 8)).astype("float32")
    y = (x.sum(axis=1) > 4).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32, drop_remainder=True)

    initial = kz.create_model("mlp", input_shape=(8,), num_classes=2, dropout=0.0,
                              hidden_units=(16,)).get_weights()

    def train(strategy, steps_per_execution):
        with strategy.scope():
            model = kz.create_model("mlp", input_shape=(8,), num_classes=2, hidden_units=(16,),
                                    dropout=0.0)  # no randomness: same maths everywhere
            model.set_weights(initial)  # the same start on every strategy
            model.compile(keras.optimizers.SGD(0.1),
                          "sparse_categorical_crossentropy",  # softmax head
                          metrics=["accuracy"], steps_per_execution=steps_per_execution)
        distribute.fix_steps_per_execution(model, strategy)
        history = model.fit(data, epochs=2, verbose=0).history
        return history["loss"], model.evaluate(data, return_dict=True, verbose=0), model

    single = train(tf.distribute.get_strategy(), 1)
    mirrored = kz.get_strategy("mirrored")
    out = {"replicas": mirrored.num_replicas_in_sync, "single": single[0]}
    for spe in (1, 3):  # 5 batches: 3 does not divide them (a short last execution)
        loss, metrics, model = train(mirrored, spe)
        out[f"mirrored{spe}"] = loss
        out[f"eval{spe}"] = metrics
        out[f"weights{spe}"] = max(float(np.abs(a - b).max()) for a, b in
                                   zip(model.get_weights(), single[2].get_weights()))
        out[f"steps{spe}"] = int(model.optimizer.iterations.numpy())
    out["eval_single"] = single[1]

    run = tempfile.mkdtemp() + "/run"
    result = kz.fit("mlp", "digits", strategy="mirrored", epochs=1, batch_size=64,
                    model_args={"hidden_units": [8]}, output_dir=run, verbose=2)
    out["config"] = json.load(open(run + "/config.json"))["distribution"]
    out["fit_accuracy"] = result.metrics["accuracy"]
    out["fit_steps_per_execution"] = result.model.steps_per_execution
    out["fit_steps"] = int(result.model.optimizer.iterations.numpy())
    print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow  # 11 s of CPU, but 20-95 s on the shared 2 cores
def test_mirrored_matches_single_device_with_steps_per_execution():
    stdout = _run(MIRRORED, timeout=300)
    out = json.loads(stdout.split("RESULT")[-1])
    assert out["replicas"] == 2
    for spe in (1, 3):
        # Same losses as one device (the gradients are summed in another order).
        assert max(abs(a - b) for a, b in zip(out["single"], out[f"mirrored{spe}"])) < 1e-5
        assert out[f"mirrored{spe}"] == out["mirrored1"]  # steps_per_execution changes nothing
        assert out[f"weights{spe}"] < 1e-5
        assert out[f"steps{spe}"] == 10  # every batch trained, none twice
        assert abs(out[f"eval{spe}"]["loss"] - out["eval_single"]["loss"]) < 1e-5
    assert out["single"][-1] < out["single"][0]
    assert "Strategy MirroredStrategy on 2 cpu replica(s): global batch 64, per replica 32" in stdout
    assert out["config"] == {"strategy": "MirroredStrategy", "replicas": 2, "device_kind": "cpu",
                             "global_batch_size": 64, "per_replica_batch_size": 32}
    assert 0.0 <= out["fit_accuracy"] <= 1.0
    # `fit` under Mirrored keeps the zoo's steps_per_execution (16 on CPU) and trains
    # every batch of the epoch once: the 1,293 training images (digits' train[:90%])
    # // 64 = 20 steps, an execution of 16 and one of the 4 left.
    assert defaults.steps_per_execution("cpu") == 16
    assert out["fit_steps_per_execution"] == 16
    assert out["fit_steps"] == 1293 // 64


# JAX backend: the names on 8 CPU devices are checked in the fresh process of
# tests/test_jax_data_parallel.py (`test_jax_names_a_data_parallel_over_all_devices`).
