"""A mistyped `data_dir` or a damaged tfds folder gets one line naming it and the way out."""

import glob
import os
import shutil

import pytest

import keras_zoo as kz
from keras_zoo import cli
from keras_zoo.data import folders

TINY = {"hidden_units": (8,)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A folder where `digits` is prepared (copied per test before damaging it)."""
    root = tmp_path_factory.mktemp("tfds")
    kz.load_dataset("digits", "test", data_dir=str(root))
    return root


@pytest.fixture
def damaged(prepared, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(prepared, root)
    version = glob.glob(str(root / "digits" / "*" / "dataset_info.json"))[0]
    return root, os.path.dirname(version)


def fit(data_dir, tmp_path):
    return kz.fit("mlp", "digits", epochs=1, model_args=TINY, data_dir=str(data_dir),
                  output_dir=str(tmp_path / "run"), verbose=0)


def test_data_dir_that_is_a_file(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    with pytest.raises(kz.InvalidArgumentError, match=r"The data folder .*notes\.txt' is a file, "
                                                      r"not a folder; .*--data-dir DIR"):
        fit(file, tmp_path)
    with pytest.raises(kz.InvalidArgumentError, match=r"notes\.txt' is a file"):
        kz.load_dataset("digits", data_dir=str(file / "sub"))
    assert not (tmp_path / "run").exists()


def test_data_dir_under_a_file(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    with pytest.raises(kz.InvalidArgumentError, match=r"cannot be created: .*notes\.txt' is a file"):
        fit(file / "a" / "b", tmp_path)
    assert not (tmp_path / "run").exists()


def test_data_dir_not_writable(tmp_path):
    with pytest.raises(kz.InvalidArgumentError,
                       match=r"Dataset 'digits' must be prepared in '/sys/keras_zoo_data', but "
                             r"'/sys' is not writable .*tfds build digits --data_dir"):
        fit("/sys/keras_zoo_data", tmp_path)
    assert not (tmp_path / "run").exists()


def test_a_read_only_folder_that_holds_the_data_is_fine(prepared, tmp_path, monkeypatch):
    def refuse(folder):  # what a read-only folder answers (the tests run as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(folders, "_probe", refuse)
    x, y = next(iter(kz.load_dataset("digits", "test", batch_size=4, data_dir=str(prepared))))
    assert x.shape == (4, 8, 8, 1)
    with pytest.raises(kz.InvalidArgumentError, match=r"is not writable \(Permission denied\)"):
        kz.load_dataset("digits", "test", data_dir=str(tmp_path / "empty"))


def test_garbage_dataset_info(damaged, tmp_path):
    root, version = damaged
    with open(os.path.join(version, "dataset_info.json"), "w") as f:
        f.write("garbage{")
    with pytest.raises(kz.InvalidArgumentError) as info:
        fit(root, tmp_path)
    message = str(info.value)
    assert f"The metadata of dataset 'digits', '{version}/dataset_info.json', is damaged" in message
    assert f"Delete the folder '{version}' (keras-zoo generates it again" in message
    assert "\n" not in message and not (tmp_path / "run").exists()


def test_garbage_dataset_info_of_a_tfds_dataset_says_tfds_build(tmp_path):
    version = tmp_path / "mnist" / "3.0.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{not json")
    with pytest.raises(kz.InvalidArgumentError,
                       match=rf"Delete the folder '{version}' \(then rebuild it with `tfds build "
                             rf"mnist --data_dir {tmp_path}`\)"):
        kz.dataset_spec("mnist", data_dir=str(tmp_path))


def test_truncated_records(damaged, tmp_path):
    root, version = damaged
    record = glob.glob(os.path.join(version, "digits-test.tfrecord*"))[0]
    with open(record, "rb") as f:
        data = f.read()
    with open(record, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(kz.InvalidArgumentError) as info:
        kz.load_dataset("digits", "test", data_dir=str(root))
    message = str(info.value)
    assert message.startswith(f"The prepared records of dataset 'digits' are damaged: {record} "
                              "(truncated record at"), message
    assert f"Delete the folder '{version}'" in message and "\n" not in message
    with pytest.raises(kz.InvalidArgumentError, match="are damaged"):
        fit(root, tmp_path)
    assert not (tmp_path / "run").exists()


def test_cli_rows_exit_2_with_one_line(damaged, tmp_path, capsys):
    root, version = damaged
    file = tmp_path / "notes.txt"
    file.write_text("x")
    with open(os.path.join(version, "dataset_info.json"), "w") as f:
        f.write("garbage{")
    for data_dir, match in ((file, "is a file, not a folder"),
                            (file / "x", "cannot be created"),
                            ("/sys/keras_zoo_data", "is not writable"),
                            (root, "is damaged")):
        code = cli.main(["train", "mlp", "--dataset", "digits", "--epochs", "1",
                         "--arg", "hidden_units=(8,)", "--data-dir", str(data_dir),
                         "--output", str(tmp_path / "run")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and match in err[0], (data_dir, err)
    assert not (tmp_path / "run").exists()
