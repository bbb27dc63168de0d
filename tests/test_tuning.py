"""Tests of hyper-parameter search (`kz.tune`, `keras-zoo tune`) on keras-tuner."""

import csv
import json
import os
import socket
import subprocess
import sys

import pytest

import keras_zoo as kz
from keras_zoo.cli import commands as cli
from keras_zoo.data import pipeline
from keras_zoo.training import loop, tuning

# A tiny mlp and one-epoch trials: each trial takes about a second.
TINY = dict(model_args={"hidden_units": [8]}, recipe={"epochs": 1}, epochs=1)
SPACE = {"learning_rate": {"min": 1e-3, "max": 3e-2, "sampling": "log"}, "dropout": [0.0, 0.2]}


def test_default_space_follows_the_recipe_and_the_knobs():
    space = tuning.default_space("mlp", "digits")
    rate = kz.recipe("mlp", "digits").learning_rate
    assert space["learning_rate"] == {"min": pytest.approx(rate / 10), "max": pytest.approx(rate * 10),
                                      "sampling": "log"}
    assert space["dropout"] == {"min": 0.0, "max": 0.5, "step": 0.1}
    assert (512, 512) in space["hidden_units"] and (128,) in space["hidden_units"]
    assert "weight_decay" in space
    cnn = tuning.default_space("resnet20", "cifar10")
    assert cnn["width"] == [8, 16, 32] and "hidden_units" not in cnn
    gpt = tuning.default_space("gpt_mini", "tiny_corpus")
    assert all(d % 4 == 0 for d in gpt["embed_dim"])  # splits over its 4 heads
    assert gpt["num_layers"] == [1, 2, 3]
    # Every default space is a valid one.
    for name in ("mlp", "simple_cnn", "gru_classifier", "transformer_classifier", "gpt_mini"):
        dataset = kz.model_info(name).dataset
        tuning.parse_space(tuning.default_space(name, dataset), name, dataset,
                           kz.recipe(name, dataset))


@pytest.mark.parametrize("space, match", [
    ({}, "non-empty dict"),
    ({"learning_rte": [0.1]}, "neither a training-recipe field nor an argument"),
    ({"num_classes": [3, 4]}, "neither a training-recipe field"),  # the dataset decides it
    ({"dropout": []}, "non-empty list"),
    ({"dropout": [0.1, "a"]}, "of one type"),
    ({"dropout": [0.1, 0.1]}, "distinct"),
    ({"learning_rate": {"min": 0.1, "max": 0.01}}, "min < max"),
    ({"learning_rate": {"min": 0.0, "max": 0.1, "sampling": "log"}}, "log range with min > 0"),
    ({"learning_rate": {"min": 0.1}}, "a range"),
    ({"learning_rate": {"min": 1e-3, "max": 1e-2, "sampling": "cubic"}}, "'linear' or 'log'"),
    ({"optimizer": ["adam", "rmsprop"]}, "optimizer.*one of adam, adamw, sgd"),
    ({"hidden_units": [8, 16]}, "hidden_units.*must be a tuple"),
])
def test_bad_search_spaces_get_one_clear_error(space, match, tmp_path):
    with pytest.raises(kz.InvalidArgumentError, match=match):
        kz.tune("mlp", "digits", space, trials=1, output_dir=tmp_path, **TINY)
    assert not os.listdir(tmp_path)  # refused before anything was written


def test_bad_objective_algorithm_and_gan_are_refused(tmp_path):
    with pytest.raises(kz.InvalidArgumentError, match="validation metric.*val_accuracy"):
        kz.tune("mlp", "digits", SPACE, objective="accuracy", output_dir=tmp_path, **TINY)
    with pytest.raises(kz.InvalidArgumentError, match="random, bayesian, hyperband"):
        kz.tune("mlp", "digits", SPACE, algorithm="grid", output_dir=tmp_path, **TINY)
    with pytest.raises(kz.InvalidArgumentError, match="GAN"):
        kz.tune("dcgan", "digits", output_dir=tmp_path)


def test_cli_bad_space_exits_2_with_one_line(capsys, tmp_path):
    code = cli.main(["tune", "mlp", "--dataset", "digits", "--space", '{"widht": [1, 2]}',
                     "--output", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "'widht'" in err
    assert cli.main(["tune", "mlp", "--space", "{not json"]) == 2


def test_search_never_reads_the_test_split_then_refits_and_tests_once(tmp_path, monkeypatch):
    read = []
    original = pipeline._pipeline
    monkeypatch.setattr(pipeline, "_pipeline",
                        lambda recipe, builder, split, **kw: read.append(split)
                        or original(recipe, builder, split, **kw))
    out = tmp_path / "tune"
    result = kz.tune("mlp", "digits", SPACE, trials=2, output_dir=out, seed=3, refit=False,
                     verbose=0, **TINY)
    test_split = kz.dataset_spec("digits").test_split
    assert read and test_split not in read
    assert result.fit is None and result.metrics is None
    scores = [t["score"] for t in result.trials]
    assert len(scores) == 2 and result.best_score == max(scores)
    assert set(result.best_values) == {"learning_rate", "dropout"}
    assert 1e-3 <= result.best_values["learning_rate"] <= 3e-2
    assert result.recipe.learning_rate == result.best_values["learning_rate"]

    # The same call again resumes the finished search: no new trial, then the refit.
    calls = []
    train = loop._train_and_test
    monkeypatch.setattr(loop, "_train_and_test",
                        lambda *a, **k: calls.append(1) or train(*a, **k))
    again = kz.tune("mlp", "digits", SPACE, trials=2, output_dir=out, seed=3, verbose=0, **TINY)
    assert len(calls) == 1  # the refit only
    assert again.best_values == result.best_values and test_split in read
    assert set(again.metrics) == {"accuracy", "loss"}

    with open(out / tuning.TRIALS_CSV) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["score"]) for r in rows] == scores
    assert {"trial_id", "status", "learning_rate", "dropout"} <= set(rows[0])
    assert json.loads((out / tuning.TRIALS_JSON).read_text()) == result.trials
    assert (out / tuning.SCORES).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / tuning.SUMMARY).read_text())
    assert summary["test"] == again.metrics and summary["val_accuracy"] == result.best_score
    assert json.loads((out / tuning.BEST / "metrics.json").read_text()) == again.metrics

    # Another search in the same folder is refused, not mixed in.
    with pytest.raises(kz.InvalidArgumentError, match="other settings"):
        kz.tune("mlp", "digits", SPACE, trials=5, output_dir=out, seed=3, **TINY)


def test_best_config_reruns_with_train_config(tmp_path, capsys):
    out = tmp_path / "tune"
    code = cli.main(["tune", "mlp", "--dataset", "digits", "--trials", "2", "--epochs", "1",
                     "--recipe", "epochs=1", "--arg", "hidden_units=(8,)", "--seed", "1",
                     "--space", json.dumps({"dropout": [0.0, 0.3], "learning_rate": [0.002, 0.02]}),
                     "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "best of 2 trials" in printed and "test accuracy" in printed
    config = json.loads((out / tuning.BEST_CONFIG).read_text())
    best = json.loads((out / tuning.SUMMARY).read_text())["best_values"]
    assert config["model_args"] == {"hidden_units": [8], "dropout": best["dropout"]}
    assert config["recipe"]["learning_rate"] == best["learning_rate"]
    again = tmp_path / "again"
    assert cli.main(["train", "--config", str(out / tuning.BEST_CONFIG), "--output", str(again)]) == 0
    run = json.loads((again / "config.json").read_text())
    assert run["model_args"]["dropout"] == best["dropout"]
    assert run["model_args"]["hidden_units"] == [8]
    assert run["recipe"]["learning_rate"] == best["learning_rate"] and run["epochs"] == 1


def test_a_killed_search_resumes_where_it_stopped(tmp_path, monkeypatch):
    out = tmp_path / "tune"
    train = loop._train_and_test
    calls = []

    def killed_at_second_trial(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_and_test", killed_at_second_trial)
    with pytest.raises(KeyboardInterrupt):
        kz.tune("mlp", "digits", SPACE, trials=3, output_dir=out, seed=5, refit=False,
                verbose=0, **TINY)
    first = json.loads((out / tuning.SEARCH / "trial_0" / "trial.json").read_text())
    assert first["status"] == "COMPLETED"
    calls.clear()
    monkeypatch.setattr(loop, "_train_and_test",
                        lambda *a, **k: calls.append(1) or train(*a, **k))
    result = kz.tune("mlp", "digits", SPACE, trials=3, output_dir=out, seed=5, refit=False,
                     verbose=0, **TINY)
    assert len(calls) == 2  # the interrupted trial again, and the third; not the first
    assert [t["status"] for t in result.trials] == ["COMPLETED"] * 3
    assert result.trials[0]["score"] == first["score"]


def test_hyperband_and_bayesian_run(tmp_path):
    result = kz.tune("mlp", "digits", SPACE, trials=3, algorithm="hyperband", epochs=3,
                     output_dir=tmp_path / "hb", seed=0, refit=False, verbose=0,
                     model_args={"hidden_units": [8]}, recipe={"epochs": 1})
    assert len(result.trials) == 3 and all("epochs" in t for t in result.trials)
    result = kz.tune("mlp", "digits", SPACE, trials=2, algorithm="bayesian",
                     output_dir=tmp_path / "bo", seed=0, refit=False, verbose=0, **TINY)
    assert len(result.trials) == 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_chief_and_two_workers(tmp_path):
    out = tmp_path / "tune"
    port = str(_free_port())
    args = [sys.executable, "-m", "keras_zoo.cli", "tune", "mlp", "--dataset", "digits",
            "--trials", "4", "--epochs", "1", "--recipe", "epochs=1", "--arg", "hidden_units=(8,)",
            "--seed", "2", "--space", json.dumps(SPACE), "--output", str(out)]
    procs = {}
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": port}
        procs[tuner_id] = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)
    outputs = {k: p.communicate(timeout=600) for k, p in procs.items()}
    for tuner_id, proc in procs.items():
        assert proc.returncode == 0, (tuner_id, outputs[tuner_id][1][-2000:])
    assert "best of 4 trials" in outputs["chief"][0]
    assert "worker finished" in outputs["tuner0"][0]
    trials = json.loads((out / tuning.TRIALS_JSON).read_text())
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    # Both workers ran trials (keras-tuner saves a worker's state after each of its trials).
    assert (out / tuning.SEARCH / "tuner0.json").is_file()
    assert (out / tuning.SEARCH / "tuner1.json").is_file()
    assert (out / tuning.BEST / "metrics.json").is_file()
