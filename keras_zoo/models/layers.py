"""Custom layers shared across model families.

Each layer stores every constructor argument, implements `get_config`, and is
registered serializable under the `keras_zoo` package, so a saved `.keras`
model reloads without `custom_objects`. Only `keras.ops` is used: the layers
run on the TensorFlow and JAX backends and under `mixed_bfloat16`.
"""

import keras
from keras import ops

from keras_zoo.errors import InvalidArgumentError, check_positive_int, is_integer


def check_rate(value, name):
    """Checks that `value` is a rate in [0, 1) and returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidArgumentError(
            f"`{name}` must be a number in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_transformer_args(embed_dim, num_heads, ff_dim, dropout):
    """Checks `TransformerBlock` arguments, so builders can fail up front."""
    for name, value in dict(embed_dim=embed_dim, num_heads=num_heads, ff_dim=ff_dim).items():
        check_positive_int(value, name)
    if embed_dim % num_heads:
        raise InvalidArgumentError(
            "`embed_dim` must be divisible by `num_heads`. "
            f"Received: embed_dim={embed_dim}, num_heads={num_heads}"
        )
    check_rate(dropout, "dropout")


@keras.saving.register_keras_serializable(package="keras_zoo")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Sum of a token embedding and a learned position embedding.

    Follows the keras-io example "Text classification with Transformer".
    Inputs may be shorter than `sequence_length`; positions start at 0.

    Args:
        vocab_size: number of token ids; ids are in `[0, vocab_size)`.
        sequence_length: longest sequence the position table covers.
        embed_dim: size of each embedding vector.
        mask_zero: if True, id 0 is padding and a mask is passed on to the
            following layers.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    `start_index` (an int or scalar tensor) is the position of the first
    input, for decoding one token at a time against a key/value cache.

    Called with `reverse=True` on `(B, T, C)` features, it returns float32
    logits `(B, T, vocab_size)` through the transposed token table: the
    output projection tied to the input embedding (Press & Wolf 2017; GPT-2,
    nanoGPT; keras-hub's `ReversibleEmbedding`).

    Example:

    >>> layer = TokenAndPositionEmbedding(100, 16, 8)
    >>> layer(np.zeros((2, 16), "int32")).shape
    (2, 16, 8)
    """

    def __init__(self, vocab_size, sequence_length, embed_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.sequence_length = check_positive_int(sequence_length, "sequence_length")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.mask_zero = bool(mask_zero)
        self.token_embedding = keras.layers.Embedding(
            vocab_size, embed_dim, dtype=self.dtype_policy, name="token_embedding"
        )
        self.position_embedding = keras.layers.Embedding(
            sequence_length, embed_dim, dtype=self.dtype_policy, name="position_embedding"
        )
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, inputs, reverse=False, start_index=0):
        if reverse:
            table = ops.cast(self.token_embedding.embeddings, inputs.dtype)  # (V, C)
            return ops.cast(ops.matmul(inputs, ops.transpose(table)), "float32")  # (B, T, V)
        positions = ops.arange(ops.shape(inputs)[-1]) + start_index  # (T,)
        tokens = self.token_embedding(inputs)  # (B, T, C)
        return tokens + self.position_embedding(positions)  # (B, T, C)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero or "int" not in str(inputs.dtype):  # reverse: no mask
            return None
        return ops.not_equal(inputs, 0)  # (B, T)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embed_dim,)

    def compute_output_spec(self, inputs, reverse=False, start_index=0):
        if reverse:
            return keras.KerasTensor(tuple(inputs.shape[:-1]) + (self.vocab_size,), "float32")
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), self.compute_dtype)


    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            sequence_length=self.sequence_length,
            embed_dim=self.embed_dim,
            mask_zero=self.mask_zero,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_zoo")
class MaskedAveragePooling1D(keras.layers.GlobalAveragePooling1D):
    """`GlobalAveragePooling1D` over the unmasked steps; an all-padding row gives zeros.

    Keras divides by the mask's sum, so a fully masked row (an empty text)
    averages to NaN (keras-team/keras#18152, closed unfixed); here the count
    is at least 1.

    Example:

    >>> pooled = MaskedAveragePooling1D()(vectors, mask=mask)   # (B, T, C) -> (B, C)
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        mask = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)  # (B, T, 1)
        total = ops.sum(inputs * mask, axis=1)  # (B, C)
        return total / ops.maximum(ops.sum(mask, axis=1), ops.cast(1, inputs.dtype))


@keras.saving.register_keras_serializable(package="keras_zoo")
class ShortcutA(keras.layers.Layer):
    """He et al. 2015's option-A shortcut: subsample, then zero-pad the channels.

    The identity shortcut of a residual block that changes the shape: every
    `stride`-th pixel (as `x[:, ::2, ::2]` in the authors' CIFAR code) and
    `extra_channels` zero channels, half before and half after (as in
    the common Torch/PyTorch reimplementations). No parameters.

    Args:
        stride: spatial subsampling factor.
        extra_channels: zero channels to add.
        **kwargs: base `Layer` arguments.

    Input shape: `(B, H, W, C)`. Output shape:
    `(B, ceil(H / stride), ceil(W / stride), C + extra_channels)`.
    """

    def __init__(self, stride, extra_channels, **kwargs):
        super().__init__(**kwargs)
        self.stride = check_positive_int(stride, "stride")
        if not is_integer(extra_channels) \
                or extra_channels < 0:
            raise InvalidArgumentError(
                f"`extra_channels` must be an int >= 0. Received: extra_channels={extra_channels!r}")
        self.extra_channels = extra_channels

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]  # (B, H / s, W / s, C)
        before = self.extra_channels // 2
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, self.extra_channels - before]])

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        def down(n):
            return None if n is None else -(-n // self.stride)
        return (b, down(h), down(w), None if c is None else c + self.extra_channels)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride,
                "extra_channels": self.extra_channels}


@keras.saving.register_keras_serializable(package="keras_zoo")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into patches, projects them and adds positions.

    The projection is a Conv2D with kernel and stride `patch_size`, which is
    the same as flattening non-overlapping patches and applying one Dense
    (Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words").

    Args:
        patch_size: side of the square patches; must divide the image's
            height and width.
        embed_dim: size of each patch embedding.
        use_class_token: if True, a learned class token is prepended, so
            the output has `num_patches + 1` steps and step 0 is the token.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Input shape: `(B, H, W, C)`. Output shape: `(B, N, embed_dim)` with
    `N = (H // patch_size) * (W // patch_size)` (+1 with the class token).

    Example:

    >>> layer = PatchEmbedding(patch_size=4, embed_dim=16)
    >>> layer(np.zeros((2, 32, 32, 3), "float32")).shape
    (2, 64, 16)
    """

    def __init__(self, patch_size, embed_dim, use_class_token=False, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int(patch_size, "patch_size")
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.use_class_token = bool(use_class_token)
        self.projection = keras.layers.Conv2D(
            embed_dim,
            kernel_size=patch_size,
            strides=patch_size,
            padding="valid",
            dtype=self.dtype_policy,
            name="projection",
        )

    def _num_steps(self, input_shape):
        if len(input_shape) != 4:
            raise InvalidArgumentError(
                "PatchEmbedding expects images of shape (batch, height, width, channels). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None or height % self.patch_size or width % self.patch_size:
            raise InvalidArgumentError(
                "`patch_size` must divide the image height and width. "
                f"Received: patch_size={self.patch_size}, image size={height}x{width}"
            )
        num_patches = (height // self.patch_size) * (width // self.patch_size)
        return num_patches + int(self.use_class_token)

    def build(self, input_shape):
        num_steps = self._num_steps(input_shape)
        self.projection.build(input_shape)
        if self.use_class_token:
            self.class_token = self.add_weight(
                shape=(1, 1, self.embed_dim), initializer="zeros", name="class_token"
            )
        self.position_embedding = self.add_weight(
            shape=(num_steps, self.embed_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding",
        )
        self.built = True

    def call(self, images):
        x = self.projection(images)  # (B, H/p, W/p, C)
        x = ops.reshape(x, (ops.shape(x)[0], -1, self.embed_dim))  # (B, N, C)
        if self.use_class_token:
            token = ops.cast(self.class_token, self.compute_dtype)  # (1, 1, C)
            token = ops.broadcast_to(token, (ops.shape(x)[0], 1, self.embed_dim))  # (B, 1, C)
            x = ops.concatenate([token, x], axis=1)  # (B, N+1, C)
        return x + ops.cast(self.position_embedding, self.compute_dtype)  # (B, N(+1), C)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._num_steps(input_shape), self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            patch_size=self.patch_size,
            embed_dim=self.embed_dim,
            use_class_token=self.use_class_token,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_zoo")
class TransformerBlock(keras.layers.Layer):
    """Multi-head self-attention and a feed-forward network, with residuals.

    Post-norm (`norm_first=False`) is the original Transformer and the
    keras-io text classifier; pre-norm (`norm_first=True`) is ViT and GPT-2
    style and trains more stably when blocks are stacked deep.

    Args:
        embed_dim: size of the input and output vectors.
        num_heads: attention heads; must divide `embed_dim`.
        ff_dim: hidden size of the feed-forward network.
        dropout: dropout rate on the attention weights and on each residual
            branch.
        causal: if True, position t attends only to positions <= t (GPT).
        norm_first: if True, pre-norm; else post-norm.
        activation: activation of the feed-forward hidden layer.
        key_dim: size of each attention head's queries and keys; `None` for
            `embed_dim // num_heads` (Vaswani et al.). The keras-io text
            classifier uses `embed_dim` per head.
        attention_dropout: dropout rate on the attention weights; `None`
            for `dropout`. The keras-io text classifier has none there.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    A padding mask from the previous layer (e.g. `TokenAndPositionEmbedding`
    with `mask_zero=True`) keeps padded keys out of the attention.

    Example:

    >>> block = TransformerBlock(embed_dim=16, num_heads=2, ff_dim=32, causal=True)
    >>> block(np.zeros((2, 10, 16), "float32")).shape
    (2, 10, 16)
    """

    def __init__(
        self,
        embed_dim,
        num_heads,
        ff_dim,
        dropout=0.0,
        causal=False,
        norm_first=False,
        activation="relu",
        key_dim=None,
        attention_dropout=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_transformer_args(embed_dim, num_heads, ff_dim, dropout)
        if key_dim is not None:
            check_positive_int(key_dim, "key_dim")
        if attention_dropout is not None:
            check_rate(attention_dropout, "attention_dropout")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = float(dropout)
        self.causal = bool(causal)
        self.norm_first = bool(norm_first)
        self.activation = activation
        self.key_dim = key_dim
        self.attention_dropout_rate = (
            None if attention_dropout is None else float(attention_dropout))
        self.supports_masking = True
        policy = self.dtype_policy
        self.attention = keras.layers.MultiHeadAttention(
            num_heads,
            key_dim=embed_dim // num_heads if key_dim is None else key_dim,
            dropout=dropout if attention_dropout is None else attention_dropout,
            dtype=policy,
            name="attention",
        )
        self.attention_dropout = keras.layers.Dropout(
            dropout, dtype=policy, name="attention_dropout"
        )
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=policy, name="attention_norm"
        )
        self.ffn_intermediate = keras.layers.Dense(
            ff_dim, activation=activation, dtype=policy, name="ffn_intermediate"
        )
        self.ffn_output = keras.layers.Dense(embed_dim, dtype=policy, name="ffn_output")
        self.ffn_dropout = keras.layers.Dropout(dropout, dtype=policy, name="ffn_dropout")
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy, name="ffn_norm")

    def build(self, input_shape):
        if input_shape[-1] != self.embed_dim:
            raise InvalidArgumentError(
                "TransformerBlock input's last axis must equal `embed_dim`. "
                f"Received: input_shape={tuple(input_shape)}, embed_dim={self.embed_dim}"
            )
        self.attention.build(input_shape, input_shape)
        self.attention_norm.build(input_shape)
        self.ffn_intermediate.build(input_shape)
        self.ffn_output.build(tuple(input_shape[:-1]) + (self.ff_dim,))
        self.ffn_norm.build(input_shape)
        self.built = True

    def _attend(self, x, attention_mask, training):
        return self.attention(
            x, x, attention_mask=attention_mask, use_causal_mask=self.causal, training=training
        )  # (B, T, C)

    def call_with_cache(self, inputs, cache, cache_index, output_index=None):
        """Runs a causal block on positions `cache_index, ...` against a key/value cache.

        For decoding one token at a time (keras-hub's
        `CachedMultiHeadAttention`, on this block's own attention weights):
        the inputs' keys and values are written into `cache` at
        `cache_index`, and each input attends to the positions up to its own,
        so the outputs equal `call`'s on the whole sequence (inference mode).

        Args:
            inputs: `(B, T, C)` features of positions `cache_index` to
                `cache_index + T - 1`.
            cache: `(B, 2, S, num_heads, key_dim)` keys and values of a
                sequence of up to S positions; entries from `cache_index + T`
                on are ignored.
            cache_index: int or scalar int tensor, `cache_index + T <= S`.
            output_index: if set (int or scalar int tensor), only the output
                of input `output_index` is computed, `(B, 1, C)` (the last
                block of a language model needs no other); every input's
                keys and values still enter the cache.

        Returns:
            `(outputs, cache)`: `(B, T, C)` features (or `(B, 1, C)`) and the
            updated cache.
        """
        if not self.causal:
            raise InvalidArgumentError(
                f"A key/value cache needs a causal block. Received: block {self.name!r} "
                "with causal=False"
            )
        attention = self.attention
        positions = ops.arange(ops.shape(inputs)[1])  # (T,)
        if output_index is None:
            def keep(x):
                return x
        else:
            positions = ops.reshape(output_index, (1,))  # (1,)
            def keep(x):
                return ops.take(x, positions, axis=1)  # (B, 1, ...)
        updated = []

        def attend(x):
            start = [0, cache_index, 0, 0]
            keys = ops.slice_update(cache[:, 0], start, attention._key_dense(x))  # (B, S, H, D)
            values = ops.slice_update(cache[:, 1], start, attention._value_dense(x))
            updated.append(ops.stack([keys, values], axis=1))  # (B, 2, S, H, D)
            query_positions = positions + cache_index  # (T,) or (1,)
            mask = ops.arange(ops.shape(keys)[1])[None, :] <= query_positions[:, None]  # (T, S)
            x, _ = attention._compute_attention(
                attention._query_dense(keep(x)), keys, values, attention_mask=mask[None],
                training=False,
            )  # (B, T, H, D)
            return attention._output_dense(x)  # (B, T, C)

        return self._residuals(inputs, attend, False, keep), updated[0]

    def _residuals(self, x, attend, training, keep=None):
        """The block around `attend(x)`, the attention (all inputs are keys and values).

        `keep` picks the positions whose outputs are computed (all if None).
        """
        kept = x if keep is None else keep(x)
        if self.norm_first:
            x = kept + self.attention_dropout(attend(self.attention_norm(x)), training=training)
            x = x + self._feed_forward(self.ffn_norm(x), training)
        else:
            x = self.attention_norm(kept + self.attention_dropout(attend(x), training=training))
            x = self.ffn_norm(x + self._feed_forward(x, training))
        return x  # (B, T, C)

    def _feed_forward(self, x, training):
        x = self.ffn_intermediate(x)  # (B, T, F)
        x = self.ffn_output(x)  # (B, T, C)
        return self.ffn_dropout(x, training=training)

    def call(self, inputs, training=None, mask=None):
        attention_mask = None if mask is None else mask[:, None, :]  # (B, 1, T) keys
        return self._residuals(
            inputs, lambda x: self._attend(x, attention_mask, training), training
        )  # (B, T, C)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def rematerialized_call(self, layer_call, *args, **kwargs):
        """Under `keras.RematScope`, recomputes the block in the backward pass.

        `jax.checkpoint` traces every argument, and `call` branches on
        `training` (a Python bool), so it is bound before the wrap.
        """
        wrapped = super().rematerialized_call(layer_call, *args, **kwargs)
        if wrapped is layer_call:
            return layer_call
        static = {k: v for k, v in kwargs.items() if v is None or isinstance(v, bool)}

        def bound(*a, **k):
            return layer_call(*a, **k, **static)

        rematted = super().rematerialized_call(bound, *args, **kwargs)
        return lambda *a, **k: rematted(*a, **{n: v for n, v in k.items() if n not in static})

    def get_config(self):
        config = super().get_config()
        config.update(
            embed_dim=self.embed_dim,
            num_heads=self.num_heads,
            ff_dim=self.ff_dim,
            dropout=self.dropout,
            causal=self.causal,
            norm_first=self.norm_first,
            activation=self.activation,
            key_dim=self.key_dim,
            attention_dropout=self.attention_dropout_rate,
        )
        return config
