"""Tests specific to `keras_zoo.models.transformer`: `generate`, argument
checks, masking, and a quick check that `gpt_mini` learns.

The shared build / fit / save checks of every model are in test_models.py.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_zoo.errors import InvalidArgumentError
from keras_zoo.models import transformer
from keras_zoo.models.transformer import generate, gpt_mini, transformer_classifier, vit

VOCAB = 20
WINDOW = 8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def lm():
    keras.utils.set_random_seed(0)
    return gpt_mini(
        vocab_size=VOCAB, sequence_length=WINDOW, embed_dim=8, num_heads=2, ff_dim=16, num_layers=1
    )


@pytest.mark.parametrize("prompt_length", [1, 3, WINDOW, WINDOW + 5])
def test_generate_length_and_range(lm, prompt_length):
    prompt = np.arange(prompt_length) % VOCAB
    ids = generate(lm, prompt, num_tokens=6, seed=0)
    assert ids.shape == (prompt_length + 6,)
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids[:prompt_length], prompt)
    assert ids.min() >= 0 and ids.max() < VOCAB


def test_generate_batch_and_zero_tokens(lm):
    ids = generate(lm, [[1, 2], [3, 4], [5, 6]], num_tokens=4, top_k=3, seed=0)
    assert ids.shape == (3, 6)
    np.testing.assert_array_equal(generate(lm, [4, 5], num_tokens=0), [4, 5])


def test_generate_is_deterministic_by_seed(lm):
    a = generate(lm, [1, 2, 3], num_tokens=12, temperature=5.0, seed=7)
    b = generate(lm, [1, 2, 3], num_tokens=12, temperature=5.0, seed=7)
    c = generate(lm, [1, 2, 3], num_tokens=12, temperature=5.0, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_greedy_takes_the_argmax(lm):
    prompt = [3, 1, 4]
    ids = generate(lm, prompt, num_tokens=1, temperature=0)
    window = np.zeros((1, WINDOW), "int32")
    window[0, :3] = prompt
    logits = keras.ops.convert_to_numpy(lm(window, training=False))
    assert ids[-1] == logits[0, 2].argmax()
    # Greedy ignores the seed; top_k=1 at any temperature is greedy too.
    np.testing.assert_array_equal(
        generate(lm, prompt, num_tokens=10, temperature=0, seed=1),
        generate(lm, prompt, num_tokens=10, temperature=0, seed=2),
    )
    np.testing.assert_array_equal(
        generate(lm, prompt, num_tokens=10, temperature=0),
        generate(lm, prompt, num_tokens=10, top_k=1, seed=3),
    )


def test_generate_top_k_limits_choices(lm):
    window = np.zeros((1, WINDOW), "int32")
    window[0, 0] = 2
    logits = keras.ops.convert_to_numpy(lm(window, training=False))[0, 0]
    allowed = set(np.argsort(logits)[-2:])
    firsts = {
        int(generate(lm, [2], num_tokens=1, temperature=10.0, top_k=2, seed=seed)[-1])
        for seed in range(20)
    }
    assert firsts <= allowed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(prompt_ids=[], num_tokens=2), "non-empty"),
        (dict(prompt_ids=[1, VOCAB], num_tokens=2), "must be in"),
        (dict(prompt_ids=[1.5], num_tokens=2), "integer ids"),
        (dict(prompt_ids=[1], num_tokens=-1), "num_tokens=-1"),
        (dict(prompt_ids=[1], num_tokens=2, temperature=-1.0), "temperature=-1.0"),
        (dict(prompt_ids=[1], num_tokens=2, top_k=0), "top_k=0"),
        (dict(prompt_ids=[1], num_tokens=2, top_p=0), r"top_p=0\b"),
        (dict(prompt_ids=[1], num_tokens=2, top_p=1.5), "top_p=1.5"),
        (dict(prompt_ids=[1], num_tokens=2, top_p=-0.1), r"\(0, 1\]. Received: top_p=-0.1"),
        (dict(prompt_ids=[1], num_tokens=2, top_p="0.9"), "top_p='0.9'"),
        (dict(prompt_ids=[1], num_tokens=2, top_p=True), "top_p=True"),
        (dict(prompt_ids=[1], num_tokens=2, use_cache="yes"), "use_cache='yes'"),
    ],
)
def test_generate_rejects_bad_arguments(lm, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        generate(lm, **kwargs)


@pytest.fixture(scope="module", params=["tied", "untied"])
def two_block_lm(request):
    keras.utils.set_random_seed(1)
    return gpt_mini(vocab_size=VOCAB, sequence_length=WINDOW, embed_dim=8, num_heads=2,
                    ff_dim=16, num_layers=2, tie_embeddings=request.param == "tied")


@pytest.mark.parametrize("prompt_length", [1, 3, WINDOW - 1, WINDOW, WINDOW + 3])
def test_cached_generate_gives_the_uncached_tokens(two_block_lm, prompt_length, monkeypatch):
    model = two_block_lm
    prompts = (np.arange(2 * prompt_length).reshape(2, prompt_length) * 7 + 1) % VOCAB  # (2, P)
    num_tokens = 2 * WINDOW + 5  # past the window from every prompt; 2 compiled chunks
    uncached = generate(model, prompts, num_tokens, temperature=0, use_cache=False)
    sampling = dict(temperature=1.5, top_k=12, top_p=0.9, seed=4)
    sampled = generate(model, prompts, num_tokens, **sampling, use_cache=False)

    def no_predict(*args):
        raise AssertionError("the cached path ran the whole model")

    monkeypatch.setattr(model, "predict_on_batch", no_predict)
    np.testing.assert_array_equal(generate(model, prompts, num_tokens, temperature=0), uncached)
    # The same noise on the same logits (to float rounding): sampling agrees too.
    np.testing.assert_array_equal(generate(model, prompts, num_tokens, **sampling), sampled)


def test_cached_generation_is_compiled_once():
    keras.utils.set_random_seed(0)
    model = gpt_mini(vocab_size=VOCAB, sequence_length=WINDOW, embed_dim=8, num_heads=2,
                     ff_dim=16, num_layers=1)
    generate(model, [[1], [2]], num_tokens=3 * WINDOW, seed=0)  # within, then past the window
    generate(model, [[1, 2, 3], [4, 5, 6]], num_tokens=5, temperature=0, top_k=3, top_p=0.5)
    assert transformer._cached_gpt(model).traces == 1  # one compiled loop for batches of 2


_ON_JAX = """
import keras, numpy as np
from keras_zoo.models.transformer import _cached_gpt, generate, gpt_mini
keras.utils.set_random_seed(0)
model = gpt_mini(vocab_size=20, sequence_length=8, embed_dim=8, num_heads=2, ff_dim=16,
                 num_layers=2)
assert keras.backend.backend() == "jax" and _cached_gpt(model) is not None
for length in (1, 5, 10):
    prompts = np.arange(2 * length).reshape(2, length) % 20
    cached = generate(model, prompts, 12, temperature=0)
    np.testing.assert_array_equal(cached, generate(model, prompts, 12, temperature=0,
                                                   use_cache=False))
    sampled = generate(model, prompts, 12, temperature=1.5, top_k=12, top_p=0.9, seed=4)
    np.testing.assert_array_equal(sampled, generate(model, prompts, 12, temperature=1.5,
                                                    top_k=12, top_p=0.9, seed=4, use_cache=False))
assert _cached_gpt(model).traces == 1, _cached_gpt(model).traces
print("same tokens")
"""


@pytest.mark.slow  # 30 s or more: a fresh process imports JAX and compiles
def test_cached_generate_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", _ON_JAX], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "same tokens" in done.stdout, done.stderr[-3000:]


def test_generate_uses_the_cache_only_for_the_gpt_family(lm):
    assert transformer._cached_gpt(lm) is not None
    inputs = keras.Input((WINDOW,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 8)(inputs)
    other = keras.Model(inputs, keras.layers.Dense(VOCAB)(x))
    assert transformer._cached_gpt(other) is None
    assert generate(other, [1, 2], num_tokens=10, temperature=0).shape == (12,)


@pytest.fixture(scope="module")
def known_distribution():
    """A causal LM whose next-token probabilities are `PROBS` after any token."""
    inputs = keras.Input((4,), dtype="int32")
    table = np.log(np.tile(PROBS, (len(PROBS), 1)))  # (V, V): every row the same
    embedding = keras.layers.Embedding(len(PROBS), len(PROBS), trainable=False)
    model = keras.Model(inputs, embedding(inputs))
    embedding.set_weights([table])
    return model


PROBS = np.array([0.05, 0.5, 0.15, 0.3])  # ranked: 1, 3, 2, 0


@pytest.mark.parametrize(
    "top_k, top_p, allowed",
    [
        (None, 0.4, {1}),
        (None, 0.6, {1, 3}),
        (None, 0.9, {1, 3, 2}),
        (None, 1.0, {1, 3, 2, 0}),
        (2, None, {1, 3}),
        (3, 0.9, {1, 3, 2}),  # top-p on the top-3 renormalised: 0.53, 0.32, 0.16
        (2, 0.9, {1, 3}),
    ],
)
def test_top_k_and_top_p_sample_exactly_the_allowed_tokens(known_distribution, top_k, top_p,
                                                           allowed):
    prompts = np.zeros((200, 1), "int32")  # 200 draws of the first token
    ids = generate(known_distribution, prompts, num_tokens=1, top_k=top_k, top_p=top_p, seed=0)
    assert set(ids[:, -1].tolist()) == allowed


def test_gpt_mini_learns_a_repeating_pattern():
    period, window = 5, 16
    pattern = np.arange(1, period + 1)  # 1 2 3 4 5 1 2 3 ...
    rng = np.random.default_rng(0)
    starts = rng.integers(0, period, size=256)
    seqs = np.stack([np.resize(np.roll(pattern, -s), window + 1) for s in starts]).astype("int32")
    x, y = seqs[:, :-1], seqs[:, 1:]  # y is x shifted by one token

    keras.utils.set_random_seed(0)
    model = gpt_mini(
        vocab_size=8, sequence_length=window, embed_dim=16, num_heads=2, ff_dim=32, dropout=0.0,
        num_layers=1,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    # The prompt is shorter than the window, then generation runs past it.
    ids = generate(model, [3, 4], num_tokens=20, temperature=0)
    np.testing.assert_array_equal(ids, np.resize(np.roll(pattern, -2), 22))


def test_transformer_classifier_masks_padding():
    keras.utils.set_random_seed(0)
    model = transformer_classifier(
        vocab_size=30, sequence_length=10, embed_dim=8, num_heads=2, ff_dim=8, dropout=0.0
    )
    x = np.array([[5, 6, 7, 0, 0, 0, 0, 0, 0, 0]], "int32")
    before = keras.ops.convert_to_numpy(model(x, training=False))
    # Padding must not matter: changing the embedding of id 0 leaves the output alone.
    table = model.get_layer("embedding").token_embedding.embeddings
    table.assign(keras.ops.scatter_update(table, [[0]], keras.ops.ones((1, 8)) * 3.0))
    after = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-6)


def test_transformer_classifier_is_the_keras_io_model():
    model = transformer_classifier()
    # keras-io "Text classification with Transformer": 20k words, 200
    # positions, 32-d embeddings; attention with 2 heads of key_dim=32.
    embeddings = 20_000 * 32 + 200 * 32
    attention = 3 * (32 * 2 * 32 + 2 * 32) + (2 * 32 * 32 + 32)
    block = attention + 2 * (32 * 32 + 32) + 2 * (2 * 32)  # + FFN, 2 LayerNorms
    head = (32 * 20 + 20) + (20 * 2 + 2)  # Dense(20, relu), Dense(2)
    assert model.count_params() == embeddings + block + head == 657_758
    attention = model.get_layer("block_1").attention
    assert attention.key_dim == 32 and attention.dropout == 0.0  # dropout after it only
    assert model.get_layer("head_dense").units == 20
    assert isinstance(model.get_layer("head_dense_dropout"), keras.layers.Dropout)
    # Without the hidden head layer, the output reads the pooled vector.
    bare = transformer_classifier(head_units=0)
    assert bare.count_params() == embeddings + block + (32 * 2 + 2)
    assert "head_dense" not in [layer.name for layer in bare.layers]
    assert transformer_classifier(key_dim=16).get_layer("block_1").attention.key_dim == 16


@pytest.mark.parametrize("pooling", ["flatten", "mean", "token"])
def test_vit_pooling(pooling):
    model = vit(
        input_shape=(8, 8, 1), num_classes=3, image_size=None, patch_size=2, embed_dim=8,
        num_heads=2, ff_dim=8, num_layers=1, pooling=pooling, head_units=(4,),
    )
    steps = 16 + (pooling == "token")
    assert model.get_layer("patch_embedding").output.shape == (None, steps, 8)
    assert model.get_layer("pool").output.shape[-1] == (16 * 8 if pooling == "flatten" else 8)
    assert model(np.zeros((2, 8, 8, 1), "float32")).shape == (2, 3)


def test_vit_is_the_keras_io_configuration():
    model = vit(num_layers=1, head_units=(8,))  # the default sizes, fewer layers to build fast
    assert model.get_layer("resize").output.shape[1:] == (72, 72, 3)
    assert model.get_layer("patch_embedding").output.shape[1:] == (144, 256)  # 12 x 12 patches
    block = model.get_layer("block_1")
    assert block.attention.key_dim == 64 and block.ff_dim == 512 and block.num_heads == 4
    assert model.output.shape[-1] == 100  # CIFAR-100, the example's dataset


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: vit(input_shape=(32, 32, 3), image_size=None, patch_size=5), "patch_size=5"),
        (lambda: vit(head_units=(0,)), "head_units"),
        (lambda: vit(input_shape=(32, 32)), "input_shape"),
        (lambda: vit(pooling="max"), "pooling='max'"),
        (lambda: vit(embed_dim=10, num_heads=4), "embed_dim=10, num_heads=4"),
        (lambda: gpt_mini(embed_dim=12, num_heads=5), "embed_dim=12, num_heads=5"),
        (lambda: gpt_mini(num_layers=0), "num_layers=0"),
        (lambda: transformer_classifier(dropout=1.0), "dropout=1.0"),
        (lambda: transformer_classifier(classifier_activation="relu"), "'relu'"),
        (lambda: transformer_classifier(key_dim=0), "key_dim=0"),
        (lambda: transformer_classifier(head_units=-1), "head_units=-1"),
    ],
)
def test_invalid_arguments_raise(build, match):
    with pytest.raises(InvalidArgumentError, match=match):
        build()
