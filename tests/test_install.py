"""The install extras in `setup.cfg` are the ones the README and the TPU notebook name.

`.[gpu]` and `.[tpu]` were checked to resolve against the package index with
`pip install --dry-run -e ".[gpu]"` / `".[tpu]"` when they were written; here,
without a network, every requirement must parse and name what the pages say.
"""

import configparser
import json
import pathlib
import re

from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETUP = configparser.ConfigParser()
SETUP.read(ROOT / "setup.cfg")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def extras():
    """{extra: [Requirement, ...]} from setup.cfg."""
    section = SETUP["options.extras_require"]
    return {name: [Requirement(line) for line in section[name].splitlines() if line.strip()]
            for name in section}


def names(requirements):
    """{"name[extra,...]": requirement} as written in the pages."""
    return {r.name + (f"[{','.join(sorted(r.extras))}]" if r.extras else ""): r
            for r in requirements}


def test_every_requirement_parses_and_has_a_lower_bound():
    found = extras()
    assert {"jax", "onnx", "dev", "gpu", "tpu"} <= set(found)
    for extra, requirements in found.items():
        for requirement in requirements:
            assert any(s.operator == ">=" for s in requirement.specifier), (extra, requirement)


def test_gpu_and_tpu_extras_are_what_the_readme_says():
    found = extras()
    assert set(names(found["gpu"])) == {"tensorflow[and-cuda]", "jax[cuda12]"}
    assert set(names(found["tpu"])) == {"jax[tpu]", "tensorflow-cpu"}
    install = README.split("## Install", 1)[1].split("\n## ", 1)[0]
    for extra, requirements in (("gpu", found["gpu"]), ("tpu", found["tpu"])):
        assert f'pip install -e ".[{extra}]"' in install, extra
        for name in names(requirements):
            assert f"`{name}`" in install, (extra, name)
    # The TPU install leaves one TensorFlow, the CPU one (setup.cfg says why).
    assert 'pip uninstall -y tensorflow tensorflow-cpu && pip install "tensorflow-cpu>=2.21"' in install
    bound = str(names(found["tpu"])["tensorflow-cpu"].specifier)
    assert f"tensorflow-cpu{bound}" in install


def test_the_tpu_notebook_installs_the_same_extra():
    notebook = json.loads((ROOT / "notebooks" / "colab_tpu.ipynb").read_text(encoding="utf-8"))
    (cell,) = [c for c in notebook["cells"] if "colab-install" in c["metadata"].get("tags", [])]
    source = "".join(cell["source"])
    installs = re.findall(r'^%pip install -q "([^"]+)"$', source, re.M)
    assert Requirement(installs[0]).extras == {"tpu"}, installs
    assert installs[1:] == [f"tensorflow-cpu{names(extras()['tpu'])['tensorflow-cpu'].specifier}"]
    assert "%pip uninstall -q -y tensorflow tensorflow-cpu" in source
