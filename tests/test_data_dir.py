"""A mistyped `data_dir` or a damaged tfds folder gets one line naming it and the way out."""

import glob
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

import keras_zoo as kz
from keras_zoo.cli import commands as cli
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
                             r"'/sys' is not writable .*--data-dir DIR\); keras-zoo generates "
                             r"'digits' in it on first use\."):
        fit("/sys/keras_zoo_data", tmp_path)
    assert not (tmp_path / "run").exists()


def test_a_tfds_dataset_in_a_folder_not_writable_says_how_to_prepare_it(monkeypatch):
    def refuse(folder):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(folders, "_probe", refuse)
    with pytest.raises(kz.InvalidArgumentError) as info:
        folders.check_writable("mnist", "/sys/tfds")
    assert "or prepare it there first with `python -c \"import tensorflow_datasets as tfds; " \
           "tfds.builder('mnist', data_dir='/sys/tfds').download_and_prepare()\"`" in str(info.value)


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


@pytest.mark.parametrize("content, reason", [
    (b"\xaf\x00\xff garbage", "not UTF-8 text"),
    (b"", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b"{}", "it describes dataset '' version '', not 'digits' version '1.0.0'"),
    (b'{"name": 5}', "not tfds metadata: Failed to parse name field"),
])
def test_dataset_info_that_is_not_tfds_metadata(damaged, content, reason):
    root, version = damaged
    with open(os.path.join(version, "dataset_info.json"), "wb") as f:
        f.write(content)
    with pytest.raises(kz.InvalidArgumentError) as info:
        kz.load_dataset("digits", "test", data_dir=str(root))
    message = str(info.value)
    assert message.startswith(f"The metadata of dataset 'digits', "
                              f"'{version}/dataset_info.json', is damaged ({reason}"), message
    assert f"Delete the folder '{version}' (keras-zoo generates it again" in message


def test_garbage_dataset_info_of_a_tfds_dataset_says_how_to_prepare_it(tmp_path):
    version = tmp_path / "mnist" / "3.0.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{not json")
    with pytest.raises(kz.InvalidArgumentError) as info:
        kz.dataset_spec("mnist", data_dir=str(tmp_path))
    assert (f"Delete the folder '{version}' (then rebuild it with `python -c \"import "
            f"tensorflow_datasets as tfds; tfds.builder('mnist', data_dir='{tmp_path}')"
            f".download_and_prepare()\"`)") in str(info.value)


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


def _damage(path, how):
    with open(path, "rb") as f:
        data = f.read()
    if how == "missing":
        os.remove(path)
        return
    with open(path, "wb") as f:
        f.write({"truncated": data[: len(data) // 2], "empty": b"",
                 "corrupted": data[:5000] + b"\0" * 100 + data[5100:]}[how])


@pytest.mark.parametrize("how, reason", [
    ("truncated", "truncated record at "),
    ("corrupted", "corrupted record at "),
    ("missing", "missing"),
    ("empty", "0 records, where dataset_info.json counts 360"),  # cut at a record boundary
])
def test_damaged_records_name_the_file(damaged, how, reason):
    root, version = damaged
    record = glob.glob(os.path.join(version, "digits-test.tfrecord*"))[0]
    _damage(record, how)
    with pytest.raises(kz.InvalidArgumentError) as info:
        kz.load_dataset("digits", "test", data_dir=str(root))
    assert str(info.value).startswith(f"The prepared records of dataset 'digits' are damaged: "
                                      f"{record} ({reason}"), str(info.value)
    shutil.rmtree(version)  # what the message says to do
    assert len(list(kz.load_dataset("digits", "test", batch_size=360, data_dir=str(root)))) == 1


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


# --- the CLI as a user runs it: its own process, TensorFlow's native stderr included ---

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "--- next command ---"
CHILD = r"""
import json, os, sys
from keras_zoo import cli
codes = []
for argv in json.loads(sys.argv[1]):
    codes.append(cli.main(argv))
    os.write(2, b"%s\n")
print(json.dumps(codes))
""" % MARK


def _without_permission_override():
    """A prefix that runs a command with permission bits enforced, also for root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")  # util-linux: root without CAP_DAC_OVERRIDE
    assert setpriv, "running as root, setpriv is needed to make permission bits apply"
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--reuid=0"]


def test_cli_rows_in_a_process_of_their_own(prepared, tmp_path):
    """Each row: exit 2 and one stderr line (native TensorFlow lines counted), permission bits real."""
    model = tmp_path / "mlp.keras"
    kz.create_model("mlp", input_shape=(8, 8, 1), num_classes=10, **TINY).save(model)
    file = tmp_path / "notes.txt"
    file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    locked_prepared = tmp_path / "locked_prepared"
    shutil.copytree(prepared, locked_prepared)
    rows = [(file, 2, "is a file, not a folder"), (file / "x", 2, "cannot be created"),
            (locked, 2, f"but '{locked}' is not writable (Permission denied)"),
            (locked_prepared, 0, None)]
    for how in ("truncated", "missing", "empty"):
        root = tmp_path / how
        shutil.copytree(prepared, root)
        _damage(glob.glob(str(root / "digits" / "*" / "digits-test.tfrecord*"))[0], how)
        rows.append((root, 2, "The prepared records of dataset 'digits' are damaged"))
    root = tmp_path / "garbage_info"
    shutil.copytree(prepared, root)
    (next((root / "digits").iterdir()) / "dataset_info.json").write_bytes(b"\xaf\x00 garbage")
    rows.append((root, 2, "is damaged (not UTF-8 text)"))
    for folder, _, _ in os.walk(locked_prepared):
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        argvs = [["evaluate", str(model), "--dataset", "digits", "--data-dir", str(d)]
                 for d, _, _ in rows]
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
        proc = subprocess.run(_without_permission_override()
                              + [sys.executable, "-c", CHILD, json.dumps(argvs)],
                              capture_output=True, text=True, env=env, timeout=600)
    finally:
        for folder, _, _ in os.walk(locked_prepared):
            os.chmod(folder, stat.S_IRWXU)
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    outputs = proc.stderr.split(MARK + "\n")
    for (folder, code, match), got, err in zip(rows, codes, outputs):
        lines = err.strip().splitlines()
        if code == 0:
            assert got == 0 and lines == [], (folder, got, lines)
        else:
            assert got == 2 and len(lines) == 1 and match in lines[0], (folder, got, lines)
            assert lines[0].startswith("error: "), lines
