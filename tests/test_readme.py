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


# --- every install line a user can copy installs only what exists ----------

import configparser  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402

from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

SETUP = configparser.ConfigParser()
SETUP.read(ROOT / "setup.cfg")
EXTRAS = {name.strip() for name in SETUP["options.extras_require"]}
DEPENDENCIES = {canonicalize_name(Requirement(line).name)
                for section, key in (("options", "install_requires"),)
                for line in SETUP[section][key].split("\n") if line.strip()}
DEPENDENCIES |= {canonicalize_name(Requirement(line).name)
                 for key in EXTRAS for line in SETUP["options.extras_require"][key].split("\n")
                 if line.strip()}
# Installed instead of `tensorflow` where JAX owns the accelerator (the TPU notebook).
DEPENDENCIES.add("tensorflow-cpu")
OPTIONS_WITH_VALUE = {"-r", "--requirement", "-c", "--constraint", "-i", "--index-url"}


def install_commands():
    """Every `pip install ...` in the README (code blocks and inline) and the notebooks."""
    texts = [("README.md", README)]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        texts.append((notebook.name, "\n".join("".join(c["source"]) for c in cells)))
    for where, text in texts:
        for line in text.splitlines():
            spans = re.findall(r"`([^`]*pip install[^`]*)`", line) or (
                [line] if "pip install " in line and "`" not in line else [])
            for span in spans:
                command = span.split("#")[0].split("&&")[-1].strip()
                command = command[command.index("pip install"):]
                if command != "pip install":  # the words in prose, not a command to copy
                    yield where, command


def install_problem(command):
    """Why `command` (`pip install ...`) would not work as written, or None."""
    words = shlex.split(command)[2:]
    if not words:
        return "installs nothing"
    skip = False
    for word in words:
        if skip or word.startswith("-") and word not in ("-e", "--editable"):
            skip = word in OPTIONS_WITH_VALUE
            continue
        if word in ("-e", "--editable"):
            continue
        if word == "." or word.startswith(".["):  # this clone, with extras from setup.cfg
            extras = set(re.findall(r"\[(.*)\]", word)[0].split(",")) if "[" in word else set()
            if not extras <= EXTRAS:
                return f"setup.cfg has no extra {sorted(extras - EXTRAS)}"
            continue
        requirement = Requirement(word)
        name = canonicalize_name(requirement.name)
        if name == "keras-zoo":  # not on the package index: only from the repository
            if not (requirement.url or "").startswith("git+https://"):
                return "keras-zoo is not on the package index"
        elif requirement.url is not None or name not in DEPENDENCIES:
            return f"{word} is not a dependency of keras-zoo"
    return None


def test_install_lines_install_only_what_exists():
    commands = list(install_commands())
    assert len(commands) >= 10, commands
    assert ("README.md", 'pip install -e ".[dev]"') in commands
    for where, command in commands:
        assert install_problem(command) is None, (where, command, install_problem(command))


def test_the_install_line_check_catches_what_the_readme_had():
    for bad in ('pip install "keras-zoo[jax]"', 'pip install "jax[tpu]" keras-zoo',
                'pip install -e ".[gpu]"', "pip install kears"):
        assert install_problem(bad) is not None, bad
