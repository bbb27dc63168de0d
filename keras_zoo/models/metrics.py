"""Losses and metrics the zoo's tasks need beyond Keras's own.

- `SparseCrossentropy`: sparse categorical cross-entropy with label
  smoothing (Keras 3.15's `SparseCategoricalCrossentropy` has no
  `label_smoothing`; `CategoricalCrossentropy` has it but needs one-hot
  labels, which the zoo's pipelines do not produce).
- `ExactMatch`: the fraction of sequences whose every token is right
  (seq2seq: whole answers).
- `BitsPerToken`: cross-entropy in bits per target token; for
  character-level data that is bits per character.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable("keras_zoo")
class SparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with optional label smoothing.

    With `label_smoothing=0` it equals `keras.losses.SparseCategoricalCrossentropy`.

    Args:
        from_logits: whether `y_pred` are logits (else probabilities).
        label_smoothing: in [0, 1); the target puts `1 - label_smoothing`
            on the true class and spreads the rest over all classes.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0,
                 name="sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        if not self.label_smoothing:
            return keras.losses.sparse_categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits)
        num_classes = ops.shape(y_pred)[-1]
        one_hot = ops.one_hot(ops.cast(y_true, "int32"), num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits,
            label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable("keras_zoo")
class ExactMatch(keras.metrics.Mean):
    """Fraction of sequences predicted exactly: every position's argmax right.

    `y_true` is `(B, T)` token ids, `y_pred` `(B, T, V)` scores. A sample
    weight of shape `(B, T)` (per token, as data-parallel evaluation pads
    it) counts each sequence with its mean token weight.
    """

    def __init__(self, name="exact_match", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        right = ops.all(ops.equal(predicted, ops.cast(y_true, "int32")), axis=-1)
        if sample_weight is not None and len(sample_weight.shape) > 1:
            sample_weight = ops.mean(sample_weight, axis=-1)
        return super().update_state(ops.cast(right, "float32"), sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable("keras_zoo")
class BitsPerToken(keras.metrics.Mean):
    """Mean next-token cross-entropy in bits (nats / ln 2), from logits.

    Named `bits_per_char` by the zoo for character-level data.
    """

    def __init__(self, name="bits_per_token", from_logits=True, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        nats = keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=self.from_logits)
        return super().update_state(nats / math.log(2.0), sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "dtype": self.dtype}
