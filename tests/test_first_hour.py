"""A newcomer's first hour: progress that never overshoots, and the small CLI fixes of issue 13."""

import keras
import pytest

import keras_zoo as kz
from keras_zoo.training import loop


class _Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(batch)


def test_progress_ends_at_the_real_epoch(capsys):
    """digits' 40 training batches are no multiple of 16: Keras showed 48/44 and
    callbacks saw batch 47. The last execution of the pass runs the 8 batches left."""
    batches = _Batches()
    result = kz.fit("mlp", "digits", epochs=2, model_args={"hidden_units": (8,)},
                    callbacks=[batches], verbose=1)
    bar = capsys.readouterr().out
    steps = int(result.model.optimizer.iterations.numpy()) // 2  # the epoch's real batches
    assert steps % 16 != 0 and result.model.steps_per_execution == 16
    assert max(batches.seen) == steps - 1 and batches.seen.count(steps - 1) == 2
    assert f"{steps}/{steps}" in bar and f"{steps + 16 - steps % 16}/{steps}" not in bar


@pytest.mark.parametrize("spe, steps, expected", [(16, 44, 11), (16, 4, 4), (16, 20, 10),
                                                  (16, 43, 1), (16, None, 16), (1, 44, 1)])
def test_dividing(spe, steps, expected):
    assert loop._dividing(spe, steps) == expected


def test_train_without_output_says_nothing_was_saved(capsys):
    from keras_zoo.cli import commands as cli

    assert cli.main(["train", "mlp", "--dataset", "digits", "--epochs", "1",
                     "--arg", "hidden_units=(4,)"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("nothing saved (no --output)")


def test_gan_generate_writes_samples_png_by_default(tmp_path, monkeypatch, capsys):
    from keras_zoo.cli import commands as cli

    info = kz.model_info("dcgan")
    kz.fit("dcgan", "digits", epochs=1, steps_per_epoch=2, model_args=dict(info.tiny),
           output_dir=tmp_path / "gan", seed=0, verbose=0)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["generate", str(tmp_path / "gan"), "--num", "4"]) == 0
    assert (tmp_path / "samples.png").stat().st_size > 0
    assert "wrote 4 samples to samples.png" in capsys.readouterr().out


@pytest.mark.parametrize("epochs", [1, 2, 3, 30])
def test_curves_tick_whole_epochs(epochs):
    from keras_zoo.runs import plots

    history = {"loss": [1.0 / (e + 1) for e in range(epochs)],
               "val_loss": [1.1 / (e + 1) for e in range(epochs)]}
    for ax in plots.history_figure(history).axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


_PLAIN_KERAS_LOAD = r"""
import sys
import keras
import keras_zoo as kz  # a bare import registers nothing
path = sys.argv[1]
try:
    keras.saving.load_model(path)
except TypeError as e:
    print("without kz:", "Could not locate class 'SparseCrossentropy'" in str(e))
print("compile=False:", keras.saving.load_model(path, compile=False).name)
kz.list_models()  # the first use of a kz. name registers the zoo's classes
print("after kz:", keras.saving.load_model(path).loss.name)
"""


def test_plain_keras_load_model_of_a_run_as_the_readme_says(tmp_path):
    import os
    import subprocess
    import sys

    kz.fit("mlp", "digits", epochs=1, steps_per_epoch=2, model_args={"hidden_units": (4,)},
           output_dir=tmp_path / "mlp", seed=0, verbose=0)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = str(tmp_path / "mlp" / "model.keras")
    out = subprocess.run([sys.executable, "-c", _PLAIN_KERAS_LOAD, path], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": root})
    assert out.stdout.splitlines() == [
        "without kz: True", "compile=False: mlp", "after kz: sparse_categorical_crossentropy",
    ], out.stderr[-2000:]
