"""Recurrent models: text classifiers (LSTM, GRU, BiLSTM) and a seq2seq LSTM.

Inputs are int32 token ids with 0 as padding (`Embedding(mask_zero=True)`
keeps padding out of the recurrences). Classifier heads are float32 softmax
probabilities by default (`classifier_activation=None` for logits); the seq2seq
model outputs float32 logits. Float32 heads keep `mixed_bfloat16` training stable.
"""

import keras

from keras_zoo.errors import InvalidArgumentError, check_positive_int
from keras_zoo.models.layers import check_rate
from keras_zoo.models.registry import register_model

_CLASSIFIER_REFERENCE = "keras-io example 'Bidirectional LSTM on IMDB' (F. Chollet)"
_CLASSIFIER_TINY = dict(vocab_size=50, sequence_length=12, embedding_dim=4, units=4)
_CLASSIFIER_ACTIVATIONS = (None, "softmax")


def _check_ints(**values):
    for name, value in values.items():
        check_positive_int(value, name)


def _recurrent_classifier(
    cell,
    *,
    name,
    bidirectional,
    vocab_size,
    sequence_length,
    num_classes,
    embedding_dim,
    units,
    num_layers,
    dropout,
    classifier_activation,
):
    """Embedding -> `num_layers` recurrent layers -> Dense head.

    Args:
        cell: the recurrent layer class, `keras.layers.LSTM` or `GRU`.
        name: the model's name.
        bidirectional: wrap each recurrent layer in `Bidirectional`.
        Other args: see `lstm_classifier`.
    """
    _check_ints(
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        units=units,
        num_layers=num_layers,
    )
    check_rate(dropout, "dropout")
    if classifier_activation not in _CLASSIFIER_ACTIVATIONS:
        raise InvalidArgumentError(
            f"`classifier_activation` must be one of {_CLASSIFIER_ACTIVATIONS}. "
            f"Received: classifier_activation={classifier_activation!r}"
        )
    inputs = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(
        inputs
    )  # (B, T, E)
    for i in range(1, num_layers + 1):
        layer = cell(units, return_sequences=i < num_layers, name=f"{cell.__name__.lower()}_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
        x = layer(x)  # (B, T, U) between layers, (B, U) after the last; x2 if bidirectional
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name=name)


@register_model(
    family="rnn",
    task="text_classification",
    dataset="imdb_reviews",
    reference=_CLASSIFIER_REFERENCE,
    tiny=_CLASSIFIER_TINY,
)
def lstm_classifier(
    vocab_size=20000,
    sequence_length=200,
    num_classes=2,
    embedding_dim=128,
    units=64,
    num_layers=1,
    dropout=0.0,
    classifier_activation="softmax",
):
    """LSTM text classifier: token embedding, stacked LSTMs, softmax head.

    The keras-io example "Bidirectional LSTM on IMDB" with one
    unidirectional LSTM of 64 units (keras-io has no example of its own for
    it): 20k-word vocabulary, 200 tokens, 128-d embedding. Departures as
    `bilstm_classifier`'s (masked padding, a two-class softmax).

    Args:
        vocab_size: number of token ids (0 = padding, 1 = out of vocabulary).
        sequence_length: tokens per example.
        num_classes: number of classes.
        embedding_dim: size of the token embedding.
        units: hidden units of each LSTM.
        num_layers: number of stacked LSTMs.
        dropout: dropout rate after each recurrent layer.
        classifier_activation: `"softmax"` (default, as keras.applications)
            for float32 class probabilities, or `None` for float32 logits.

    Returns:
        A Functional `keras.Model` mapping `(B, sequence_length)` int32 ids to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = lstm_classifier(vocab_size=1000, num_classes=4)
    """
    return _recurrent_classifier(
        keras.layers.LSTM,
        name="lstm_classifier",
        bidirectional=False,
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        units=units,
        num_layers=num_layers,
        dropout=dropout,
        classifier_activation=classifier_activation,
    )


@register_model(
    family="rnn",
    task="text_classification",
    dataset="imdb_reviews",
    reference="Cho et al. 2014, arXiv:1406.1078; " + _CLASSIFIER_REFERENCE,
    tiny=_CLASSIFIER_TINY,
)
def gru_classifier(
    vocab_size=20000,
    sequence_length=200,
    num_classes=2,
    embedding_dim=128,
    units=64,
    num_layers=1,
    dropout=0.0,
    classifier_activation="softmax",
):
    """GRU text classifier: token embedding, stacked GRUs, softmax head.

    `lstm_classifier` with a GRU (Cho et al. 2014) of 64 units in place of
    the LSTM; the same departures from the keras-io example.

    Args: as `lstm_classifier`, with GRU layers.

    Returns:
        A Functional `keras.Model`: `(B, sequence_length)` int32 ids to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = gru_classifier(num_layers=2)
    """
    return _recurrent_classifier(
        keras.layers.GRU,
        name="gru_classifier",
        bidirectional=False,
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        units=units,
        num_layers=num_layers,
        dropout=dropout,
        classifier_activation=classifier_activation,
    )


@register_model(
    family="rnn",
    task="text_classification",
    dataset="imdb_reviews",
    reference=_CLASSIFIER_REFERENCE,
    tiny=_CLASSIFIER_TINY,
)
def bilstm_classifier(
    vocab_size=20000,
    sequence_length=200,
    num_classes=2,
    embedding_dim=128,
    units=64,
    num_layers=2,
    dropout=0.0,
    classifier_activation="softmax",
):
    """Bidirectional LSTM text classifier (keras-io IMDB example).

    The defaults are the example's: 20k vocabulary, 200 tokens, 128-d
    embedding and two bidirectional LSTMs of 64 units.

    Departures from the example, and why:

    - A two-class softmax instead of one sigmoid unit: the zoo's classifiers
      share one loss (sparse cross-entropy) and a softmax over two logits is
      a sigmoid of their difference, so the model class is the
      same; 129 parameters more (2,757,890 against 2,757,761).
    - Padding (id 0) is masked (`Embedding(mask_zero=True)`), so the LSTMs
      skip it wherever it sits; the example reads its padding as a word.
    - A fixed `sequence_length` input (the example's accepts any length);
      the `imdb_reviews` data recipe keeps the last 200 tokens of a review,
      as the example's `pad_sequences` does.

    Args: as `lstm_classifier`, each LSTM wrapped in `Bidirectional`.

    Returns:
        A Functional `keras.Model`: `(B, sequence_length)` int32 ids to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = bilstm_classifier(units=32)
    """
    return _recurrent_classifier(
        keras.layers.LSTM,
        name="bilstm_classifier",
        bidirectional=True,
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        units=units,
        num_layers=num_layers,
        dropout=dropout,
        classifier_activation=classifier_activation,
    )


@register_model(
    family="rnn",
    task="seq2seq",
    dataset="addition",
    reference="keras-io example 'Sequence to sequence learning for performing number "
    "addition' (Smerity, F. Chollet); Sutskever et al. 2014, arXiv:1409.3215",
    tiny=dict(vocab_size=14, embedding_dim=4, units=4),
)
def lstm_seq2seq(
    vocab_size=13,
    sequence_length=7,
    output_length=4,
    embedding_dim=32,
    units=128,
    num_layers=1,
    reverse=True,
):
    """LSTM encoder-decoder that maps one token sequence to another.

    The keras-io example "Sequence to sequence learning for performing
    number addition" by default: an encoder LSTM of 128 units reads the
    question backwards (the example's `REVERSE = True`, after Sutskever et
    al. 2014: the digits that decide the first answer digits come last, so
    dependencies are shorter), its last output is repeated `output_length`
    times and read by a decoder LSTM of 128 units, and a Dense layer scores
    each output step. With the defaults it learns 3-digit addition
    ("123+45" -> "168").

    Departures from the example, and why:

    - Token ids through a 32-d `Embedding` instead of one-hot characters:
      with 13 ids, the embedding followed by the LSTM's input kernel can
      represent any one-hot input kernel (rank <= 13 < 32), so the model
      class is the same; 216,109 parameters instead of the example's
      205,324 (the embedding, and the zoo's extra OOV id).
    - Padding is id 0 and masked (`mask_zero=True`), so the encoder skips
      it; the example pads with spaces, a real character it must learn to
      ignore.
    - The question is reversed inside the model (`go_backwards=True` on
      the first encoder LSTM), so data, `evaluate` and `predict` take
      questions as written.
    - Logits (no softmax), so the loss works from logits.

    Args:
        vocab_size: number of token ids, shared by inputs and outputs
            (0 = padding); 13 fits "addition" (padding, OOV, digits, "+").
        sequence_length: input tokens per example.
        output_length: output tokens per example.
        embedding_dim: size of the token embedding.
        units: hidden units of each LSTM.
        num_layers: LSTMs in the encoder and, separately, in the decoder.
        reverse: read the input sequence last token first (padding stays
            masked wherever it is).

    Returns:
        A Functional `keras.Model` mapping `(B, sequence_length)` int32 ids to
        `(B, output_length, vocab_size)` float32 logits (compile with
        `from_logits=True`).

    Example:

    >>> model = lstm_seq2seq(vocab_size=13, sequence_length=7, output_length=4)
    """
    _check_ints(
        vocab_size=vocab_size,
        sequence_length=sequence_length,
        output_length=output_length,
        embedding_dim=embedding_dim,
        units=units,
        num_layers=num_layers,
    )
    if not isinstance(reverse, bool):
        raise InvalidArgumentError(f"`reverse` must be a bool. Received: reverse={reverse!r}")
    inputs = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(
        inputs
    )  # (B, T_in, E)
    for i in range(1, num_layers + 1):
        # go_backwards: the first LSTM reads (and returns) the steps last first.
        x = keras.layers.LSTM(units, return_sequences=i < num_layers,
                              go_backwards=reverse and i == 1, name=f"encoder_lstm_{i}")(
            x
        )  # (B, T_in, U) between layers, (B, U) after the last
    x = keras.layers.RepeatVector(output_length, name="repeat")(x)  # (B, T_out, U)
    for i in range(1, num_layers + 1):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"decoder_lstm_{i}")(
            x
        )  # (B, T_out, U)
    outputs = keras.layers.Dense(vocab_size, dtype="float32", name="predictions")(
        x
    )  # (B, T_out, vocab_size)
    return keras.Model(inputs, outputs, name="lstm_seq2seq")
