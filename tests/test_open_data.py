"""The user's own data: folders, arrays and tf.data, on TensorFlow and JAX (issue 22).

`open_data_matrix.py` fits every model on each kind of data it reads; here
on TensorFlow in this process, and under `KERAS_BACKEND=jax` in one
subprocess (plus `data_parallel` on 8 fake devices for an image and a text
case). The rest checks folders, the carve, the run's record, resume on
changed data, and that bad data gets one clear line.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_zoo as kz
from keras_zoo import data
from keras_zoo.cli import commands
from keras_zoo.errors import IncompatibleError, InvalidArgumentError
from tests import open_data_matrix

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = open_data_matrix.cases()


def _check_case(result):
    assert "error" not in result, result["error"]
    assert result["finite"]
    if result["metrics"] != ["d_loss", "g_loss"]:
        assert result["metrics"] == ["accuracy", "loss"]
        assert result["evaluated"] == ["accuracy", "loss"]


@pytest.mark.parametrize("name,kind", CASES, ids=[f"{n}:{k}" for n, k in CASES])
def test_every_model_fits_and_evaluates_each_kind_on_tensorflow(name, kind):
    _check_case(open_data_matrix.run_case(name, kind))


def _jax(args=(), **env):
    run = subprocess.run(
        [sys.executable, "-m", "tests.open_data_matrix", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=900,
        env={**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", **env})
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    return out["results"]


@pytest.fixture(scope="module")
def on_jax():
    return _jax()


@pytest.mark.parametrize("name,kind", CASES, ids=[f"{n}:{k}" for n, k in CASES])
def test_every_model_fits_and_evaluates_each_kind_on_jax(name, kind, on_jax):
    _check_case(on_jax[f"{name}:{kind}"])


def test_data_parallel_on_eight_devices_reads_images_and_texts():
    results = _jax(["simple_cnn:images", "gru_classifier:texts"],
                   OPEN_DATA_STRATEGY="data_parallel",
                   XLA_FLAGS="--xla_force_host_platform_device_count=8")
    for result in results.values():
        _check_case(result)


# --- Folders -------------------------------------------------------------------------------


def _digits(count):
    digits = load_digits()
    return (digits.images[:count] * 16).clip(0, 255).astype("uint8"), digits.target[:count]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    x, y = _digits(200)
    for i, (image, label) in enumerate(zip(x, y)):
        (root / str(label)).mkdir(exist_ok=True)
        keras.utils.save_img(root / str(label) / f"{i}.png", image[..., None], scale=False)
    (root / "0" / "notes.md").write_text("not an image: ignored, as Keras does")
    return root


def _copy(folder, tmp_path):
    import shutil

    return pathlib.Path(shutil.copytree(folder, tmp_path / "copy"))


def test_an_image_folder_is_carved_per_class_by_the_seed(image_folder):
    entry = data.resolve(str(image_folder), seed=3)
    assert entry.kind == "image" and entry.origin["files"] == 200
    assert entry.origin["class_names"] == [str(i) for i in range(10)]
    assert entry.origin["carve"] == ["validation", "test"]
    spec = data.dataset_spec(entry)
    assert spec.input_shape == (8, 8, 1) and spec.num_classes == 10

    def labels(split, seed=3):
        ds = data.load_dataset(data.resolve(str(image_folder), seed=seed), split,
                               batch_size=500, shuffle=False)
        x, y = next(iter(ds))
        return x.numpy(), y.numpy()

    train, validation, test = (labels(s) for s in ("train", "validation", "test"))
    assert len(train[1]) + len(validation[1]) + len(test[1]) == 200
    for split in (validation, test):  # 10% of each class, at least one
        counts = np.bincount(split[1], minlength=10)
        expected = np.maximum(1, np.round(0.1 * np.bincount(_digits(200)[1])))
        np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(labels("test")[0], test[0])  # the same seed, the same carve
    assert not np.array_equal(labels("test", seed=4)[0], test[0])


def test_folder_run_records_its_data_resumes_and_refuses_changed_files(image_folder, tmp_path):
    folder = _copy(image_folder, tmp_path)
    out = tmp_path / "run"
    result = kz.fit("simple_cnn", str(folder), epochs=1, seed=0, output_dir=out, verbose=0)
    record = json.loads((out / "config.json").read_text())["data"]
    assert record["class_names"] == [str(i) for i in range(10)]
    assert record["image_size"] == [8, 8] and record["channels"] == 1
    assert record["origin"]["path"] == str(folder) and record["origin"]["files"] == 200
    # The run's own folder is carved as in training: the same test split, the same numbers.
    assert kz.evaluate(str(out), str(folder)) == pytest.approx(result.metrics, rel=1e-5)
    again = kz.fit("simple_cnn", str(folder), epochs=1, seed=0, output_dir=out, verbose=0)
    assert again.metrics == result.metrics  # finished: returned as saved
    x, _ = _digits(1)
    keras.utils.save_img(folder / "3" / "new.png", x[0][..., None], scale=False)
    with pytest.raises(InvalidArgumentError, match="changed since it was written.*201 now"):
        kz.fit("simple_cnn", str(folder), epochs=1, seed=0, output_dir=out, verbose=0)
    predictions = kz.predict(str(out), [folder / "3" / "new.png"], top=2)
    assert predictions[0].label in record["class_names"]


def test_the_cli_trains_on_a_folder_and_evaluates_it(image_folder, tmp_path, capsys):
    out = tmp_path / "cli-run"
    code = commands.main(["train", "mlp", "--dataset", str(image_folder), "--epochs", "1",
                          "--output", str(out), "--seed", "0"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Data: image folder" in printed.out and "carved" in printed.out
    assert commands.main(["evaluate", str(out)]) == 0  # --dataset defaults to the run's folder
    assert "accuracy" in capsys.readouterr().out


def test_a_text_folder_trains_a_text_classifier(tmp_path):
    rng = np.random.default_rng(0)
    for label, word in (("neg", "awful"), ("pos", "lovely")):
        (tmp_path / label).mkdir()
        for i in range(15):
            filler = " ".join(rng.choice(["the", "film", "was", "a", "plot"], 6))
            (tmp_path / label / f"{i}.txt").write_text(f"{filler} {word} {filler}")
    entry = data.resolve(str(tmp_path))
    assert entry.kind == "text" and entry.origin["class_names"] == ["neg", "pos"]
    result = kz.fit("gru_classifier", str(tmp_path), epochs=1, batch_size=8, verbose=0,
                    model_args={"embedding_dim": 8, "units": 8})
    assert result.model.inputs[0].shape[1] == 200
    assert set(result.metrics) == {"accuracy", "loss"}


# --- Arrays and tf.data ----------------------------------------------------------------------


def test_arrays_with_string_labels_and_held_out_data():
    x, y = _digits(300)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    train, rest = slice(0, 200), slice(200, 300)
    result = kz.fit("mlp", (x[train] / 255.0, names[y[train]]), epochs=1, verbose=0,
                    validation_data=(x[rest] / 255.0, names[y[rest]]),
                    test_data=(x[rest], names[y[rest]]))
    # Float images in [0, 1] and uint8 images are the same pixels: one test set, two forms.
    metrics = kz.evaluate(result.model, (x[rest], names[y[rest]]))
    assert metrics == pytest.approx(result.metrics, rel=1e-5)
    entry = data.resolve((x, names[y]))
    assert entry.origin["class_names"] == sorted(names.tolist())


def test_tf_data_batched_or_not_and_variable_image_sizes(capsys):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (10 + i % 3, 12, 3)).astype("uint8") for i in range(30)]
    labels = [i % 2 for i in range(30)]
    ds = tf.data.Dataset.from_generator(
        lambda: zip(images, labels),
        output_signature=(tf.TensorSpec((None, 12, 3), tf.uint8), tf.TensorSpec((), tf.int64)))
    result = kz.fit("simple_cnn", ds, epochs=1, batch_size=4, verbose=0,
                    recipe={"image_size": 16}, model_args={"filters": (4, 8)})
    assert tuple(result.model.inputs[0].shape[1:]) == (16, 16, 3)
    x, y = _digits(40)
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    entry = data.resolve(batched)
    assert "is batched" in capsys.readouterr().out
    assert entry.origin["examples"] == 40 and data.dataset_spec(entry).input_shape == (8, 8, 1)


def test_the_image_size_rule():
    assert data.image_size_for((28, 28, 1), "cnn") is None  # small and fixed: kept
    assert data.image_size_for((None, None, 3), "cnn") == (64, 64)
    assert data.image_size_for((500, 500, 3), "dense") == (32, 32)
    assert data.image_size_for((None, None, 3)) == (64, 64)


# --- Bad data: one line naming the problem ---------------------------------------------------


def _bad_folder(tmp_path, layout):
    for relative, content in layout.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            keras.utils.save_img(path, np.zeros((4, 4, 1), "uint8"), scale=False)
    return str(tmp_path)


_PNG = None  # a real image file


@pytest.mark.parametrize("layout,match", [
    ({"a/1.png": None, "a/2.png": None, "a/3.png": None, "b/1.png": None, "b/2.png": None,
      "b/3.png": None, "b/broken.png": b"not a png"},
     r"1 image file\(s\) cannot be decoded, e.g. '.*broken.png'"),
    ({"a/1.png": None, "a/2.png": None}, r"one class \('a', 2 image file"),
    ({"a/readme.md": b"x", "b/notes.md": b"y"}, r"no image .* or text \(.txt\) file"),
    ({"a/1.png": None, "a/2.png": None, "a/3.png": None, "b/1.png": None},
     r"Class 'b' has 1 example\(s\); carving validation and test .* at least 3"),
    ({"a/1.png": None, "b/1.png": None, "c/x.md": b"x"}, r"Class folder\(s\) 'c' .* no image"),
])
def test_bad_folders_are_refused_in_one_line(tmp_path, layout, match):
    with pytest.raises(InvalidArgumentError, match=match) as caught:
        kz.fit("simple_cnn", _bad_folder(tmp_path, layout), epochs=1, verbose=0)
    assert "\n" not in str(caught.value)


def _ragged():
    return ([[1, 2], [3]], [0, 1])


@pytest.mark.parametrize("dataset,match", [
    ((np.zeros((10, 8, 8), "uint8"), np.zeros(9, int)),
     r"10 examples in x, 9 labels in y"),
    ((np.full((10, 8, 8), np.nan, "float32"), np.zeros(10, int)),
     r"NaN or infinite values in 10 example\(s\).*shape \(10, 8, 8\)"),
    ((np.zeros((10, 8, 8), "uint8"), np.linspace(0, 1, 10)),
     r"Labels must be ints .* or strings .* dtype float64"),
    (_ragged(), r"rectangular array; a ragged list"),
    (tf.data.Dataset.from_tensor_slices(np.zeros((4, 3))), r"element_spec TensorSpec"),
    (tf.data.Dataset.from_tensor_slices((np.zeros((4, 3)), np.zeros((4, 2)), np.zeros(4))),
     r"\(x, y\) examples, two tensors"),
    ({"x": 1}, r"Received: dataset of type dict"),
])
def test_bad_arrays_and_tf_data_are_refused_in_one_line(dataset, match):
    with pytest.raises(InvalidArgumentError, match=match) as caught:
        kz.fit("mlp", dataset, epochs=1, verbose=0)
    assert "\n" not in str(caught.value)


def test_a_model_that_cannot_read_the_data_says_both_kinds():
    x, y = _digits(40)
    with pytest.raises(IncompatibleError, match="reads token ids .* provides images"):
        kz.fit("gru_classifier", (x, y), epochs=1, verbose=0)
    with pytest.raises(IncompatibleError, match="reads images .* provides token ids"):
        kz.fit("simple_cnn", (np.array(["a b", "c d"] * 10), [0, 1] * 10), verbose=0)


def test_the_cli_refuses_a_missing_folder_with_exit_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    code = commands.main(["train", "simple_cnn", "--dataset", str(tmp_path / "missing"),
                          "--output", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "holds nothing; a folder with one sub-folder per class is needed" in err
    assert not out.exists()
