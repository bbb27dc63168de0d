"""The README names every model and dataset, and its commands are the CI's."""

import pathlib

import keras_zoo as kz

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_model_and_dataset_is_in_the_readme_tables():
    for name in kz.list_models():
        info = kz.model_info(name)
        assert f"| `{name}` | {info.family} | {info.task} |" in README, name
    for name in kz.list_datasets():
        assert f"| `{name}` | {kz.dataset_spec(name).kind} |" in README, name


def test_ci_runs_the_readme_setup_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd ", "rm "))]
    for command in commands:
        assert f"\n{command}\n" in README, command


def test_results_table_is_generated_from_results_csv():
    import importlib.util

    spec = importlib.util.spec_from_file_location("results", ROOT / "scripts" / "results.py")
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    rows = results.read_rows()
    assert rows, "results/results.csv is empty"
    table = README.split(results.BEGIN, 1)[1].split(results.END, 1)[0].strip()
    assert table == results.markdown(rows)
    for row in rows:  # a measured row says whether it met its recipe's target
        assert row["met"] in ("yes", "no") or row["met"].startswith("not yet reproduced"), row
        if row["met"] in ("yes", "no"):
            assert row["seeds"] and row["min"] <= row["median"] <= row["max"], row
