"""The README names every model and dataset, and its commands are the CI's."""

import pathlib

import keras_zoo as kz

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
# The front page, the contributors' page and every docs page, by their path from the root.
MARKDOWN = {"README.md": README,
            "CONTRIBUTING.md": (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8"),
            **{f"docs/{page.name}": page.read_text(encoding="utf-8") for page in DOCS}}


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
    """Every `pip install ...` in the Markdown pages (code blocks and inline) and the notebooks."""
    texts = [(name, text) for name, text in MARKDOWN.items()]
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
                'pip install -e ".[cuda]"', "pip install kears"):
        assert install_problem(bad) is not None, bad


# --- the front page stays short, and every link between the pages works -----


def test_readme_is_a_front_page_of_at_most_300_lines():
    assert len(README.splitlines()) <= 300, len(README.splitlines())


FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^()\s]+)\)")


def prose(text):
    """`text` without its fenced code blocks and inline code spans."""
    return re.sub(r"(`+)[^`].*?\1", "", FENCE.sub("", text), flags=re.S)


def github_anchors(text):
    """The anchors GitHub gives the headings of a Markdown page (its slug style)."""
    anchors, seen = set(), {}
    for line in FENCE.sub("", text).splitlines():
        heading = re.match(r"^#{1,6} +(.*?) *#* *$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def relative_links(name, text):
    """(target path from the root, anchor or None) of each relative link on page `name`."""
    for target in LINK.findall(prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        resolved = (ROOT / name).parent / path if path else ROOT / name
        yield target, resolved.resolve(), anchor or None


def test_every_relative_link_resolves():
    problems = []
    for name, text in MARKDOWN.items():
        for target, path, anchor in relative_links(name, text):
            if not path.exists():
                problems.append(f"{name}: {target}: no such file")
            elif anchor is not None:
                if path.suffix != ".md":
                    problems.append(f"{name}: {target}: an anchor into a file that is not Markdown")
                elif anchor not in github_anchors(path.read_text(encoding="utf-8")):
                    problems.append(f"{name}: {target}: no heading with that anchor")
    assert not problems, "\n".join(problems)


def test_the_link_check_catches_a_broken_link_and_a_broken_anchor():
    assert github_anchors("# Run on several machines (TensorFlow, `TF_CONFIG`)\n## Results\n## Results\n"
                          "```\n# not a heading\n```\n") == {
        "run-on-several-machines-tensorflow-tf_config", "results", "results-1"}
    links = list(relative_links("docs/x.md", "[a](../README.md#results) [b](nope.md) `[c](in-code.md)` "
                                "[d](https://example.com/x.md) [e](#here)"))
    assert [(target, anchor) for target, _, anchor in links] == [
        ("../README.md#results", "results"), ("nope.md", None), ("#here", "here")]
    assert links[0][1] == ROOT / "README.md" and not links[1][1].exists()


def test_every_docs_page_is_linked_from_the_readme():
    assert DOCS, "docs/ has no pages"
    linked = {path for _, path, _ in relative_links("README.md", README)}
    for page in DOCS:
        assert page.resolve() in linked, f"README.md does not link docs/{page.name}"
    assert (ROOT / "CONTRIBUTING.md").resolve() in linked


def test_docs_name_only_files_that_exist():
    """Repository paths written in the pages (`keras_zoo/...`, `scripts/...`, `x.md`) exist."""
    tops = ("keras_zoo/", "scripts/", "tests/", "notebooks/", "results/", "docs/", ".ci/")
    problems = []
    for name, text in MARKDOWN.items():
        for span in re.findall(r"`([^`\s]+)`", text):
            path = span.split("::")[0].rstrip(".,;:")
            if path.startswith(tops) or re.fullmatch(r"[\w./-]+\.md", path):
                if not (ROOT / path).exists():
                    problems.append(f"{name}: `{span}`")
    assert not problems, "\n".join(problems)


def test_docs_name_only_modules_and_functions_that_exist():
    """Every dotted `keras_zoo.x.y` in the pages imports (a module, or a name in one)."""
    import importlib

    problems = []
    for name, text in MARKDOWN.items():
        for dotted in sorted(set(re.findall(r"\bkeras_zoo(?:\.[A-Za-z_]\w*)+", text))):
            parts = dotted.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    found = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                for attribute in parts[cut:]:
                    found = getattr(found, attribute, None)
                if found is None:
                    problems.append(f"{name}: {dotted}")
                break
    assert not problems, "\n".join(problems)


def test_every_file_in_the_contributing_layout_exists():
    layout = MARKDOWN["CONTRIBUTING.md"].split("## Layout", 1)[1].split("```", 2)[1]
    paths = [line.split()[0] for line in layout.splitlines() if line.strip()]
    assert "keras_zoo/__init__.py" in paths, paths
    assert [path for path in paths if not (ROOT / path).exists()] == []
