"""Model-parallel training on JAX: a ("batch", "model") mesh on 8 fake CPU devices.

`XLA_FLAGS=--xla_force_host_platform_device_count=8` only works before JAX
starts, so the checks run in one fresh process with `KERAS_BACKEND=jax`. For
each mesh (8,1), (4,2), (2,4), (1,8): every large kernel is split over the
"model" axis (its addressable shard is 1/k of it), the weights per device
shrink about k-fold, and three training steps give the losses of one device.
"""

import json
import math
import os
import subprocess
import sys

import pytest

import keras_zoo as kz

MESHES = [(8, 1), (4, 2), (2, 4), (1, 8)]

_SCRIPT = r"""
import json
import jax
import keras
import numpy as np
import keras_zoo as kz
from keras_zoo import distribute
from keras_zoo.distribute import sharding
from keras_zoo.training import compile_model

ARGS = dict(vocab_size=64, sequence_length=16, embed_dim=32, num_heads=8, ff_dim=64,
            num_layers=2, dropout=0.0)
LARGE = ("embedding/token_embedding/embeddings", "block_1/attention/query/kernel",
         "block_2/attention/attention_output/kernel", "block_1/ffn_intermediate/kernel",
         "block_2/ffn_output/kernel")
rng = np.random.default_rng(0)
x = rng.integers(1, 64, size=(3, 8, 16)).astype("int32")  # 3 steps of batch 8
y = rng.integers(0, 64, size=(3, 8, 16)).astype("int32")
initial = None

def train(strategy):
    global initial
    with distribute.run_scope(strategy):
        model = kz.create_model("gpt_mini", **ARGS)
        if initial is None:
            initial = [np.asarray(w) for w in model.get_weights()]
        model.set_weights(initial)
        compile_model(model, "language_modeling", optimizer=keras.optimizers.AdamW(1e-2))
        losses = [float(model.train_on_batch(x[i], y[i], return_dict=True)["loss"])
                  for i in range(3)]
    device = jax.devices()[0]
    total = sum(v.value.nbytes for v in model.weights)
    mine = sum(s.data.nbytes for v in model.weights for s in v.value.addressable_shards
               if s.device == device)
    whole = sum(v.value.nbytes for v in model.weights
                if list(v.value.addressable_shards[0].data.shape) == list(v.shape))
    shards = {v.path: [list(v.shape), list(v.value.addressable_shards[0].data.shape)]
              for v in model.weights if v.path in LARGE}
    return {"losses": losses, "total": total, "per_device": mine, "whole": whole,
            "shards": shards}

out = {"devices": len(jax.devices()), "single": train(kz.get_strategy("cpu"))}
for batch, model_axis in MESHES:
    strategy = kz.get_strategy(f"model_parallel:{batch}x{model_axis}")
    sharding.set_layout(strategy, "transformer", {**kz.model_info("gpt_mini").defaults, **ARGS})
    out[f"{batch}x{model_axis}"] = train(strategy)

# The whole `fit` path once: plan, layout, batch split, evaluation padding.
result = kz.fit("gpt_mini", "tiny_corpus", epochs=1, steps_per_epoch=2, batch_size=8,
                strategy="model_parallel:2x4", precision="float32", seed=0, verbose=0,
                model_args={"vocab_size": 104, "embed_dim": 32, "num_heads": 8, "ff_dim": 64,
                            "num_layers": 1, "dropout": 0.0})
kernel = [v for v in result.model.weights if v.path == "block_1/ffn_intermediate/kernel"][0]
out["fit"] = {"metrics": result.metrics,
              "shard": list(kernel.value.addressable_shards[0].data.shape)}
try:
    kz.get_strategy("model_parallel:3x3")
except kz.InvalidArgumentError as e:
    out["bad_mesh"] = str(e)
print(json.dumps(out))
""".replace("MESHES", repr(MESHES))


@pytest.fixture(scope="module")
def runs():
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    run = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mesh", MESHES, ids=lambda m: f"{m[0]}x{m[1]}")
def test_large_kernels_are_split_over_the_model_axis(runs, mesh):
    k = mesh[1]
    shards = runs[f"{mesh[0]}x{mesh[1]}"]["shards"]
    assert len(shards) == 5
    for path, (full, shard) in shards.items():
        assert math.prod(shard) * k == math.prod(full), (path, full, shard)


@pytest.mark.parametrize("mesh", MESHES, ids=lambda m: f"{m[0]}x{m[1]}")
def test_weights_per_device_drop_about_k_fold(runs, mesh):
    run = runs[f"{mesh[0]}x{mesh[1]}"]
    assert run["total"] == runs["single"]["total"]
    k = mesh[1]
    if k > 1:  # only LayerNorms and the biases of row-split kernels stay whole: < 3%
        assert run["whole"] < 0.03 * run["total"]
    assert run["per_device"] == (run["total"] - run["whole"]) / k + run["whole"]


@pytest.mark.parametrize("mesh", MESHES, ids=lambda m: f"{m[0]}x{m[1]}")
def test_losses_equal_one_device(runs, mesh):
    losses = runs[f"{mesh[0]}x{mesh[1]}"]["losses"]
    assert losses == pytest.approx(runs["single"]["losses"], rel=1e-5)
    # (Each step reads another batch, so the three losses are not comparable with each
    # other; that the sharded model trains is checked by test_fit_trains_model_parallel.)
    assert all(abs(v) < float("inf") for v in losses)  # finite (NaN fails the comparison)


def test_fit_trains_model_parallel(runs):
    assert runs["devices"] == 8
    assert runs["fit"]["shard"] == [32, 16]  # (C, F) split by columns over 4 devices
    assert set(runs["fit"]["metrics"]) == {"accuracy", "bits_per_char", "loss"}
    assert "needs 9 devices; there are 8" in runs["bad_mesh"]


def test_tensorflow_refuses_model_parallel():
    with pytest.raises(kz.InvalidArgumentError, match="needs the jax Keras backend"):
        kz.get_strategy("model_parallel:4x2")
    with pytest.raises(kz.InvalidArgumentError, match="KERAS_BACKEND=jax"):
        kz.training.plan_fit("gpt_mini", "tiny_corpus", strategy="model_parallel")
