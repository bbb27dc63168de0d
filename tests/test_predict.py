"""`predict` and `keras-zoo predict`: a trained classifier on new images and texts.

The runs are trained once per module, tiny and short: their predictions are
near chance, which is enough, since every check compares `predict` with the
model on the training pipeline's own batches (the preprocessing cannot have
drifted) or checks what the answer looks like.
"""

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo import runs
from keras_zoo.cli import commands as cli
from keras_zoo.data import folders

ROOT = pathlib.Path(__file__).resolve().parent.parent
OLD_RUN = str(ROOT / "tests" / "fixtures" / "run_88bb6e7_mlp_finished")  # no "data" record
DIGITS = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("predict") / "mlp")
    kz.fit("mlp", "digits", epochs=1, output_dir=out, seed=0,
           model_args=dict(hidden_units=(8,)), verbose=0)
    return out


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("predict") / "gru")
    kz.fit("gru_classifier", "half_sums", epochs=1, steps_per_epoch=2, output_dir=out, seed=0,
           model_args=dict(embedding_dim=4, units=4), verbose=0)
    return out


@pytest.fixture(scope="module")
def digits():
    """32 test images as the pipeline gives them (float [0, 1]) and as uint8 pixels."""
    x, _ = next(iter(kz.load_dataset("digits", "test", batch_size=32)))
    x = np.asarray(x)
    pixels = np.round(x * 255).astype("uint8")
    assert np.array_equal(pixels / np.float32(255), x)  # the digits are whole pixels
    return x, pixels


def write_pngs(folder, pixels):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, image in enumerate(pixels):
        paths.append(os.path.join(folder, f"digit_{i:02d}.png"))
        keras.utils.save_img(paths[-1], image, scale=False)
    return paths


def probabilities(predictions, names):
    """Each prediction's probability of every class, in the order of `names`."""
    return np.array([[dict(p.top)[n] for n in names] for p in predictions])


def test_png_files_are_read_as_the_test_pipeline_reads_them(image_run, digits, tmp_path):
    x, pixels = digits
    paths = write_pngs(tmp_path / "pngs", pixels)
    predictions = kz.predict(image_run, paths, top=None)
    assert [p.input for p in predictions] == paths
    assert all(len(p.top) == 10 and {n for n, _ in p.top} == set(DIGITS) for p in predictions)
    expected = kz.load_model(image_run).predict(x, verbose=0)
    np.testing.assert_allclose(probabilities(predictions, DIGITS), expected, atol=1e-6)
    best = kz.predict(image_run, paths)  # top=1
    assert [p.label for p in best] == [str(i) for i in expected.argmax(axis=1)]
    assert all(len(p.top) == 1 and p.probability == p.top[0][1] for p in best)
    for p in kz.predict(image_run, paths[:3], top=3):
        assert [prob for _, prob in p.top] == sorted((prob for _, prob in p.top), reverse=True)


def test_arrays_uint8_and_unit_floats_read_alike(image_run, digits):
    x, pixels = digits
    expected = kz.load_model(image_run).predict(x, verbose=0)
    for array in (pixels, pixels[..., 0], x, x.astype("float64") * 255):
        got = kz.predict(image_run, array, top=None)
        assert [p.input for p in got] == list(range(32))
        np.testing.assert_allclose(probabilities(got, DIGITS), expected, atol=1e-5)
    with pytest.raises(kz.InvalidArgumentError, match="0..255, or floats in"):
        kz.predict(image_run, x - 0.5)
    with pytest.raises(kz.InvalidArgumentError, match=r"\(N, H, W\) or \(N, H, W, C\)"):
        kz.predict(image_run, x[0, :, :, 0])


def test_other_sizes_and_colour_are_resized_and_made_grey(image_run, digits, tmp_path):
    _, pixels = digits
    path = str(tmp_path / "big.png")
    colour = np.repeat(np.kron(pixels[0], np.ones((2, 2, 1), "uint8")), 3, axis=-1)  # 16x16x3
    colour[..., 0] //= 2  # not grey: the conversion matters
    keras.utils.save_img(path, colour, scale=False)
    grey = tf.io.decode_image(open(path, "rb").read(), channels=1, expand_animations=False)
    x = tf.image.resize(tf.cast(grey, tf.float32)[None], (8, 8), method="bilinear") / 255.0
    expected = kz.load_model(image_run).predict(x, verbose=0)[0]
    (prediction,) = kz.predict(image_run, path, top=None)
    np.testing.assert_allclose(probabilities([prediction], DIGITS)[0], expected, atol=1e-6)


def test_a_folder_gives_its_images_sorted_sub_folders_too(image_run, digits, tmp_path):
    _, pixels = digits
    write_pngs(tmp_path / "b", pixels[:2])
    write_pngs(tmp_path / "a" / "deeper", pixels[2:3])
    shutil.copy(tmp_path / "b" / "digit_00.png", tmp_path / "c.PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    got = [p.input for p in kz.predict(image_run, str(tmp_path))]
    assert got == [str(tmp_path / "a" / "deeper" / "digit_00.png"),
                   str(tmp_path / "b" / "digit_00.png"), str(tmp_path / "b" / "digit_01.png"),
                   str(tmp_path / "c.PNG")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(kz.InvalidArgumentError, match="holds no image files"):
        kz.predict(image_run, tmp_path / "empty")


def test_an_old_run_and_a_bare_model_file(digits, tmp_path):
    x, pixels = digits
    old = kz.predict(OLD_RUN, pixels[:4])  # no "data" record: names from the tfds builder
    assert all(p.label in DIGITS for p in old)
    bare = str(tmp_path / "model.keras")
    shutil.copy(os.path.join(OLD_RUN, runs.MODEL), bare)  # no run: classes by index
    assert [p.top for p in kz.predict(bare, pixels[:4])] == [p.top for p in old]
    model = kz.load_model(bare)
    assert [p.top for p in kz.predict(model, x[:4])] == [p.top for p in old]


def test_the_cli_prints_the_top_k_and_writes_csv(image_run, digits, tmp_path, capsys):
    _, pixels = digits
    paths = write_pngs(tmp_path / "pngs", pixels[:5])
    out = str(tmp_path / "out" / "predictions.csv")
    assert cli.main(["predict", image_run, str(tmp_path / "pngs"), "--top", "3",
                     "--out", out]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert [line.split("\t")[0] for line in lines] == paths
    expected = kz.predict(image_run, paths, top=3)
    for line, prediction in zip(lines, expected):
        assert line.split("\t")[1:] == [f"{n} ({p:.4f})" for n, p in prediction.top]
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["input", "rank", "class", "probability"]
    assert len(rows) == 1 + 3 * 5
    assert rows[1][:3] == [paths[0], "1", expected[0].label]
    assert float(rows[1][3]) == pytest.approx(expected[0].probability, rel=1e-5)
    assert [f for f in os.listdir(tmp_path / "out")] == ["predictions.csv"]  # no temp left
    assert cli.main(["predict", image_run, paths[0]]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line == f"{paths[0]}\t{expected[0].label} ({expected[0].probability:.4f})"


def test_a_text_run_reads_texts_as_its_pipeline_does(text_run, tmp_path, capsys):
    vocabulary = list(runs.run_vocabulary(text_run))
    x, _ = next(iter(kz.load_dataset("half_sums", "test", batch_size=16, vocabulary=vocabulary)))
    expected = kz.load_model(text_run).predict(x, verbose=0)
    builder = folders.open_builder("half_sums", None)
    texts = [t.decode() for t in builder.as_dataset(split="test").take(16)
             .map(lambda e: e["text"]).as_numpy_iterator()]
    names = list(builder.info.features["label"].names)
    predictions = kz.predict(text_run, texts, top=None)
    assert [p.input for p in predictions] == list(range(16))
    np.testing.assert_allclose(probabilities(predictions, names), expected, atol=1e-6)
    np.testing.assert_allclose(probabilities(kz.predict(text_run, np.array(texts), top=None),
                                             names), expected, atol=1e-6)
    # Files, one example per file; in a list, paths are os.PathLike and texts str.
    (tmp_path / "texts").mkdir()
    for i in range(2):
        (tmp_path / "texts" / f"{i}.txt").write_text(texts[i])
    from_files = kz.predict(text_run, [tmp_path / "texts", texts[2]], top=None)
    assert [p.input for p in from_files] == [str(tmp_path / "texts" / "0.txt"),
                                             str(tmp_path / "texts" / "1.txt"), 1]
    np.testing.assert_allclose(probabilities(from_files, names), expected[:3], atol=1e-6)
    # The command line: .txt files and --text.
    assert cli.main(["predict", text_run, str(tmp_path / "texts" / "0.txt"),
                     "--text", texts[1], "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(tmp_path / "texts" / "0.txt"),
                                                       texts[1]]
    assert all(len(line.split("\t")) == 3 for line in lines)
    # Token ids as given; its model file alone reads them, but no texts (no vocabulary).
    ids = np.asarray(x)
    bare = str(tmp_path / "gru.keras")
    shutil.copy(os.path.join(text_run, runs.MODEL), bare)
    for source in (text_run, bare):
        np.testing.assert_allclose(
            probabilities(kz.predict(source, ids, top=None), ["0", "1"] if source == bare
                          else names), expected, atol=1e-6)
    with pytest.raises(kz.InvalidArgumentError, match="vocabulary.txt"):
        kz.predict(bare, texts[:1])
    with pytest.raises(kz.InvalidArgumentError, match="reads 20 token ids"):
        kz.predict(text_run, ids[:, :5])
    with pytest.raises(kz.InvalidArgumentError, match=r"reads \.txt files"):
        kz.predict(text_run, [pathlib.Path(OLD_RUN) / runs.MODEL])
    with pytest.raises(kz.InvalidArgumentError, match=r"pass it in a list"):
        kz.predict(text_run, texts[0])  # a str alone is a path


def test_a_feature_vector_model_reads_an_array(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    path = str(tmp_path / "features.keras")
    model.save(path)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities(kz.predict(path, x, top=None), ["0", "1", "2"]),
                               expected, atol=1e-6)
    with pytest.raises(kz.InvalidArgumentError, match=r"array \(N, D\)"):
        kz.predict(path, [str(tmp_path)])


@pytest.mark.parametrize("name", ["gpt_mini", "dcgan"])
def test_generators_are_sent_to_generate(name, tmp_path, capsys):
    path = str(tmp_path / f"{name}.keras")
    kz.create_model(name, **kz.model_info(name).tiny).save(path)
    with pytest.raises(kz.InvalidArgumentError, match="keras-zoo generate"):
        kz.predict(path, ["x"])
    assert cli.main(["predict", path, "--text", "def "]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "keras-zoo generate" in err


def test_bad_input_gets_one_line(image_run, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for args, match in [
        ([str(tmp_path / "missing.png")], "No such file or folder"),
        ([str(broken)], "Cannot decode the image"),
        ([], "Give the images"),
        ([str(broken), "--top", "0"], "Received: top=0"),
        (["--text", "7 7 7"], "image classifier"),
    ]:
        assert cli.main(["predict", image_run, *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and match in err, (args, err)
        assert "Traceback" not in err
    assert cli.main(["predict", str(tmp_path / "no_run"), str(broken)]) == 2
    assert "No such model file" in capsys.readouterr().err


_ON_JAX = r"""
import json, sys
import keras, numpy as np
import keras_zoo as kz
image_run, text_run, png = sys.argv[1:4]
print(json.dumps({"backend": keras.backend.backend(),
                  "image": kz.predict(image_run, [png], top=None)[0].top,
                  "text": kz.predict(text_run, ["1 2 3 4 5 6 7 8 9 0 0 0 0 0 0 0 0 0 0 1"],
                                     top=None)[0].top}))
"""


@pytest.mark.slow  # a fresh JAX process: about 15 s of CPU, 40 s on the loaded shared 2 cores
def test_predict_on_jax_matches_tensorflow(image_run, text_run, digits, tmp_path):
    (png,) = write_pngs(tmp_path, digits[1][:1])
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _ON_JAX, image_run, text_run, png],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["backend"] == "jax"
    for key, expected in (("image", kz.predict(image_run, [png], top=None)[0].top),
                          ("text", kz.predict(text_run, ["1 2 3 4 5 6 7 8 9 0 0 0 0 0 0 0 0 "
                                                         "0 0 1"], top=None)[0].top)):
        got_top, expected = dict(got[key]), dict(expected)
        assert set(got_top) == set(expected)
        np.testing.assert_allclose([got_top[n] for n in expected], list(expected.values()),
                                   atol=1e-5)
