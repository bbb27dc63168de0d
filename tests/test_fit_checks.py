"""`fit` refuses a user model that cannot read the dataset, and scopes op determinism to the run."""

import dataclasses

import keras
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

import keras_zoo as kz


def two_class_model():
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))


def test_fit_refuses_a_head_smaller_than_the_classes_as_evaluate_does(tmp_path):
    model = two_class_model()
    with pytest.raises(kz.IncompatibleError) as from_evaluate:
        kz.evaluate(model, "digits")
    with pytest.raises(kz.IncompatibleError) as from_fit:
        kz.fit(model, "digits", epochs=1, verbose=0, output_dir=str(tmp_path / "run"))
    assert str(from_fit.value) == str(from_evaluate.value)
    assert "predicts 2 classes, dataset 'digits' has 10" in str(from_fit.value)
    assert not (tmp_path / "run").exists()


class SeesDeterminism(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.enabled = tf_config.is_op_determinism_enabled()


@pytest.mark.parametrize("before", [False, True])
def test_op_determinism_is_on_for_the_run_only(tmp_path, before):
    (tf.config.experimental.enable_op_determinism if before
     else tf_config.disable_op_determinism)()
    try:
        seen = SeesDeterminism()
        kz.fit("mlp", "digits", epochs=1, model_args={"hidden_units": (8,)}, verbose=0,
               output_dir=str(tmp_path / "run"), callbacks=[seen])  # a seed is drawn
        assert seen.enabled is True
        assert tf_config.is_op_determinism_enabled() is before
    finally:
        tf_config.disable_op_determinism()


class Fails(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        assert tf_config.is_op_determinism_enabled()
        raise RuntimeError("stop")


def test_op_determinism_is_restored_when_fit_fails():
    with pytest.raises(RuntimeError, match="stop"):
        kz.fit("mlp", "digits", epochs=1, seed=0, model_args={"hidden_units": (8,)}, verbose=0,
               callbacks=[Fails()])
    assert tf_config.is_op_determinism_enabled() is False


def test_tune_leaves_op_determinism_as_it_was(tmp_path):
    tf_config.disable_op_determinism()
    seen = []

    class Sees(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(tf_config.is_op_determinism_enabled())

    from keras_zoo.training import loop

    fit_one = loop._train_and_test

    def train_and_test(plan, prepared):  # every trial and the refit: seeded, so deterministic
        return fit_one(dataclasses.replace(plan, callbacks=(*plan.callbacks, Sees())),
                       prepared)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(loop, "_train_and_test", train_and_test)
            kz.tune("mlp", "digits", {"learning_rate": [0.01, 0.02]}, trials=1, epochs=1,
                    model_args={"hidden_units": (8,)}, output_dir=str(tmp_path / "search"),
                    verbose=0)
        assert seen and all(seen), seen
        assert tf_config.is_op_determinism_enabled() is False
    finally:
        tf_config.disable_op_determinism()
