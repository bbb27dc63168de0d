"""Data parallelism on JAX, 8 CPU devices: the strategy names, training, exact evaluation.

`XLA_FLAGS=--xla_force_host_platform_device_count=8` only works before JAX
starts, so the check runs in a fresh process with `KERAS_BACKEND=jax`.
Evaluation pads the last partial batch with zero-weight rows
(`data.pipeline.pad_batches`); the metrics must equal a single-device
evaluation of the same weights on the same examples.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_zoo.data.pipeline import pad_batches

_DATA_PARALLEL = r"""
import json
import jax
import keras
import numpy as np
import keras_zoo as kz

from keras_zoo import distribute

EVAL_SPLIT = "test[:101]"  # 101 examples: batches of 16, ..., 16, 5 (not a multiple of 8)
out = {"devices": len(jax.devices())}

# The strategy names on JAX: "auto" is data parallel over every device.
strategy = kz.get_strategy("auto")
out["names"] = {"auto": type(strategy).__name__,
                "data_parallel": type(kz.get_strategy("data_parallel")).__name__,
                "replicas": distribute.placement(strategy, 64)["replicas"],
                "device_kind": distribute.device_kind()}
with distribute.run_scope(strategy):
    out["names"]["in_scope"] = keras.distribution.distribution() is strategy
out["names"]["after_scope"] = keras.distribution.distribution()  # nothing left behind: None
for name in ("mirrored", "tpu", "one_device"):  # TensorFlow's, refused
    try:
        kz.get_strategy(name)
        out["names"][name] = None
    except kz.InvalidArgumentError as e:
        out["names"][name] = str(e)

# float32 and no label smoothing: compared with one device compiled with the defaults.
result = kz.fit("simple_cnn", "digits", epochs=1, batch_size=32, strategy="data_parallel",
                precision="float32", seed=0, verbose=0, recipe={"label_smoothing": 0.0})
kernel = result.model.trainable_variables[0].value
out["weight_devices"] = len(kernel.sharding.device_set)
out["fit_metrics"] = result.metrics

weights = [np.asarray(w) for w in result.model.get_weights()]
strategy = kz.get_strategy("data_parallel")
with strategy.scope():
    out["parallel"] = kz.evaluate(result.model, "digits", split=EVAL_SPLIT, batch_size=16)

single = kz.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=10, padding="same")
single.set_weights(weights)
out["single"] = kz.evaluate(single, "digits", split=EVAL_SPLIT, batch_size=16)
out["single_test"] = kz.evaluate(single, "digits", split="test", batch_size=32)

with strategy.scope():  # last: a failed evaluate leaves Keras's JAX variables purged
    try:  # the same data unpadded cannot be split over 8 devices
        result.model.evaluate(kz.load_dataset("digits", EVAL_SPLIT, batch_size=16), verbose=0)
        out["unpadded_error"] = None
    except Exception as e:
        out["unpadded_error"] = type(e).__name__
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def data_parallel_run():
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", _DATA_PARALLEL], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_jax_names_a_data_parallel_over_all_devices(data_parallel_run):
    names = data_parallel_run["names"]
    assert names["auto"] == names["data_parallel"] == "DataParallel"
    assert names["replicas"] == 8 and names["device_kind"] == "cpu"
    assert names["in_scope"] is True and names["after_scope"] is None
    for name in ("mirrored", "tpu", "one_device"):
        assert names[name] and ("tensorflow" in names[name] or "TPU" in names[name]), names


def test_fit_trains_on_eight_devices(data_parallel_run):
    assert data_parallel_run["devices"] == 8
    assert data_parallel_run["weight_devices"] == 8
    metrics = data_parallel_run["fit_metrics"]
    assert set(metrics) == {"accuracy", "loss"}
    assert np.isfinite(metrics["loss"])
    # The test split (360 examples) under DataParallel, as on one device.
    assert metrics == pytest.approx(data_parallel_run["single_test"], abs=1e-5)


def test_evaluate_counts_every_example_of_an_indivisible_split(data_parallel_run):
    assert data_parallel_run["unpadded_error"] is not None  # really split over 8 devices
    parallel, single = data_parallel_run["parallel"], data_parallel_run["single"]
    assert set(parallel) == {"accuracy", "loss"}
    assert parallel == pytest.approx(single, abs=1e-5)
    correct = parallel["accuracy"] * 101  # a whole number of the 101 examples
    assert correct == pytest.approx(round(correct), abs=1e-3)


def test_pad_batches_divides_every_batch_and_keeps_every_example():
    x = np.arange(21 * 3, dtype="float32").reshape(21, 3)
    y = np.arange(21, dtype="int32")
    padded = list(pad_batches(tf.data.Dataset.from_tensor_slices((x, y)).batch(10), 4))
    assert [len(b[0]) for b in padded] == [12, 12, 4]  # 10, 10, 1 rounded up to 4s
    xs, ys, ws = (np.concatenate([np.asarray(b[i]) for b in padded]) for i in range(3))
    real = ws > 0
    np.testing.assert_array_equal(xs[real], x)
    np.testing.assert_array_equal(ys[real], y)
    np.testing.assert_allclose(ws[real], 28 / 21)  # padded rows / real rows
    assert not xs[~real].any()


def test_pad_batches_scales_given_sample_weights():
    x = np.ones((5, 2), "float32")
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(5, "int32"), np.full(5, 2.0, "float32")))
    (_, _, weights), = list(pad_batches(data.batch(5), 8))
    np.testing.assert_allclose(weights, [2 * 8 / 5] * 5 + [0] * 3)


@pytest.mark.parametrize("name,args", [("resnet20", {"weight_decay": 1e-2}), ("gpt_mini", {})])
def test_padded_evaluation_equals_unpadded(name, args):
    """Exact on any backend: token-level outputs, and a regularization loss."""
    import keras_zoo as kz
    from keras_zoo.training.compile import compile_model
    from tests.helpers import sample_batch, tiny_model

    keras.utils.set_random_seed(0)
    model = tiny_model(name, **args)
    compile_model(model, kz.model_info(name).task)
    x, y = sample_batch(name, model, batch_size=21, seed=3)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    plain = model.evaluate(data, return_dict=True, verbose=0)
    padded = model.evaluate(pad_batches(data, 8), return_dict=True, verbose=0)
    # Language models also report bits per token (cross-entropy in bits).
    assert set(padded) == {"accuracy", "loss"} | ({"bits_per_token"} if name == "gpt_mini" else set())
    # Float32 sums in another order (batches of 16 instead of 10): 1e-5 relative.
    assert padded == pytest.approx(plain, rel=1e-5, abs=1e-5)
