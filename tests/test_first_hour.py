"""A newcomer's first hour: progress that never overshoots, and the small CLI fixes of issue 13."""

import keras
import pytest

import keras_zoo as kz
from keras_zoo import training


class _Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(batch)


def test_steps_per_execution_divides_the_real_epoch():
    """digits' training batches (44 before its validation split, 40 now) are no
    multiple of 16: Keras showed 48/44 and callbacks saw batch 47."""
    batches = _Batches()
    result = kz.fit("mlp", "digits", epochs=1, model_args={"hidden_units": (8,)},
                    callbacks=[batches], verbose=0)
    steps = int(result.model.optimizer.iterations.numpy())  # the epoch's real batches
    assert steps % 16 != 0
    spe = result.model.steps_per_execution
    assert steps % spe == 0 and spe == training._dividing(16, steps) > 1
    assert max(batches.seen) == steps - 1


@pytest.mark.parametrize("spe, steps, expected", [(16, 44, 11), (16, 4, 4), (16, 20, 10),
                                                  (16, 43, 1), (16, None, 16), (1, 44, 1)])
def test_dividing(spe, steps, expected):
    assert training._dividing(spe, steps) == expected


def test_train_without_output_says_nothing_was_saved(capsys):
    from keras_zoo import cli

    assert cli.main(["train", "mlp", "--dataset", "digits", "--epochs", "1",
                     "--arg", "hidden_units=(4,)"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("nothing saved (no --output)")


def test_gan_generate_writes_samples_png_by_default(tmp_path, monkeypatch, capsys):
    from keras_zoo import cli

    info = kz.model_info("dcgan")
    kz.fit("dcgan", "digits", epochs=1, steps_per_epoch=2, model_args=dict(info.tiny),
           output_dir=tmp_path / "gan", seed=0, verbose=0)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["generate", str(tmp_path / "gan"), "--num", "4"]) == 0
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert "wrote 4 samples to samples.png" in capsys.readouterr().out
