"""Tests of masked-LM pretraining (`bert_mini`) and fine-tuning (`bert_classifier`)."""

import numpy as np
import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo import training
from keras_zoo.data import masking
from keras_zoo.models import bert

TINY = dict(embed_dim=8, num_heads=2, ff_dim=16, num_layers=1)


def test_mask_tokens_chooses_15_percent_and_splits_80_10_10():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 98, size=(256, 128)).astype("int32")
    ids[:, 100:] = 0  # padding is never chosen
    masked, target, weight = (t.numpy() for t in masking.mask_tokens(ids, 98, tf.constant([3, 4])))
    chosen = weight > 0
    real = ids != 0
    assert not chosen[~real].any()
    assert abs(chosen[real].mean() - 0.15) < 0.01
    assert (target == ids).all() and (masked[~chosen] == ids[~chosen]).all()
    to_mask = masked[chosen] == masking.mask_id(98)
    kept = masked[chosen] == ids[chosen]
    randomised = ~to_mask & ~kept
    assert abs(to_mask.mean() - 0.8) < 0.02
    assert abs(kept.mean() - 0.1) < 0.02  # (a random draw equal to the token counts as kept)
    assert abs(randomised.mean() - 0.1) < 0.02
    assert masked[chosen][randomised].min() >= 2 and masked.max() <= 98


def test_evaluation_masks_repeat_training_masks_change():
    windows = tf.data.Dataset.from_tensor_slices(
        (np.arange(2, 98, dtype="int32").reshape(6, 16), np.zeros((6, 16), "int32"))).batch(3)

    def passes(training):
        dataset = masking.masked_lm(windows, 98, seed=1, training=training)
        return [np.concatenate([x.numpy() for x, _, _ in dataset]) for _ in range(2)]

    first, second = passes(training=False)
    assert (first == second).all()
    first, second = passes(training=True)
    assert (first != second).any()


def test_masked_lm_loss_and_accuracy_count_the_chosen_tokens_only():
    args = training.compile_defaults("masked_language_modeling", from_logits=True)  # bert_mini: logits
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 5, 7)).astype("float32")
    y = rng.integers(0, 7, size=(2, 5)).astype("int32")
    weight = np.zeros((2, 5), "float32")
    weight[0, 1] = weight[1, 3] = 1.0
    loss = float(args["loss"](y, logits, sample_weight=weight))
    nats = -tf.nn.log_softmax(logits).numpy()
    assert loss == pytest.approx((nats[0, 1, y[0, 1]] + nats[1, 3, y[1, 3]]) / 2, rel=1e-5)
    assert [m.name for m in args["metrics"]] == ["accuracy"]


def test_fit_pretrains_on_tiny_corpus_and_evaluate_repeats_the_test_score(tmp_path):
    info = kz.model_info("bert_mini")
    assert info.task == "masked_language_modeling" and info.inputs == ("lm",)
    run = tmp_path / "bert"
    result = kz.fit("bert_mini", "tiny_corpus", epochs=1, steps_per_epoch=2, model_args=TINY,
                    output_dir=run, seed=0, verbose=0)
    assert set(result.metrics) == {"accuracy", "loss"}
    assert result.model.output.shape[-1] == 99  # 98 ids and [MASK]
    assert kz.evaluate(run, "tiny_corpus") == pytest.approx(result.metrics, rel=1e-5)
    with pytest.raises(kz.IncompatibleError, match="bert_mini reads"):
        kz.fit("bert_mini", "digits")


def test_a_classifier_fine_tunes_from_a_pretrained_run(tmp_path):
    pretrained = kz.create_model("bert_mini", vocab_size=30, sequence_length=32, **TINY)
    run = tmp_path / "bert.keras"
    pretrained.save(run)
    model = kz.create_model("bert_classifier", vocab_size=30, sequence_length=20,
                            max_sequence_length=32, num_classes=2, **TINY)
    copied = bert.load_encoder_weights(model, kz.load_model(run))
    assert copied == ["embedding", "block_1", "final_norm"]
    for name in copied:
        for mine, theirs in zip(model.get_layer(name).get_weights(),
                                pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    # Fine-tuned through the ordinary `fit` (half_sums' 12 ids are < 30).
    result = kz.fit(model, "half_sums", epochs=1, steps_per_epoch=2, verbose=0)
    assert set(result.metrics) == {"accuracy", "loss"}

    other = kz.create_model("bert_classifier", vocab_size=40, sequence_length=20,
                            max_sequence_length=32, **TINY)
    with pytest.raises(kz.InvalidArgumentError, match="'embedding'.*vocab_size"):
        bert.load_encoder_weights(other, pretrained)
    with pytest.raises(kz.InvalidArgumentError, match="must be a keras.Model"):
        bert.load_encoder_weights(other, run)
    with pytest.raises(kz.InvalidArgumentError, match="none of the encoder's layers"):
        bert.load_encoder_weights(other, kz.create_model("mlp"))
    with pytest.raises(kz.InvalidArgumentError, match="max_sequence_length"):
        kz.create_model("bert_classifier", sequence_length=20, max_sequence_length=16)
