"""Training-memory estimates, the fit-time check, gradient accumulation and remat."""

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo.cli import commands as cli
from keras_zoo.distribute import memory
from keras_zoo.models import registry, transformer
from tests.helpers import sample_batch, tiny_model

GPTS = ["gpt2_small", "gpt_baby", "gpt_mini"]


def test_gpt2_small_has_gpt2_sizes_and_124m_parameters():
    defaults = kz.model_info("gpt2_small").defaults
    assert (defaults["num_layers"], defaults["num_heads"], defaults["embed_dim"],
            defaults["sequence_length"], defaults["vocab_size"]) == (12, 12, 768, 1024, 50257)
    assert memory.count_parameters("gpt2_small") == 124_439_808  # GPT-2's "124M"


@pytest.mark.parametrize("name", GPTS)
@pytest.mark.parametrize("args", [{"num_layers": 1, "vocab_size": 30},
                                  {"num_layers": 2, "vocab_size": 30, "tie_embeddings": False}])
def test_analytic_count_equals_the_built_model(name, args):
    """At the default widths and context (only depth and vocabulary cut to build fast)."""
    model = kz.create_model(name, **args)
    assert model.name == name
    assert model.count_params() == memory.count_parameters(name, **args)


def test_every_size_is_the_one_builder():
    x = np.arange(16, dtype="int32").reshape(2, 8) % 20
    outputs = []
    for name in GPTS:
        keras.utils.set_random_seed(0)
        outputs.append(np.asarray(tiny_model(name, dropout=0.0)(x)))
    for other in outputs[1:]:
        np.testing.assert_array_equal(outputs[0], other)


def test_estimate_terms():
    est = memory.estimate("gpt2_small", batch_size=4, precision="float32", optimizer="adamw")
    p = est.parameters
    assert (est.weights, est.gradients, est.optimizer_state) == (4 * p, 4 * p, 8 * p)
    assert est.bytes_per_parameter == 16
    assert est.activations == 4 * est.activations_per_example
    assert est.total == 16 * p + est.activations
    half = memory.estimate("gpt2_small", batch_size=4, precision="mixed_bfloat16")
    assert half.activations < est.activations < 2 * half.activations  # float32 logits stay
    remat = memory.estimate("gpt2_small", batch_size=4, remat=True)
    assert remat.activations < est.activations / 2
    sharded = memory.estimate("gpt2_small", batch_size=4, model_shards=8, accumulate=2)
    assert sharded.optimizer_state == 12 * p // 8  # Adam moments + accumulator, 1/8 each
    assert sharded.weights == 4 * p // 8
    sgd = memory.estimate("gpt_mini", optimizer="sgd")
    assert sgd.optimizer_state == 0


def test_estimate_refuses_bad_arguments():
    with pytest.raises(kz.InvalidArgumentError, match="Received: optimizer='lamb'"):
        memory.estimate("gpt_mini", optimizer="lamb")
    with pytest.raises(kz.InvalidArgumentError, match="no argument 'width'"):
        memory.estimate("gpt_mini", model_args={"width": 3})


def test_info_shows_parameters_and_memory(capsys):
    assert cli.main(["info", "gpt2_small"]) == 0
    out = capsys.readouterr().out
    assert "parameters 124,439,808" in out
    assert "training memory per parameter 16 bytes" in out
    assert "activations per example" in out
    assert "at batch 32" in out


@pytest.mark.parametrize("value,expected", [("16GiB", 16 * 1024**3), ("80GB", 80 * 10**9),
                                            ("1e9", 10**9), ("512 MiB", 512 * 1024**2)])
def test_device_memory_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("KERAS_ZOO_DEVICE_MEMORY", value)
    assert memory.device_memory() == (expected, "KERAS_ZOO_DEVICE_MEMORY")


def test_device_memory_of_this_cpu_is_the_host_memory(monkeypatch):
    monkeypatch.delenv("KERAS_ZOO_DEVICE_MEMORY", raising=False)
    available, where = memory.device_memory()
    assert available > 2**28 and "host memory" in where


def test_fit_refuses_a_run_that_cannot_fit_before_allocating(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_ZOO_DEVICE_MEMORY", "1GiB")
    built = []
    monkeypatch.setattr(registry, "build_model", lambda *a, **k: built.append(a))
    with pytest.raises(memory.DoesNotFitError) as err:
        kz.fit("gpt2_small", "tiny_corpus", batch_size=64, output_dir=tmp_path / "run",
               verbose=0)
    message = str(err.value)
    assert "\n" not in message
    assert "more than the 1.00 GiB of one device" in message
    assert "a batch of" in message and "accumulate=" in message
    assert "model_parallel" in message
    assert not built and not (tmp_path / "run").exists()  # nothing built, nothing written
    assert isinstance(err.value, kz.ZooError)


def test_fit_prints_the_estimate_next_to_the_device(monkeypatch, capsys):
    monkeypatch.setenv("KERAS_ZOO_DEVICE_MEMORY", "64GiB")
    plan = kz.training.plan_fit("gpt_mini", "tiny_corpus", verbose=2)
    out = capsys.readouterr().out
    assert "Memory: 0.4M parameters; training memory per device" in out
    assert "device 64.00 GiB (KERAS_ZOO_DEVICE_MEMORY)" in out
    assert plan.accumulate == 1 and plan.remat is False


@pytest.mark.parametrize("kwargs,match", [({"accumulate": 0}, "accumulate=0"),
                                          ({"accumulate": True}, "accumulate=True"),
                                          ({"remat": "yes"}, "remat='yes'")])
def test_bad_levers_are_refused(kwargs, match):
    with pytest.raises(kz.InvalidArgumentError, match=match):
        kz.training.plan_fit("mlp", "digits", **kwargs)


def _train(batch_size, accumulate, initial, x, y):
    from keras_zoo.training import levers
    from keras_zoo.training.compile import compile_model

    model = kz.create_model("mlp", hidden_units=(16,), dropout=0.0)
    model.set_weights(initial)
    recipe = kz.recipe("mlp", "digits")  # AdamW, warm-up and cosine decay, label smoothing
    compile_model(model, "classification", recipe=recipe, steps_per_epoch=len(x) // 32)
    levers.accumulate_gradients(model, accumulate)
    model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    return model


def test_accumulate_equals_a_larger_batch():
    rng = np.random.default_rng(0)
    x = rng.random((128, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 128).astype("int32")
    initial = kz.create_model("mlp", hidden_units=(16,), dropout=0.0).get_weights()
    big = _train(32, 1, initial, x, y)
    accumulated = _train(16, 2, initial, x, y)
    plain = _train(16, 1, initial, x, y)
    assert int(accumulated.optimizer.iterations) == int(big.optimizer.iterations) == 8
    for a, b in zip(big.get_weights(), accumulated.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)
    assert max(np.abs(a - b).max() for a, b in zip(big.get_weights(), plain.get_weights())) > 1e-3


def test_fit_accumulates_through_the_optimizer():
    result = kz.fit("mlp", "digits", epochs=1, steps_per_epoch=4, batch_size=16, accumulate=2,
                    seed=0, verbose=0, model_args={"hidden_units": (16,)})
    optimizer = result.model.optimizer
    assert optimizer.gradient_accumulation_steps == 2
    assert int(optimizer.iterations) == 2  # updates, not batches
    from keras_zoo.training.levers import PerUpdateSchedule

    assert isinstance(optimizer._learning_rate, PerUpdateSchedule)


def test_remat_gives_the_same_losses():
    from keras_zoo.training import levers
    from keras_zoo.training.compile import compile_model

    args = {"dropout": 0.0, "num_layers": 2}
    x, y = sample_batch("gpt_mini", tiny_model("gpt_mini"), batch_size=4)
    initial = tiny_model("gpt_mini", **args).get_weights()
    losses = {}
    for remat in (False, True):
        with levers.remat_scope(remat):
            model = tiny_model("gpt_mini", **args)
        model.set_weights(initial)
        compile_model(model, "language_modeling", optimizer=keras.optimizers.Adam(1e-2))
        losses[remat] = [float(model.train_on_batch(x, y, return_dict=True)["loss"])
                         for _ in range(3)]
        block = model.get_layer("block_1")
        assert (block._remat_mode is not None) == remat
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][2] < losses[True][0]


_SAVED_BYTES = r"""
import json
import keras
import numpy as np
import keras_zoo as kz
from keras_zoo.distribute import memory
from keras_zoo.training import levers

out = []
for precision in ("float32", "mixed_bfloat16"):
    keras.mixed_precision.set_global_policy(precision)
    for args in ({"dropout": 0.0}, {"dropout": 0.1}):
        row = {"precision": precision, "args": args}
        for remat in (False, True):
            with levers.remat_scope(remat):
                model = kz.create_model("gpt_mini", **args)
            x = np.ones((16, model.inputs[0].shape[1]), "int32")
            row[f"saved_{remat}"] = memory.saved_activation_bytes(model, x, x)
            row[f"compiled_{remat}"] = memory.compiled_step_bytes(model, x, x)
            row[f"estimate_{remat}"] = memory.estimate(
                "gpt_mini", 16, precision, model_args=args, remat=remat).activations
        out.append(row)
import os
flagged = levers.xla_cpu_remat_note()
os.environ["XLA_FLAGS"] = ""
print(json.dumps({"rows": out, "note_with_flag": flagged, "note": levers.xla_cpu_remat_note()}))
"""


def test_estimate_counts_what_jax_saves_and_remat_saves_less():
    """On JAX (a fresh process): the estimate is within 15 % of the residuals JAX keeps
    for the backward pass; remat keeps under a fifth of them, and its estimate (block
    inputs plus one block recomputed) bounds what it keeps; with the flag that keeps
    XLA:CPU from merging the recomputation away, the compiled step needs less memory."""
    import json
    import os
    import subprocess
    import sys

    from keras_zoo.training import levers

    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": levers.XLA_CPU_REMAT_FLAG}
    proc = subprocess.run([sys.executable, "-c", _SAVED_BYTES], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["note_with_flag"] is None
    assert levers.XLA_CPU_REMAT_FLAG in result["note"]
    rows = result["rows"]
    assert len(rows) == 4
    for row in rows:
        assert abs(row["estimate_False"] / row["saved_False"] - 1) < 0.15, row
        assert row["saved_True"] < row["saved_False"] / 5, row
        assert row["saved_True"] <= row["estimate_True"] < row["estimate_False"], row
        assert row["compiled_True"] < 0.75 * row["compiled_False"], row  # 0.59 measured (float32, dropout 0)


@pytest.mark.parametrize("measure", ["saved_activation_bytes", "compiled_step_bytes"])
def test_step_memory_needs_jax(measure):
    model = tiny_model("gpt_mini")
    x, y = sample_batch("gpt_mini", model, batch_size=2)
    with pytest.raises(kz.InvalidArgumentError, match="KERAS_BACKEND=jax"):
        getattr(memory, measure)(model, x, y)


def test_fit_builds_under_remat():
    result = kz.fit("gpt_mini", "tiny_corpus", epochs=1, steps_per_epoch=1, batch_size=4,
                    seed=0, verbose=0, remat=True,
                    model_args={"num_layers": 1, "embed_dim": 16, "num_heads": 2, "ff_dim": 32})
    assert result.model.get_layer("block_1")._remat_mode.layer_names[0] == "block_1"
    assert np.isfinite(result.metrics["loss"])


def test_gpt2_small_attends_through_dot_product_attention(monkeypatch):
    """Dropout 0 (GPT-2 small's default): MultiHeadAttention calls
    `ops.dot_product_attention` (flash attention where the device has one)."""
    from keras.src import ops as src_ops

    calls = []
    original = src_ops.dot_product_attention
    monkeypatch.setattr(src_ops, "dot_product_attention",
                        lambda *a, **k: calls.append(k.get("is_causal")) or original(*a, **k))
    model = tiny_model("gpt2_small")
    x, _ = sample_batch("gpt2_small", model, batch_size=2)
    model(x)
    assert calls == [True] * kz.model_info("gpt2_small").tiny["num_layers"]
    calls.clear()
    tiny_model("gpt_mini")(x)  # dropout 0.1: Keras's explicit softmax path
    assert calls == []
    assert transformer.gpt2_small.__doc__.count("dot_product_attention")
