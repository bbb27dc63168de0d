"""Transformer models: a text classifier, a small ViT and a miniature GPT.

Built from the shared layers in `keras_zoo.models.layers`. Shapes in comments:
B batch, T tokens, N patches, C embedding size, V vocabulary.
"""

import weakref

import keras
import numpy as np
from keras import ops

from keras_zoo.errors import (
    InvalidArgumentError,
    check_int,
    check_number,
    check_positive_int,
    is_integer,
)
from keras_zoo.models.layers import (
    PatchEmbedding,
    TokenAndPositionEmbedding,
    TransformerBlock,
    check_transformer_args,
)
from keras_zoo.models.registry import register_model

_CLASSIFIER_ACTIVATIONS = (None, "softmax")
_POOLINGS = ("flatten", "mean", "token")


def _check_classifier_activation(classifier_activation):
    if classifier_activation not in _CLASSIFIER_ACTIVATIONS:
        raise InvalidArgumentError(
            f"`classifier_activation` must be one of {_CLASSIFIER_ACTIVATIONS}. "
            f"Received: classifier_activation={classifier_activation!r}"
        )


def apply_transformer_blocks(x, num_layers, *, name="block", **block_args):
    """Applies `num_layers` `TransformerBlock`s named `{name}_1`, `{name}_2`, ..."""
    for i in range(1, num_layers + 1):
        x = TransformerBlock(**block_args, name=f"{name}_{i}")(x)  # (B, T, C)
    return x


@register_model(
    family="transformer",
    task="text_classification",
    dataset="imdb_reviews",
    reference="keras-io example 'Text classification with Transformer' (A. Nandan); "
    "Vaswani et al. 2017, arXiv:1706.03762",
    tiny=dict(vocab_size=50, sequence_length=12, embed_dim=8, num_heads=2, ff_dim=8),
)
def transformer_classifier(
    vocab_size=20000,
    sequence_length=200,
    num_classes=2,
    embed_dim=32,
    num_heads=2,
    ff_dim=32,
    num_layers=1,
    dropout=0.1,
    key_dim=None,
    head_units=20,
    classifier_activation="softmax",
):
    """Transformer text classifier: embeddings, encoder blocks, mean pooling.

    The keras-io example "Text classification with Transformer" by default:
    token and position embeddings of 32, one post-norm block with 2 heads of
    `key_dim=embed_dim` (32 each, not 32 / 2) and a 32-unit ReLU
    feed-forward network, mean pooling, then Dropout, Dense(20, ReLU),
    Dropout and the output layer: 657,758 parameters for 20k words and 200
    tokens, as the example's model.

    Departures from the example, and why:

    - Padding (id 0) is masked in attention and in the mean pooling; the
      example attends to and averages over its padding, so a review's
      vector depends on how much padding it has. Not measured on IMDB here
      (the data cannot be downloaded); masking changes no parameter.
    - None in the head: two-class softmax, as the example
      (`classifier_activation=None` gives logits).

    Args:
        vocab_size: number of token ids (0 = padding, 1 = out of vocabulary).
        sequence_length: tokens per example.
        num_classes: number of classes.
        embed_dim: size of token and position embeddings.
        num_heads: attention heads.
        ff_dim: hidden size of each block's feed-forward network.
        num_layers: number of Transformer blocks.
        dropout: dropout rate on the blocks' attention and feed-forward
            outputs and in the head (not on the attention weights, as the
            example).
        key_dim: size of each head's queries and keys; `None` for
            `embed_dim` (the example's choice).
        head_units: units of the ReLU layer between pooling and the output
            (the example's 20); 0 for none.
        classifier_activation: `"softmax"` (default, as keras.applications)
            for float32 class probabilities, or `None` for float32 logits.

    Returns:
        A Functional `keras.Model` mapping `(B, sequence_length)` int32 ids to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = transformer_classifier(vocab_size=5000, num_classes=4)
    """
    check_transformer_args(embed_dim, num_heads, ff_dim, dropout)
    check_positive_int(num_layers, "num_layers")
    check_positive_int(num_classes, "num_classes")
    if key_dim is not None:
        check_positive_int(key_dim, "key_dim")
    if head_units != 0:
        check_positive_int(head_units, "head_units")
    _check_classifier_activation(classifier_activation)
    # As the example: no dropout on the attention weights, only on its output.
    block_args = dict(embed_dim=embed_dim, num_heads=num_heads, ff_dim=ff_dim, dropout=dropout,
                      key_dim=embed_dim if key_dim is None else key_dim, attention_dropout=0.0)
    inputs = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x = TokenAndPositionEmbedding(
        vocab_size, sequence_length, embed_dim, mask_zero=True, name="embedding"
    )(inputs)  # (B, T, C)
    x = apply_transformer_blocks(x, num_layers, **block_args)  # (B, T, C)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)  # (B, C)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    if head_units:
        x = keras.layers.Dense(head_units, activation="relu", name="head_dense")(x)  # (B, H)
        x = keras.layers.Dropout(dropout, name="head_dense_dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="transformer_classifier")


@register_model(
    family="transformer",
    task="image_classification",
    dataset="cifar100",
    reference="Dosovitskiy et al. 2020, An Image is Worth 16x16 Words, arXiv:2010.11929; "
    "keras-io example 'Image classification with Vision Transformer' (K. Salama)",
    tiny=dict(
        input_shape=(8, 8, 3), image_size=None, patch_size=4, embed_dim=8, num_heads=2,
        ff_dim=8, num_layers=1, head_units=(8,),
    ),
)
def vit(
    input_shape=(32, 32, 3),
    num_classes=100,
    image_size=72,
    patch_size=6,
    embed_dim=256,
    num_heads=4,
    ff_dim=512,
    num_layers=8,
    dropout=0.1,
    pooling="flatten",
    head_units=(2048, 1024),
    head_dropout=0.5,
    classifier_activation="softmax",
):
    """Vision Transformer for small images, after the keras-io ViT example.

    The keras-io 'Image classification with Vision Transformer' model by
    default: images resized to 72x72, 6x6 patches (144 tokens) projected to
    256 and summed with learned positions, 8 pre-norm blocks of 4 heads
    (key size 64) with a 512-unit GELU MLP, a final LayerNorm, the tokens
    flattened, and an MLP head of 2048 and 1024 GELU units with dropout 0.5.
    Departures from keras-io, each to keep one shared block and pipeline:
    inputs are in [0, 1] (keras-io standardises per channel with an adapted
    `Normalization`); the block's MLP is GELU then linear with one dropout
    (keras-io: GELU, dropout, GELU, dropout) and dropout also follows the
    attention; augmentation is the training recipe's (keras-io has random
    flip, rotation 0.02 and zoom 0.2 layers in the model). `pooling="token"`
    reads a learned class token, as in the paper.

    Args:
        input_shape: `(height, width, channels)` of the images, values in [0, 1].
        num_classes: number of classes.
        image_size: images are resized to this square size first; None
            keeps `input_shape`.
        patch_size: side of the square patches; must divide the (resized)
            height and width.
        embed_dim: size of each patch embedding.
        num_heads: attention heads; must divide `embed_dim`.
        ff_dim: hidden size of each block's feed-forward network (MLP).
        num_layers: number of Transformer blocks.
        dropout: dropout rate in the blocks.
        pooling: `"flatten"` (keras-io), `"mean"` over the patch tokens, or
            `"token"`, a learned class token.
        head_units: hidden GELU layers of the head, first to last.
        head_dropout: dropout before each head layer.
        classifier_activation: `"softmax"` (default, as keras.applications)
            for float32 class probabilities, or `None` for float32 logits.

    Returns:
        A Functional `keras.Model` mapping `(B, H, W, C)` images to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = vit(input_shape=(28, 28, 1), image_size=None, patch_size=7, num_classes=10)
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise InvalidArgumentError(
            f"`input_shape` must be (height, width, channels). Received: input_shape={input_shape}"
        )
    check_positive_int(patch_size, "patch_size")
    if image_size is not None:
        check_positive_int(image_size, "image_size")
    height, width = (image_size, image_size) if image_size else input_shape[:2]
    if height % patch_size or width % patch_size:
        raise InvalidArgumentError(
            "`patch_size` must divide the image height and width (after resizing to "
            f"`image_size`). Received: patch_size={patch_size}, input_shape={input_shape}, "
            f"image_size={image_size}"
        )
    if pooling not in _POOLINGS:
        raise InvalidArgumentError(
            f"`pooling` must be one of {_POOLINGS}. Received: pooling={pooling!r}"
        )
    if not isinstance(head_units, (tuple, list)) or any(
            not is_integer(u) or u < 1 for u in head_units):
        raise InvalidArgumentError(
            f"`head_units` must be a tuple of positive ints. Received: head_units={head_units!r}")
    check_transformer_args(embed_dim, num_heads, ff_dim, dropout)
    check_positive_int(num_layers, "num_layers")
    check_positive_int(num_classes, "num_classes")
    _check_classifier_activation(classifier_activation)
    block_args = dict(
        embed_dim=embed_dim,
        num_heads=num_heads,
        ff_dim=ff_dim,
        dropout=dropout,
        norm_first=True,
        activation="gelu",
    )
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    if image_size:
        x = keras.layers.Resizing(image_size, image_size, name="resize")(x)  # (B, S, S, C)
    x = PatchEmbedding(
        patch_size, embed_dim, use_class_token=pooling == "token", name="patch_embedding"
    )(x)  # (B, N(+1), C)
    x = apply_transformer_blocks(x, num_layers, **block_args)  # (B, N(+1), C)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    if pooling == "token":
        num_patches = x.shape[1] - 1
        x = keras.layers.Cropping1D((0, num_patches), name="class_token")(x)  # (B, 1, C)
        x = keras.layers.Flatten(name="pool")(x)  # (B, C)
    elif pooling == "flatten":
        x = keras.layers.Flatten(name="pool")(x)  # (B, N C)
    else:
        x = keras.layers.GlobalAveragePooling1D(name="pool")(x)  # (B, C)
    for i, units in enumerate(head_units, start=1):
        x = keras.layers.Dropout(head_dropout, name=f"head_dropout{i}")(x)
        x = keras.layers.Dense(units, activation="gelu", name=f"head_dense{i}")(x)
    if head_units:
        x = keras.layers.Dropout(head_dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="vit")


_GPT_REFERENCE = ("Radford et al. 2019 (GPT-2); nanoGPT (A. Karpathy); keras-io example "
                  "'Text generation with a miniature GPT' (A. Nandan)")
_GPT_TINY = dict(vocab_size=20, sequence_length=8, embed_dim=8, num_heads=2, ff_dim=16,
                 num_layers=1)


def _build_gpt(name, *, vocab_size, sequence_length, embed_dim, num_heads, ff_dim, num_layers,
               dropout, tie_embeddings):
    """The GPT family's one builder (every named size calls it); see `gpt_mini`.

    Layer names do not depend on the size, so one `LayoutMap`
    (`keras_zoo.distribute.sharding`) and one parameter count (`keras_zoo.distribute.memory`)
    serve every size.
    """
    check_transformer_args(embed_dim, num_heads, ff_dim, dropout)
    check_positive_int(num_layers, "num_layers")
    block_args = dict(
        embed_dim=embed_dim,
        num_heads=num_heads,
        ff_dim=ff_dim,
        dropout=dropout,
        causal=True,
        norm_first=True,
        activation="gelu",
    )
    inputs = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    embedding = TokenAndPositionEmbedding(vocab_size, sequence_length, embed_dim,
                                          name="embedding")
    x = embedding(inputs)  # (B, T, C)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    x = apply_transformer_blocks(x, num_layers, **block_args)  # (B, T, C)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    if tie_embeddings:
        outputs = embedding(x, reverse=True)  # (B, T, V) float32
    else:
        outputs = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)  # (B, T, V)
    return keras.Model(inputs, outputs, name=name)


@register_model(
    family="transformer",
    task="language_modeling",
    dataset="tiny_corpus",
    reference=_GPT_REFERENCE,
    tiny=_GPT_TINY,
)
def gpt_mini(
    vocab_size=98,
    sequence_length=128,
    embed_dim=128,
    num_heads=4,
    ff_dim=512,
    num_layers=2,
    dropout=0.1,
    tie_embeddings=True,
):
    """Miniature GPT: a causal, decoder-only Transformer language model.

    Trained on next tokens: the target at step t is the input at step t+1.
    Pre-norm blocks, a final LayerNorm and the output projection tied to
    the token embedding, as in GPT-2 and nanoGPT. Sample text from it with
    `generate`. Departures from nanoGPT: learned position embeddings are
    summed inside one layer (the same maths); Keras's default initialisers
    (Glorot uniform) instead of N(0, 0.02); biases in every Dense (nanoGPT's
    default `bias=True` too); the sizes are nanoGPT's "baby" character model
    scaled down (6 layers of 384 there) to train in minutes on a CPU.

    Args:
        vocab_size: number of token ids; the default fits "tiny_corpus"
            (printable ASCII characters).
        sequence_length: context window, in tokens.
        embed_dim: size of token and position embeddings.
        num_heads: attention heads; must divide `embed_dim`.
        ff_dim: hidden size of each block's feed-forward network
            (4 x `embed_dim`, as in GPT-2).
        num_layers: number of Transformer blocks.
        dropout: dropout rate on the embeddings and in the blocks.
        tie_embeddings: the output projection is the transposed token
            embedding (True, as GPT-2), or a Dense layer of its own.

    Returns:
        A Functional `keras.Model` mapping `(B, sequence_length)` int32 ids to
        `(B, sequence_length, vocab_size)` float32 next-token logits (as language
        models output; compile with `from_logits=True`).

    Example:

    >>> model = gpt_mini(vocab_size=5000, sequence_length=64)
    >>> generate(model, [2, 14, 7], num_tokens=20, top_k=10, seed=0)
    """
    return _build_gpt("gpt_mini", **locals())


@register_model(
    family="transformer",
    task="language_modeling",
    dataset="tiny_corpus",
    reference="nanoGPT (A. Karpathy), config/train_shakespeare_char.py ('baby GPT')",
    tiny=_GPT_TINY,
)
def gpt_baby(
    vocab_size=98,
    sequence_length=256,
    embed_dim=384,
    num_heads=6,
    ff_dim=1536,
    num_layers=6,
    dropout=0.2,
    tie_embeddings=True,
):
    """nanoGPT's "baby GPT" character model: 6 layers of 384, 6 heads, 10.7M parameters.

    The sizes of nanoGPT's `train_shakespeare_char.py` (context 256, dropout
    0.2) on the `gpt_mini` architecture. Arguments as for `gpt_mini`.

    Example:

    >>> model = gpt_baby()
    """
    return _build_gpt("gpt_baby", **locals())


@register_model(
    family="transformer",
    task="language_modeling",
    dataset="tiny_corpus",
    reference="Radford et al. 2019, Language Models are Unsupervised Multitask Learners "
    "(GPT-2, the 124M model); nanoGPT (A. Karpathy), config/train_gpt2.py",
    tiny=_GPT_TINY,
)
def gpt2_small(
    vocab_size=50257,
    sequence_length=1024,
    embed_dim=768,
    num_heads=12,
    ff_dim=3072,
    num_layers=12,
    dropout=0.0,
    tie_embeddings=True,
):
    """GPT-2 small: 12 layers of 768, 12 heads, context 1024, 124M parameters.

    The `gpt_mini` architecture at GPT-2's smallest size, with GPT-2's
    byte-pair vocabulary size (fitted on a dataset, the dataset's vocabulary
    and context replace them). Dropout 0, as nanoGPT pre-trains it: with no
    attention dropout, Keras's `MultiHeadAttention` calls
    `keras.ops.dot_product_attention` (a flash-attention kernel where the
    device has one). About 2 GB of training memory for the weights alone
    (see `keras-zoo info gpt2_small`); shard it with
    `strategy="model_parallel"` on JAX.

    Example:

    >>> model = gpt2_small(vocab_size=98, sequence_length=256)
    """
    return _build_gpt("gpt2_small", **locals())


def _compile(fn, variables):
    """`fn` compiled with XLA once per input shape, on the TensorFlow or JAX backend.

    On TensorFlow the concrete function of each shape is called directly
    (half the per-call overhead of the `tf.function`); on JAX the variables'
    values are arguments of `jax.jit` (a `StatelessScope` maps them).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        function = tf.function(fn, jit_compile=True)
        concrete = {}

        def call(*args):
            key = tuple((np.shape(a), a.dtype) for a in tf.nest.flatten(args))
            if key not in concrete:
                concrete[key] = function.get_concrete_function(*args)
            return concrete[key](*args)

        return call
    if backend == "jax":
        import jax

        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        jitted = jax.jit(stateless)
        return lambda *args: jitted([v.value for v in variables], *args)
    return fn


class _CachedGPT:
    """A zoo GPT's own layers decoding with a key/value cache, in compiled chunks.

    `chunk(window, n, cached, caches, noise, count, temperature, top_k,
    top_p)` adds `count` (at most `CHUNK`) tokens in one compiled loop.
    State: `window` `(B, S)` holds the last `min(n, S)` of the `n` ids so
    far (left-aligned); `caches` (one `(B, 2, S, heads, key_dim)` per
    block) hold the keys and values of the first `cached` positions. Each
    token runs only the newest id against the caches when `cached == n - 1`
    (within the window), else the whole window (the prompt, or past the
    window, where every position shifts); the last block computes only the
    position read. `_sample_in_graph` picks the next id with the noise
    `(CHUNK, B, V)`. Traced once per batch size (`traces` counts).
    """

    CHUNK = 16  # tokens per call: the host's per-call overhead, amortised

    def __init__(self, embedding, blocks, final_norm, head, vocab_size, variables):
        self.embedding, self.blocks, self.final_norm, self.head = (
            embedding, blocks, final_norm, head)
        self.window, self.vocab_size = embedding.sequence_length, vocab_size
        self.traces = 0
        self.chunk = _compile(self._chunk, variables)

    def _forward(self, ids, caches, index, last):
        """`(B, V)` logits at input `last` of ids `(B, T)` at positions `index`..., and caches."""
        x = self.embedding(ids, start_index=index)  # (B, T, C)
        updated = []
        for i, (block, cache) in enumerate(zip(self.blocks, caches)):
            output_index = last if i == len(self.blocks) - 1 else None
            x, cache = block.call_with_cache(x, cache, index, output_index)  # (B, T or 1, C)
            updated.append(cache)
        x = self.final_norm(x[:, 0])  # (B, C)
        return ops.cast(self.head(x), "float32"), updated  # (B, V)

    def _chunk(self, window, n, cached, caches, noise, count, temperature, top_k, top_p):
        self.traces += 1  # Python runs only while tracing
        size = self.window
        new_ids = ops.zeros((ops.shape(window)[0], self.CHUNK), "int32")  # (B, K)

        def body(i, state):
            window, n, cached, caches, new_ids = state
            logits, caches = ops.cond(
                (n <= size) & (cached == n - 1),
                lambda: self._forward(ops.take(window, ops.reshape(n - 1, (1,)), axis=1),
                                      caches, n - 1, 0),  # the newest id, (B, 1)
                lambda: self._forward(window, caches, 0, ops.minimum(n, size) - 1),
            )
            next_ids = _sample_in_graph(logits, noise[i], temperature, top_k, top_p)[:, None]
            appended = ops.slice_update(window, [0, ops.minimum(n, size - 1)], next_ids)
            shifted = ops.concatenate([window[:, 1:], next_ids], axis=1)
            window = ops.where(n < size, appended, shifted)  # (B, S)
            new_ids = ops.slice_update(new_ids, [0, i], next_ids)  # (B, K)
            cached = ops.where(n <= size, n, -1)  # past the window nothing is reusable
            return window, n + 1, cached, caches, new_ids

        return ops.fori_loop(0, count, body, (window, n, cached, caches, new_ids))

    def generate(self, ids, num_tokens, temperature, top_k, top_p, rng):
        """`ids` `(B, P)` followed by `num_tokens` new ids, as `generate`'s uncached loop."""
        batch_size, length = ids.shape
        window = np.zeros((batch_size, self.window), "int32")
        context = ids[:, -self.window:]
        window[:, :context.shape[1]] = context
        vocab_size = self.vocab_size
        sampling = (np.float32(temperature), np.int32(top_k or vocab_size),
                    np.float32(1.0 if top_p is None else top_p))
        state = (window, np.int32(length), np.int32(0), self.empty_caches(batch_size))
        outputs = [ids]
        for start in range(0, num_tokens, self.CHUNK):
            count = min(self.CHUNK, num_tokens - start)
            noise = np.zeros((self.CHUNK, batch_size, vocab_size), "float32")
            if temperature:  # the uncached loop draws the same noise, token by token
                noise[:count] = rng.gumbel(size=(count, batch_size, vocab_size))
            *state, new_ids = self.chunk(*state, noise, np.int32(count), *sampling)
            outputs.append(np.asarray(new_ids)[:, :count])
        return np.concatenate(outputs, axis=1)

    def empty_caches(self, batch_size):
        return [
            ops.zeros((batch_size, 2, self.window, b.num_heads, b.attention.key_dim),
                      b.compute_dtype)
            for b in self.blocks
        ]


_CACHED = weakref.WeakKeyDictionary()  # model -> _CachedGPT (holds its layers, not the model)


def _cached_gpt(model):
    """A `_CachedGPT` for a model `_build_gpt` made, else None (any other model).

    Recognised by its structure: a `TokenAndPositionEmbedding` (no padding
    mask), dropout, causal `TransformerBlock`s and a LayerNormalization, in
    that order, then the tied embedding or a Dense layer as the output.
    """
    if model in _CACHED:
        return _CACHED[model]
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    outputs = getattr(model, "outputs", None) or []
    head = getattr(outputs[0], "_keras_history", (None,))[0] if len(outputs) == 1 else None
    if len(layers) < 4 or head is None:
        return None
    if head is layers[-1] and isinstance(head, keras.layers.Dense):
        layers = layers[:-1]  # an output layer of its own
    elif head is layers[0]:  # tied embeddings: the transposed token table
        def head(x):
            return layers[0](x, reverse=True)
    else:
        return None
    embedding, dropout, *blocks, final_norm = layers
    if not (isinstance(embedding, TokenAndPositionEmbedding) and not embedding.mask_zero
            and model.inputs[0].shape[1] == embedding.sequence_length
            and isinstance(dropout, keras.layers.Dropout) and blocks
            and all(isinstance(block, TransformerBlock) and block.causal for block in blocks)
            and isinstance(final_norm, keras.layers.LayerNormalization)):
        return None
    _CACHED[model] = _CachedGPT(embedding, blocks, final_norm, head, outputs[0].shape[-1],
                                model.variables)
    return _CACHED[model]


def _sample(logits, temperature, top_k, top_p, rng):
    """Next ids `(B,)` from float64 logits `(B, V)`: greedy, or Gumbel-max within top-k / top-p."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    logits = logits / temperature
    if top_k is not None:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]  # (B, 1)
        logits = np.where(logits < kth, -np.inf, logits)
    if top_p is not None and top_p < 1:
        order = np.argsort(-logits, axis=-1)  # (B, V), most likely first
        ranked = np.take_along_axis(logits, order, axis=-1)
        probs = np.exp(ranked - ranked[:, :1])
        probs /= probs.sum(axis=-1, keepdims=True)
        before = np.cumsum(probs, axis=-1) - probs  # mass of the more likely tokens
        # The smallest set of most likely tokens whose mass reaches top_p.
        keep = np.zeros_like(logits, bool)
        np.put_along_axis(keep, order, before < top_p, axis=-1)
        logits = np.where(keep, logits, -np.inf)
    # Gumbel-max: argmax(logits + Gumbel noise) samples from softmax(logits).
    return (logits + rng.gumbel(size=logits.shape)).argmax(axis=-1)  # (B,)


def _sample_in_graph(logits, noise, temperature, top_k, top_p):
    """`_sample` in `keras.ops`, compiled: `top_k` is an int (V for none), `top_p` 1 for none."""
    greedy = ops.argmax(logits, axis=-1)  # (B,)
    logits = logits / ops.maximum(temperature, 1e-6)
    ranked = ops.flip(ops.sort(logits, axis=-1), axis=-1)  # (B, V), most likely first
    kth = ops.take(ranked, ops.reshape(top_k - 1, (1,)), axis=1)  # (B, 1)
    logits = ops.where(logits < kth, -np.inf, logits)
    ranked = ops.where(ranked < kth, -np.inf, ranked)
    probs = ops.softmax(ranked, axis=-1)
    before = ops.cumsum(probs, axis=-1) - probs  # mass of the more likely tokens
    least = ops.min(ops.where(before < top_p, ranked, np.inf), axis=-1, keepdims=True)  # (B, 1)
    logits = ops.where((top_p < 1) & (logits < least), -np.inf, logits)
    sampled = ops.argmax(logits + noise, axis=-1)  # Gumbel-max, (B,)
    return ops.cast(ops.where(temperature == 0, greedy, sampled), "int32")


def generate(model, prompt_ids, num_tokens, *, temperature=1.0, top_k=None, top_p=None,
             seed=None, use_cache=True):
    """Extends a prompt with tokens sampled from a causal language model.

    The context is the last `sequence_length` ids (longer prompts are
    left-cropped). For the GPT family (`gpt_mini`, `gpt_baby`,
    `gpt2_small`) a key/value cache on the model's own layers runs the
    prompt once, then one token per step, sampling included, in an XLA loop
    compiled on the first call for each batch size (seconds; later calls
    reuse it); past the context window each token re-reads the last
    `sequence_length` ids (the positions shift), as without the cache. Any
    other model mapping ids to logits runs on the whole context per token:
    padded on the right with id 0, the next token read at the last real
    position, which the causal mask keeps blind to the padding. Both draw
    the same noise from `seed`, so they give the same tokens (up to float
    rounding of the logits: exactly for greedy decoding, in the tests).

    Args:
        model: a model mapping `(B, T)` ids to `(B, T, V)` next-token logits,
            such as `gpt_mini`.
        prompt_ids: a non-empty sequence of ids `(P,)`, or a batch `(B, P)`.
        num_tokens: number of tokens to add.
        temperature: divides the logits; higher is more random, `0` is greedy
            (always the most likely token).
        top_k: if set, sample only among the `top_k` most likely tokens.
        top_p: if set, sample only among the most likely tokens whose
            probabilities (after `temperature` and `top_k`) sum to `top_p`
            (nucleus sampling, Holtzman et al. 2019).
        seed: seed of the sampler; the same seed gives the same ids.
        use_cache: use the key/value cache where the model is a zoo GPT
            (`False`: the whole context per token, for any model).

    Returns:
        An int32 `np.ndarray` of shape `(P + num_tokens,)` (or
        `(B, P + num_tokens)`): the prompt followed by the new ids.

    Example:

    >>> ids = generate(model, [5, 9, 2], num_tokens=10, temperature=0.8, top_p=0.9, seed=0)
    """
    ids = np.asarray(prompt_ids)
    single = ids.ndim == 1
    ids = ids[None] if single else ids  # (B, P)
    vocab_size = model.outputs[0].shape[-1]
    if ids.ndim != 2 or ids.shape[1] == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise InvalidArgumentError(
            "`prompt_ids` must be a non-empty sequence of integer ids, or a batch of them. "
            f"Received: prompt_ids with shape {np.shape(prompt_ids)} and dtype {ids.dtype}"
        )
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise InvalidArgumentError(
            f"`prompt_ids` must be in [0, {vocab_size}) (the model's vocabulary). "
            f"Received: ids from {ids.min()} to {ids.max()}"
        )
    num_tokens = check_int(num_tokens, "num_tokens", minimum=0)
    temperature = check_number(temperature, "temperature", minimum=0)  # NaN and inf refused
    top_k = check_int(top_k, "top_k", minimum=1, maximum=vocab_size, allow_none=True)
    top_p = check_number(top_p, "top_p", above=0, maximum=1, allow_none=True)
    if not isinstance(use_cache, bool):
        raise InvalidArgumentError(
            f"`use_cache` must be True or False. Received: use_cache={use_cache!r}"
        )
    rng = np.random.default_rng(seed)
    ids = ids.astype("int32")
    gpt = _cached_gpt(model) if use_cache and num_tokens else None
    if gpt is not None:
        ids = gpt.generate(ids, num_tokens, temperature, top_k, top_p, rng)
    window = model.inputs[0].shape[1]
    for _ in range(0 if gpt else num_tokens):
        context = ids if window is None else ids[:, -window:]  # (B, t), t <= T
        length = context.shape[1]
        if window is not None and length < window:
            context = np.pad(context, ((0, 0), (0, window - length)))  # (B, T)
        logits = np.asarray(model.predict_on_batch(context), "float64")[:, length - 1]  # (B, V)
        next_ids = _sample(logits, temperature, top_k, top_p, rng)  # (B,)
        ids = np.concatenate([ids, next_ids[:, None].astype("int32")], axis=1)  # (B, t+1)
    return ids[0] if single else ids
