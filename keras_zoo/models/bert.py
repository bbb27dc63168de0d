"""A miniature BERT: a bidirectional encoder pretrained on masked tokens, and its classifier.

Devlin et al. 2018, BERT, arXiv:1810.04805. `bert_mini` is pretrained with
`fit("bert_mini", "tiny_corpus")`: language-model data, masked by the
pipeline (`keras_zoo.data.masking`: 15% of tokens chosen, 80/10/10
mask/random/keep, loss and accuracy on the chosen tokens). `bert_classifier`
is the same encoder (same layer names) with a pooled classification head;
`load_encoder_weights` copies a pretrained encoder into it by layer name,
and `weights=` of a `bert_classifier` takes a `bert_mini` run or weights
(registered in `keras_zoo.weights.transfer`).

```python
import keras_zoo as kz

kz.fit("bert_mini", "stdlib_docstrings_text", output_dir="runs/bert")
kz.fit("bert_classifier", "stdlib_docstrings_10pct", weights="runs/bert")
```

Shapes in comments: B batch, T tokens, C embedding size, V vocabulary.
"""

import keras

from keras_zoo.errors import InvalidArgumentError, check_positive_int
from keras_zoo.models.layers import (
    MaskedAveragePooling1D,
    TokenAndPositionEmbedding,
    check_transformer_args,
)
from keras_zoo.models.registry import register_model
from keras_zoo.models.transformer import apply_transformer_blocks

# The encoder's layers, shared by name between `bert_mini` and `bert_classifier`.
ENCODER_LAYERS = ("embedding", "block_*", "final_norm")


def _encoder(inputs, vocab_size, max_sequence_length, embed_dim, num_heads, ff_dim,
             num_layers, dropout):
    """Token ids (B, T) -> contextual vectors (B, T, C), and the embedding layer."""
    check_transformer_args(embed_dim, num_heads, ff_dim, dropout)
    check_positive_int(num_layers, "num_layers")
    check_positive_int(vocab_size, "vocab_size")
    if inputs.shape[1] > max_sequence_length:
        raise InvalidArgumentError(
            "`sequence_length` must be at most `max_sequence_length` (the position table). "
            f"Received: sequence_length={inputs.shape[1]}, "
            f"max_sequence_length={max_sequence_length}"
        )
    # vocab_size + 1 ids: the last one is [MASK] (keras_zoo.data.masking.mask_id).
    embedding = TokenAndPositionEmbedding(vocab_size + 1, max_sequence_length, embed_dim,
                                          mask_zero=True, name="embedding")
    x = embedding(inputs)  # (B, T, C)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    x = apply_transformer_blocks(x, num_layers, embed_dim=embed_dim, num_heads=num_heads,
                                 ff_dim=ff_dim, dropout=dropout, norm_first=True,
                                 activation="gelu")  # (B, T, C), bidirectional
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    return x, embedding


@register_model(
    family="transformer",
    task="masked_language_modeling",
    dataset="tiny_corpus",
    reference="Devlin et al. 2018, BERT, arXiv:1810.04805 (masked-LM pretraining)",
    tiny=dict(vocab_size=20, sequence_length=8, embed_dim=8, num_heads=2, ff_dim=16,
              num_layers=1),
)
def bert_mini(
    vocab_size=98,
    sequence_length=128,
    embed_dim=128,
    num_heads=4,
    ff_dim=512,
    num_layers=2,
    dropout=0.1,
):
    """Miniature BERT: a bidirectional Transformer encoder with a masked-LM head.

    Pre-norm blocks without a causal mask (every token sees the whole
    window), a final LayerNorm, then BERT's masked-LM head: a GELU Dense
    and a LayerNorm, projected on the transposed token embedding (tied, as
    BERT). Departures from BERT: no next-sentence task, no segment
    embeddings (one window per example); pre-norm instead of post-norm;
    sizes as `gpt_mini` (BERT-base is 12 layers of 768).

    Args:
        vocab_size: token ids of the data, `[MASK]` excluded; the embedding
            holds `vocab_size + 1` ids, `[MASK]` being `vocab_size`.
        sequence_length: tokens per window (also the position table).
        embed_dim: size of token and position embeddings.
        num_heads: attention heads; must divide `embed_dim`.
        ff_dim: hidden size of each block's feed-forward network.
        num_layers: number of Transformer blocks.
        dropout: dropout rate on the embeddings and in the blocks.

    Returns:
        A Functional `keras.Model` mapping `(B, sequence_length)` int32 ids to
        `(B, sequence_length, vocab_size + 1)` float32 logits of the original
        tokens.

    Example:

    >>> model = bert_mini(vocab_size=98, sequence_length=64)
    """
    check_positive_int(sequence_length, "sequence_length")
    inputs = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x, embedding = _encoder(inputs, vocab_size, sequence_length, embed_dim, num_heads, ff_dim,
                            num_layers, dropout)
    x = keras.layers.Dense(embed_dim, activation="gelu", name="mlm_transform")(x)  # (B, T, C)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="mlm_norm")(x)
    outputs = embedding(x, reverse=True)  # (B, T, V + 1) float32
    return keras.Model(inputs, outputs, name="bert_mini")


@register_model(
    family="transformer",
    task="text_classification",
    dataset="half_sums",
    reference="Devlin et al. 2018, BERT, arXiv:1810.04805 (fine-tuning, section 4)",
    tiny=dict(vocab_size=20, sequence_length=8, max_sequence_length=8, embed_dim=8,
              num_heads=2, ff_dim=16, num_layers=1),
)
def bert_classifier(
    vocab_size=98,
    sequence_length=128,
    num_classes=2,
    max_sequence_length=None,
    embed_dim=128,
    num_heads=4,
    ff_dim=512,
    num_layers=2,
    dropout=0.1,
    classifier_activation="softmax",
):
    """`bert_mini`'s encoder with a classification head, for fine-tuning.

    The encoder's layers have `bert_mini`'s names and shapes (for the same
    `vocab_size`, `max_sequence_length` and sizes), so a pretrained encoder
    loads into it with `load_encoder_weights`. The head averages the
    encoder's vectors over the real tokens (padding masked), then dropout
    and a Dense layer; BERT reads its [CLS] token instead, which this
    encoder was not pretrained to fill.

    Args:
        vocab_size: token ids of the data (`[MASK]` excluded), as pretrained.
        sequence_length: tokens per example; at most `max_sequence_length`.
        num_classes: number of classes.
        max_sequence_length: size of the position table, as pretrained
            (the pretraining's `sequence_length`); None for `sequence_length`.
        embed_dim, num_heads, ff_dim, num_layers, dropout: as `bert_mini`.
        classifier_activation: `None` for logits, or `"softmax"`.

    Returns:
        A Functional `keras.Model` mapping `(B, sequence_length)` int32 ids to
        `(B, num_classes)` float32 logits.

    Example:

    >>> model = bert_classifier(vocab_size=98, num_classes=12)
    >>> load_encoder_weights(model, keras_zoo.load_model("runs/bert"))
    """
    check_positive_int(sequence_length, "sequence_length")
    check_positive_int(max_sequence_length, "max_sequence_length", allow_none=True)
    check_positive_int(num_classes, "num_classes")
    if max_sequence_length is None:
        max_sequence_length = sequence_length
    if classifier_activation not in (None, "softmax"):
        raise InvalidArgumentError(
            "`classifier_activation` must be None (logits) or 'softmax'. "
            f"Received: classifier_activation={classifier_activation!r}"
        )
    inputs = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x, _ = _encoder(inputs, vocab_size, max_sequence_length, embed_dim, num_heads, ff_dim,
                    num_layers, dropout)
    x = MaskedAveragePooling1D(name="pool")(x)  # (B, C), padding masked
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation=classifier_activation,
                                 dtype="float32", name="predictions")(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name="bert_classifier")


def load_encoder_weights(model, source):
    """Copies a pretrained `bert_mini` encoder into `model`, layer by layer name.

    Args:
        model: a `bert_classifier` (or any model with the encoder's layer
            names: `embedding`, `block_1`, ..., `final_norm`).
        source: a `bert_mini` `keras.Model` (`keras_zoo.load_model` reads
            one from a run folder or `.keras` file).

    Returns:
        The names of the layers copied.

    Raises:
        InvalidArgumentError: `source` has none of the encoder's layers, or
            a layer's weights differ in shape (another vocabulary, position
            table or size); the message names the layer and both shapes.
    """
    import fnmatch

    if not isinstance(source, keras.Model):
        raise InvalidArgumentError(
            "`source` must be a keras.Model (load a run or file with keras_zoo.load_model). "
            f"Received: source={source!r}")
    pretrained = source
    theirs = {layer.name: layer for layer in pretrained.layers}
    copied = []
    for layer in model.layers:
        if not any(fnmatch.fnmatch(layer.name, p) for p in ENCODER_LAYERS):
            continue
        if layer.name not in theirs:
            continue
        mine, given = layer.get_weights(), theirs[layer.name].get_weights()
        shapes = [w.shape for w in mine], [w.shape for w in given]
        if shapes[0] != shapes[1]:
            raise InvalidArgumentError(
                f"Layer {layer.name!r} of the pretrained encoder has weights of shapes "
                f"{shapes[1]}, the model's are {shapes[0]}: build the model with the "
                "pretraining's vocab_size, max_sequence_length and sizes. "
                f"Received: source={getattr(source, 'name', source)!r}"
            )
        layer.set_weights(given)
        copied.append(layer.name)
    if not copied:
        raise InvalidArgumentError(
            "The source has none of the encoder's layers (embedding, block_1, ..., "
            f"final_norm). Received: source={getattr(source, 'name', source)!r}"
        )
    return copied


# The encoder's architecture arguments, shared by `bert_mini` and `bert_classifier`.
_ENCODER_ARGS = ("vocab_size", "embed_dim", "num_heads", "ff_dim", "num_layers", "dropout")


def classifier_args(pretrained_args):
    """The `bert_classifier` arguments that fit a `bert_mini` built with `pretrained_args`.

    The encoder's sizes and vocabulary, and `max_sequence_length` = the
    pretraining's `sequence_length` (its position table).

    Example:

    >>> classifier_args({"vocab_size": 98, "sequence_length": 256})["max_sequence_length"]
    256
    """
    from keras_zoo.models.registry import model_info

    args = {**model_info("bert_mini").defaults, **pretrained_args}
    return {"max_sequence_length": args["sequence_length"],
            **{key: args[key] for key in _ENCODER_ARGS}}
