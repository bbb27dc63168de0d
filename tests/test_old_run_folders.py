"""Run folders written before the sub-package layout still load and resume.

`tests/fixtures/run_88bb6e7_*` were written by commit 88bb6e7 (the flat
layout) with `kz.fit("mlp", "digits", seed=0, model_args={"hidden_units":
(16,)})`: one finished after 2 epochs, one of 4 epochs interrupted (a
KeyboardInterrupt) after its 2nd. The uninterrupted 4-epoch run there gave
test accuracy 0.4305555522441864 and loss 2.025355577468872.
"""

import pathlib
import shutil

import pytest

import keras_zoo as kz

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
ARGS = dict(seed=0, model_args={"hidden_units": (16,)}, verbose=0)


def copy(name, tmp_path):
    return shutil.copytree(FIXTURES / name, tmp_path / name)


def test_a_finished_old_run_loads_and_is_returned_as_it_was(tmp_path):
    run = copy("run_88bb6e7_mlp_finished", tmp_path)
    model = kz.load_model(run)
    assert model.name == "mlp" and model.count_params() > 0
    result = kz.fit("mlp", "digits", epochs=2, output_dir=run, **ARGS)  # finished: no training
    assert result.metrics == pytest.approx(kz.evaluate(run, "digits"), abs=1e-6)


def test_an_interrupted_old_run_resumes_to_the_uninterrupted_result(tmp_path):
    run = copy("run_88bb6e7_mlp_unfinished", tmp_path)
    result = kz.fit("mlp", "digits", epochs=4, output_dir=run, **ARGS)
    assert len(result.history["loss"]) == 4
    # Exact resume across the layout change: the 4-epoch run of commit 88bb6e7.
    assert result.metrics["accuracy"] == pytest.approx(0.4305555522441864, abs=1e-6)
    assert result.metrics["loss"] == pytest.approx(2.025355577468872, abs=1e-5)
