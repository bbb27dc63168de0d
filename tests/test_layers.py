"""Tests of the shared custom layers in `keras_zoo.models.layers`.

For each layer: build, output shape, a training step, the `get_config` /
`from_config` round trip and `serialize_keras_object` / deserialize.
"""

import keras
import numpy as np
import pytest

from keras_zoo.errors import InvalidArgumentError
from keras_zoo.models.layers import (
    MaskedAveragePooling1D,
    PatchEmbedding,
    TokenAndPositionEmbedding,
    TransformerBlock,
)

RNG = np.random.default_rng(0)
TOKENS = RNG.integers(0, 30, size=(4, 10)).astype("int32")
IMAGES = RNG.random((4, 8, 8, 3)).astype("float32")
VECTORS = RNG.normal(size=(4, 10, 8)).astype("float32")

CASES = {
    "token_and_position": (
        lambda: TokenAndPositionEmbedding(30, 10, 8, mask_zero=True, name="embedding"),
        TOKENS,
        (4, 10, 8),
    ),
    "patch": (lambda: PatchEmbedding(4, 8, name="patches"), IMAGES, (4, 4, 8)),
    "patch_class_token": (
        lambda: PatchEmbedding(4, 8, use_class_token=True, name="patches"),
        IMAGES,
        (4, 5, 8),
    ),
    "block_post_norm": (
        lambda: TransformerBlock(8, 2, 16, dropout=0.1, name="block"),
        VECTORS,
        (4, 10, 8),
    ),
    "block_wide_keys": (
        lambda: TransformerBlock(8, 2, 16, key_dim=8, attention_dropout=0.0, name="block"),
        VECTORS,
        (4, 10, 8),
    ),
    "block_pre_norm_causal": (
        lambda: TransformerBlock(
            8, 2, 16, causal=True, norm_first=True, activation="gelu", name="block"
        ),
        VECTORS,
        (4, 10, 8),
    ),
}


def _predict(layer, x):
    return keras.ops.convert_to_numpy(layer(x, training=False))


@pytest.mark.parametrize("case", sorted(CASES))
def test_build_and_output_shape(case):
    make, x, expected = CASES[case]
    layer = make()
    out = _predict(layer, x)
    assert layer.built
    assert out.shape == expected
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert layer.compute_output_shape(x.shape) == expected
    assert layer.count_params() > 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_step_updates_weights(case):
    make, x, expected = CASES[case]
    inputs = keras.Input(x.shape[1:], dtype=x.dtype)
    model = keras.Model(inputs, make()(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    target = RNG.normal(size=expected).astype("float32")
    history = model.fit(x, target, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    changed = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
    assert any(changed)


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_round_trip(case):
    make, x, _ = CASES[case]
    layer = make()
    expected = _predict(layer, x)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_predict(clone, x), expected, rtol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_serialization_round_trip(case):
    make, x, _ = CASES[case]
    layer = make()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_zoo>{type(layer).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()


@pytest.mark.parametrize("case", sorted(CASES))
def test_mixed_bfloat16(case):
    make, x, expected = CASES[case]
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        layer = make()
        out = layer(x, training=False)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert tuple(out.shape) == expected
    assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))).all()


def test_token_embedding_mask():
    layer = TokenAndPositionEmbedding(30, 10, 8, mask_zero=True)
    tokens = np.array([[5, 6, 0, 0]], "int32")
    mask = keras.ops.convert_to_numpy(layer.compute_mask(tokens))
    np.testing.assert_array_equal(mask, [[True, True, False, False]])
    assert TokenAndPositionEmbedding(30, 10, 8).compute_mask(tokens) is None
    # Shorter inputs than `sequence_length` use the first positions.
    assert _predict(layer, tokens).shape == (1, 4, 8)


def test_masked_average_pooling_averages_real_steps_and_an_empty_row_is_zero():
    mask = np.array([[True] * 3 + [False] * 7, [False] * 10, [True] * 10, [True] + [False] * 9])
    pooled = keras.ops.convert_to_numpy(MaskedAveragePooling1D()(VECTORS, mask=mask))
    np.testing.assert_allclose(pooled[0], VECTORS[0, :3].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pooled[1], np.zeros(8))  # Keras's own gives NaN here
    np.testing.assert_allclose(pooled[2], VECTORS[2].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[3], VECTORS[3, 0], rtol=1e-5, atol=1e-6)
    unmasked = keras.ops.convert_to_numpy(MaskedAveragePooling1D()(VECTORS))
    np.testing.assert_allclose(unmasked, VECTORS.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_bert_classifier_predicts_finite_scores_for_an_empty_text():
    import keras_zoo as kz

    model = kz.create_model("bert_classifier", vocab_size=20, sequence_length=8, embed_dim=8,
                            num_heads=2, ff_dim=16, num_layers=1)
    tokens = np.zeros((2, 8), "int32")
    tokens[1, :3] = 5
    scores = model.predict(tokens, verbose=0)
    assert np.isfinite(scores).all(), scores


def test_block_ignores_masked_keys():
    block = TransformerBlock(8, 2, 16)
    mask = np.array([[True] * 6 + [False] * 4] * 4)
    changed = VECTORS.copy()
    changed[:, 6:] = RNG.normal(size=changed[:, 6:].shape)
    a = keras.ops.convert_to_numpy(block(VECTORS, mask=mask))
    b = keras.ops.convert_to_numpy(block(changed, mask=mask))
    np.testing.assert_allclose(a[:, :6], b[:, :6], rtol=1e-5, atol=1e-5)


def test_causal_block_does_not_see_the_future():
    block = TransformerBlock(8, 2, 16, causal=True)
    changed = VECTORS.copy()
    changed[:, 5:] = RNG.normal(size=changed[:, 5:].shape)
    a, b = _predict(block, VECTORS), _predict(block, changed)
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[:, 5:], b[:, 5:])


@pytest.mark.parametrize("norm_first", [True, False])
def test_cached_block_equals_the_whole_sequence(norm_first):
    block = TransformerBlock(8, 2, 16, dropout=0.1, causal=True, norm_first=norm_first)
    expected = _predict(block, VECTORS)  # (B, T, C), T = 10
    batch, steps = VECTORS.shape[:2]
    cache = np.zeros((batch, 2, 12, 2, 4), "float32")  # room for 12 positions
    prefix, cache = block.call_with_cache(VECTORS[:, :4], cache, 0)  # positions 0-3
    outputs = [keras.ops.convert_to_numpy(prefix)]
    for t in range(4, steps):  # then one position at a time
        x, cache = block.call_with_cache(VECTORS[:, t:t + 1], cache, t)
        outputs.append(keras.ops.convert_to_numpy(x))
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), expected, rtol=1e-5, atol=1e-5)
    # Only one output: the same value; every input's keys and values still cached.
    last, again = block.call_with_cache(VECTORS, np.zeros_like(cache), 0, output_index=6)
    assert last.shape == (batch, 1, 8)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(last)[:, 0], expected[:, 6],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again)[:, :, :steps],
                               keras.ops.convert_to_numpy(cache)[:, :, :steps],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="causal=False"):
        TransformerBlock(8, 2, 16).call_with_cache(VECTORS, cache, 0)


def test_token_embedding_start_index_shifts_the_positions():
    layer = TokenAndPositionEmbedding(30, 10, 8)
    tokens = np.array([[3, 4, 5, 6]], "int32")
    whole = _predict(layer, tokens)
    tail = keras.ops.convert_to_numpy(layer(tokens[:, 2:], start_index=2))
    np.testing.assert_allclose(tail, whole[:, 2:], rtol=1e-6)


def test_block_sublayers_are_named():
    block = TransformerBlock(8, 2, 16)
    names = {layer.name for layer in block._layers}
    assert {"attention", "attention_norm", "ffn_intermediate", "ffn_output", "ffn_norm"} <= names


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: TransformerBlock(10, 3, 16), "embed_dim=10, num_heads=3"),
        (lambda: TransformerBlock(8, 2, 16, dropout=1.5), "dropout=1.5"),
        (lambda: TransformerBlock(8, 0, 16), "num_heads=0"),
        (lambda: TransformerBlock(8, 2, 16, key_dim=0), "key_dim=0"),
        (lambda: TransformerBlock(8, 2, 16, attention_dropout=2.0), "attention_dropout=2.0"),
        (lambda: TokenAndPositionEmbedding(0, 10, 8), "vocab_size=0"),
        (lambda: PatchEmbedding(4, 8)(np.zeros((1, 10, 8, 3), "float32")), "patch_size=4"),
        (lambda: TransformerBlock(8, 2, 16)(np.zeros((1, 5, 6), "float32")), "embed_dim=8"),
    ],
)
def test_invalid_arguments_raise(make, match):
    with pytest.raises(InvalidArgumentError, match=match):
        make()
