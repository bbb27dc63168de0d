import os
import subprocess
import sys

import keras
import pytest

import keras_zoo as kz
from keras_zoo.models import registry


def test_list_models_covers_five_families():
    names = kz.list_models()
    assert names == sorted(names)
    assert len(names) >= 13
    for family in registry.FAMILIES:
        assert kz.list_models(family=family), family
    assert {"resnet20", "resnet32", "resnet56"} <= set(kz.list_models("resnet*"))
    assert kz.list_models("resnet*", family="transformer") == []


def test_list_models_filters_by_task():
    text = kz.list_models(task="text_classification")
    assert "transformer_classifier" in text and "lstm_classifier" in text
    assert "resnet20" not in text


def test_unknown_family_or_task_suggests():
    with pytest.raises(KeyError, match="cnn"):
        kz.list_models(family="cnns")
    with pytest.raises(kz.UnknownNameError, match="Accepted"):
        kz.list_models(task="painting")


def test_model_info_is_frozen_record():
    info = kz.model_info("resnet20")
    assert info.name == "resnet20"
    assert info.family == "cnn"
    assert info.task == "image_classification"
    assert info.dataset == "cifar10"
    assert "He" in info.reference
    assert info.defaults["num_classes"] == 10
    with pytest.raises(Exception):
        info.family = "dense"
    with pytest.raises(TypeError):
        info.defaults["num_classes"] = 3


@pytest.mark.parametrize("name", ["resnet2", "resnet_20", "mpl"])
def test_unknown_model_suggests_close_matches(name):
    with pytest.raises(kz.UnknownNameError) as err:
        kz.create_model(name)
    assert isinstance(err.value, KeyError)
    message = str(err.value)
    assert repr(name) in message
    assert "Did you mean" in message
    if name.startswith("resnet"):
        assert "resnet20" in message


def test_unknown_override_names_accepted_arguments():
    with pytest.raises(kz.InvalidArgumentError) as err:
        kz.create_model("simple_cnn", num_clases=3)
    message = str(err.value)
    assert "num_clases" in message and "num_classes" in message and "input_shape" in message


@pytest.mark.parametrize(
    "override",
    [{"num_classes": "ten"}, {"num_classes": 2.5}, {"num_classes": True}, {"input_shape": 28}],
)
def test_wrong_override_type_is_refused(override):
    with pytest.raises(kz.InvalidArgumentError, match="Received"):
        kz.create_model("simple_cnn", **override)


def test_register_twice_raises():
    with pytest.raises(ValueError, match="already registered"):

        @kz.register_model(family="dense", task="classification", dataset="digits", reference="-")
        def mlp(num_classes=10):
            """Duplicate."""


def test_register_checks_family_task_and_signature():
    with pytest.raises(ValueError, match="family"):
        kz.register_model(family="tree", task="classification", dataset="d", reference="-")
    with pytest.raises(ValueError, match="task"):
        kz.register_model(family="dense", task="ranking", dataset="d", reference="-")
    with pytest.raises(ValueError, match="default"):

        @kz.register_model(family="dense", task="classification", dataset="d", reference="-")
        def needs_an_argument(units):
            """No default."""

    assert "needs_an_argument" not in kz.list_models()


def test_create_model_returns_uncompiled_functional():
    model = kz.create_model("mlp", input_shape=(8,), num_classes=3)
    assert isinstance(model, keras.Model)
    assert isinstance(model, keras.src.models.Functional)
    assert not model.compiled
    assert model.output.shape[-1] == 3


def test_import_is_light(tmp_path):
    """`import keras_zoo` imports no Keras; the first use registers every model (and
    the offline tfds builders) and writes nothing anywhere. One fresh process."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    # (tfds.list_builders() itself then writes a cache under HOME: listed before it.)
    code = ("import os, sys, keras_zoo as kz\nassert 'keras' not in sys.modules\n"
            "count = len(kz.list_models())\nassert 'keras' in sys.modules\n"
            "written = os.listdir(os.environ['HOME']) + os.listdir('.')\n"
            "import tensorflow_datasets as tfds\nassert 'digits' in tfds.list_builders()\n"
            "print(count, written)")
    # Keras itself writes its config to KERAS_HOME and (importing matplotlib for
    # keras.visualization) matplotlib's to MPLCONFIGDIR on first import; keep those apart.
    env = {
        **os.environ,
        "HOME": str(home),
        "KERAS_HOME": str(tmp_path / "keras"),
        "MPLCONFIGDIR": str(tmp_path / "matplotlib"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    count, written = out.stdout.split(" ", 1)
    assert int(count) >= 13 and written.strip() == "[]", out.stdout
