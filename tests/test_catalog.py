"""The static catalog the fast CLI reads equals the live registry; those commands skip TensorFlow."""

import subprocess
import sys

import pytest

import keras_zoo as kz
from keras_zoo import errors
from keras_zoo.cli import catalog


def test_catalog_file_is_generated_from_the_registry():
    """Parameter counts are `count_params()` at the defaults; regenerate with the command."""
    built = catalog.build()
    with open(catalog._DATA_FILE, encoding="utf-8") as f:
        text = f.read()
    assert text == catalog.render(built), "stale: run `python -m keras_zoo.cli.catalog`"
    assert catalog.models() == built["models"]
    for name in kz.list_models():
        assert catalog.models()[name]["params"] == kz.create_model(name).count_params()
    assert sorted(catalog.datasets()) == kz.list_datasets()
    assert catalog.models()["gpt_mini"]["memory"][0] == (
        f"parameters {kz.create_model('gpt_mini').count_params():,} (counted from the "
        "arguments; nothing built)")


FAST_COMMANDS = [["--help"], ["--version"], ["list"], ["list", "--params"],
                 ["info", "simple_cnn"], ["info", "gpt_mini"], ["datasets"], ["train", "--help"],
                 ["info", "nope"]]


@pytest.mark.parametrize("argv", FAST_COMMANDS, ids=" ".join)
def test_static_commands_do_not_import_tensorflow(argv):
    code = ("import sys\nfrom keras_zoo import cli\ncode = cli.main(sys.argv[1:])\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax', 'tensorflow_datasets')"
            " if m in sys.modules)\n"
            "print('HEAVY', heavy)\nsys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                         timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert out.returncode == (2 if argv == ["info", "nope"] else 0), out.stderr


def test_version():
    out = subprocess.run([sys.executable, "-m", "keras_zoo.cli", "--version"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == f"keras-zoo {kz.__version__}"


NOT_OFFLINE = [n for n, info in catalog.models().items()
               if not catalog.datasets()[info["dataset"]]["offline"]]


def test_the_models_whose_reference_dataset_needs_a_download():
    assert {"simple_cnn", "resnet20", "vit", "dcgan", "bilstm_classifier"} <= set(NOT_OFFLINE)


@pytest.mark.parametrize("name", NOT_OFFLINE)
def test_first_train_offline_names_a_dataset_that_fits(name, tmp_path):
    from keras_zoo import data, training
    from keras_zoo.cli import commands as cli

    info = kz.model_info(name)
    hint = cli.offline_hint(name, str(tmp_path))
    offline = catalog.models()[name]["offline_dataset"]
    assert offline in ("digits", "half_sums")
    assert "\n" not in hint
    assert f"`keras-zoo train {name} --dataset {offline}`" in hint
    assert errors.prepare_command(info.dataset) in hint
    spec = kz.dataset_spec(offline)
    data.check_compatible(info, spec)
    recipe_args = dict(kz.recipe(name, offline).model_args or {})
    kz.create_model(name, **training.model_args_for(info, spec, recipe_args))
    (tmp_path / info.dataset).mkdir()  # prepared: no hint
    assert cli.offline_hint(name, str(tmp_path)) is None


def test_offline_models_get_no_hint():
    from keras_zoo.cli import commands as cli

    assert cli.offline_hint("mlp") is None and cli.offline_hint("gpt_mini") is None


def test_the_hint_is_the_first_line_of_a_first_train(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "keras_zoo.cli", "train", "simple_cnn", "--data-dir",
         str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300)
    lines = out.stdout.splitlines()
    assert lines[0] == ("note: simple_cnn's reference dataset mnist is downloaded by tfds; "
                        "offline, try `keras-zoo train simple_cnn --dataset digits`; to prepare "
                        "mnist on a machine with network: `python -c \"import tensorflow_datasets "
                        "as tfds; tfds.builder('mnist', data_dir='DIR').download_and_prepare()\"`, "
                        "then pass --data-dir DIR."), out.stdout
    assert out.returncode == 2
    assert lines[1].startswith("error: Dataset 'mnist' is not prepared in "), out.stdout
    assert not any(line.startswith("Strategy ") for line in lines), out.stdout  # no training
