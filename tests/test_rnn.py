"""Architecture facts of the recurrent models against their keras-io references."""

import keras
import numpy as np
import pytest

from keras_zoo.errors import InvalidArgumentError
from keras_zoo.models.rnn import (
    bilstm_classifier,
    gru_classifier,
    lstm_classifier,
    lstm_seq2seq,
)


def _lstm(units, inputs):
    return 4 * (units * (inputs + units) + units)


def test_bilstm_is_the_keras_io_model_with_two_logits():
    # keras-io "Bidirectional LSTM on IMDB" prints 2,757,761 parameters:
    # Embedding(20000, 128), two Bidirectional(LSTM(64)), Dense(1, sigmoid).
    keras_io = 20_000 * 128 + 2 * _lstm(64, 128) + 2 * _lstm(64, 128) + (128 + 1)
    assert keras_io == 2_757_761
    # The zoo's head has two logits: one more 128 + 1 unit.
    assert bilstm_classifier().count_params() == keras_io + 129


def _gru(units, inputs):
    return 3 * (units * (inputs + units) + 2 * units)  # reset_after: two bias vectors


@pytest.mark.parametrize("build, cell", [(lstm_classifier, _lstm), (gru_classifier, _gru)])
def test_single_layer_classifiers_count(build, cell):
    # The BiLSTM example's embedding with one 64-unit recurrent layer and two logits.
    assert build().count_params() == 20_000 * 128 + cell(64, 128) + 2 * (64 + 1)


def test_seq2seq_counts_and_reads_backwards_by_default():
    model = lstm_seq2seq()
    # keras-io's model on one-hot characters has 205,324 parameters; the
    # zoo's embeds its 13 ids in 32 dimensions (see the docstring).
    keras_io = _lstm(128, 12) + _lstm(128, 128) + 128 * 12 + 12
    assert keras_io == 205_324
    assert model.count_params() == 13 * 32 + _lstm(128, 32) + _lstm(128, 128) + 128 * 13 + 13
    assert model.get_layer("encoder_lstm_1").go_backwards
    assert not lstm_seq2seq(reverse=False).get_layer("encoder_lstm_1").go_backwards


def test_reversed_seq2seq_reads_the_reversed_question():
    keras.utils.set_random_seed(0)
    args = dict(vocab_size=14, sequence_length=7, output_length=4, embedding_dim=4, units=8)
    backwards = lstm_seq2seq(reverse=True, **args)
    forwards = lstm_seq2seq(reverse=False, **args)
    forwards.set_weights(backwards.get_weights())
    questions = np.array([[3, 4, 12, 5, 6, 7, 0], [2, 12, 9, 0, 0, 0, 0]], "int32")
    reversed_questions = np.array([[7, 6, 5, 12, 4, 3, 0], [9, 12, 2, 0, 0, 0, 0]], "int32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(backwards(questions)),
        keras.ops.convert_to_numpy(forwards(reversed_questions)), rtol=1e-5, atol=1e-6)
    # And it is not the same function as reading forwards.
    assert not np.allclose(keras.ops.convert_to_numpy(backwards(questions)),
                           keras.ops.convert_to_numpy(forwards(questions)), atol=1e-4)


def test_reverse_must_be_a_bool():
    with pytest.raises(InvalidArgumentError, match="reverse='yes'"):
        lstm_seq2seq(reverse="yes")
