"""Tests of keras_zoo.data: recipes, offline builders, pipelines, errors."""

import re
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_zoo import data, errors
from keras_zoo.data import offline

TFDS_DATASETS = sorted(n for n, r in data.DATASETS.items() if r.source == "tfds")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One folder for the offline datasets of this module (generated once)."""
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture
def no_network(monkeypatch):
    """Refuses every network connection, as on a machine with no network; returns the
    list of attempts."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def batches(dataset):
    return [tuple(np.asarray(t) for t in b) for b in dataset.as_numpy_iterator()]


def test_list_datasets_and_specs():
    names = data.list_datasets()
    assert names == sorted(names)
    assert {"mnist", "cifar10", "imdb_reviews", "digits", "addition", "tiny_corpus"} <= set(names)
    for name in names:
        spec = data.dataset_spec(name)
        assert spec.kind in data.KINDS and spec.batch_size > 0 and spec.epochs > 0
        assert spec.description and spec.source
    assert data.dataset_spec("cifar10").model_args() == {"input_shape": (32, 32, 3), "num_classes": 10}
    assert data.dataset_spec("digits").model_args() == {"input_shape": (8, 8, 1), "num_classes": 10}
    assert data.dataset_spec("addition").model_args() == {
        "vocab_size": 13, "sequence_length": 7, "output_length": 4}
    assert data.dataset_spec("imdb_reviews").model_args() == {
        "num_classes": 2, "vocab_size": 20000, "sequence_length": 200}
    assert data.dataset_spec("tiny_corpus").model_args() == {"vocab_size": 98, "sequence_length": 128}
    assert data.dataset_spec("mnist").to_dict()["input_shape"] == [28, 28, 1]


def test_unknown_name():
    with pytest.raises(errors.UnknownNameError, match="Did you mean: mnist"):
        data.dataset_spec("mnsit")
    with pytest.raises(KeyError):
        data.load_dataset("no_such_data")


@pytest.mark.parametrize("name", [n for n in TFDS_DATASETS if data.DATASETS[n].kind == "image"])
def test_image_recipes_under_mock(name):
    spec = data.dataset_spec(name)
    with tfds.testing.mock_data(num_examples=20):
        prepared = data.prepare(name, batch_size=8)
        x, y = next(iter(prepared.train))
        assert x.shape == (8, *spec.input_shape) and x.dtype == tf.float32
        assert y.shape == (8,) and y.dtype == tf.int32
        assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
        assert 0 <= int(tf.reduce_min(y)) and int(tf.reduce_max(y)) < spec.num_classes
        assert [len(b[0]) for b in batches(prepared.train)] == [8, 8]  # drop_remainder
        assert [len(b[0]) for b in batches(prepared.test)] == [8, 8, 4]  # every example
        gan = data.load_dataset(name, batch_size=4, images_only=True)
        assert gan.element_spec.shape == (4, *spec.input_shape)


def test_shuffle_is_seeded_and_reshuffled():
    with tfds.testing.mock_data(num_examples=32):
        def labels(seed):
            ds = data.load_dataset("mnist", batch_size=32, seed=seed)
            return [b[1].tolist() for b in batches(ds.repeat(2))]

        first, second = labels(1), labels(1)
        assert first == second  # same seed, same order
        assert first[0] != first[1]  # reshuffled each epoch
        assert sorted(first[0]) == sorted(first[1])
        assert labels(2) != first
        unshuffled = data.load_dataset("mnist", "test", batch_size=32)
        assert batches(unshuffled)[0][1].tolist() == batches(unshuffled)[0][1].tolist()


def test_text_recipe_under_mock():
    spec = data.dataset_spec("imdb_reviews")
    with tfds.testing.mock_data(num_examples=10):
        prepared = data.prepare("imdb_reviews", batch_size=4)
        vocabulary = prepared.vocabulary
        assert vocabulary[:2] == ["", "[UNK]"] and prepared.spec.vocab_size == len(vocabulary)
        x, y = next(iter(prepared.train))
        assert x.shape == (4, spec.sequence_length) and x.dtype == tf.int32
        assert y.dtype == tf.int32 and set(y.numpy()) <= {0, 1}
        assert 0 <= int(tf.reduce_min(x)) and int(tf.reduce_max(x)) < len(vocabulary)
        # The saved vocabulary gives the same ids again.
        again = data.load_dataset("imdb_reviews", "test", batch_size=4, vocabulary=vocabulary)
        assert np.array_equal(batches(again)[0][0], batches(prepared.test)[0][0])
        with pytest.raises(errors.InvalidArgumentError, match="images_only"):
            data.load_dataset("imdb_reviews", images_only=True)


def test_imdb_keeps_the_last_tokens_as_keras_io():
    # keras.utils.pad_sequences (keras-io's IMDB examples) keeps a long
    # review's last `maxlen` words; short ones are padded (here after them).
    assert data.DATASETS["imdb_reviews"].keep_tokens == "last"
    words = [f"w{i}" for i in range(300)]
    vocabulary = ["", "[UNK]", *words]
    texts = [" ".join(words), " ".join(words[:5])]

    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices({"text": texts, "label": [1, 0]})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ds = data.load_dataset("imdb_reviews", "test", batch_size=2, vocabulary=vocabulary)
        x, y = next(iter(ds))
    x = x.numpy()
    assert x.shape == (2, 200)
    np.testing.assert_array_equal(x[0], np.arange(100, 300) + 2)  # w100 ... w299
    np.testing.assert_array_equal(x[1], np.r_[np.arange(5) + 2, np.zeros(195)])


def test_offline_builders_without_network(data_dir, no_network):
    """Generated with the network refused, and never trying it (no timeouts to wait)."""
    for name in offline.BUILDERS:
        dataset = tfds.load(name, split="train", data_dir=data_dir)
        assert dataset.cardinality() > 0
    assert no_network == []


def test_digits(data_dir):
    prepared = data.prepare("digits", data_dir=data_dir)  # generates the dataset
    info = tfds.builder("digits", data_dir=data_dir).info
    assert info.splits["train"].num_examples == 1437 and info.splits["test"].num_examples == 360
    assert prepared.spec.batch_size == 32 and prepared.vocabulary is None
    test = batches(prepared.test)
    assert sum(len(b[0]) for b in test) == 360
    assert all(b[0].shape[1:] == (8, 8, 1) for b in test)
    labels = np.concatenate([b[1] for b in test])
    assert np.bincount(labels, minlength=10).min() >= 35  # stratified
    assert test[0][0].max() == 1.0 and test[0][0].min() == 0.0
    # Deterministic: generating again in another folder gives the same split.
    raw = tfds.as_numpy(tfds.load("digits", split="test", data_dir=data_dir))
    images = {ex["image"].tobytes() for ex in raw}
    from sklearn.datasets import load_digits

    all_images = np.round(load_digits().images * (255 / 16)).astype(np.uint8)
    assert len(images & {im[..., None].tobytes() for im in all_images}) == len(images)
    train = data.load_dataset("digits", batch_size=100, data_dir=data_dir)
    assert [len(b[0]) for b in batches(train)] == [100] * 12  # train[:90%]: 1,293 images


def test_addition(data_dir):
    recipe = data.DATASETS["addition"]
    vocabulary = np.array(["", "[UNK]", *recipe.vocabulary])
    assert data.dataset_spec("addition").vocab_size == len(vocabulary) == 13

    def decode(ids):
        return "".join(vocabulary[ids])

    test = data.load_dataset("addition", "test", batch_size=500, data_dir=data_dir)
    x, y = next(iter(test))
    assert x.shape == (500, 7) and y.shape == (500, 4) and x.dtype == y.dtype == tf.int32
    for question, answer in zip(x.numpy(), y.numpy()):
        a, b = decode(question).split("+")
        assert int(a) + int(b) == int(decode(answer))
    # The stored splits are consecutive slices of distinct generated pairs.
    pairs = offline.addition_questions(60_000)
    assert pairs == offline.addition_questions(60_000)
    assert len({tuple(sorted(p)) for p in pairs}) == 60_000  # no a+b and b+a either
    for split, start in (("validation", 50_000), ("test", 55_000)):
        raw = tfds.as_numpy(tfds.load("addition", split=split, data_dir=data_dir, batch_size=-1))
        stored = {tuple(map(int, q.decode().split("+"))) for q in raw["question"]}
        assert stored == set(pairs[start : start + 5_000])


def test_half_sums(data_dir):
    prepared = data.prepare("half_sums", data_dir=data_dir, batch_size=2000)
    vocabulary = np.array(prepared.vocabulary)
    x, y = (t.numpy() for t in next(iter(prepared.test)))
    digits = vocabulary[x].astype(int)
    assert np.array_equal(digits[:, :10].sum(1) > digits[:, 10:].sum(1), y.astype(bool))
    assert y.mean() == 0.5


def test_tiny_corpus_windows(data_dir):
    prepared = data.prepare("tiny_corpus", data_dir=data_dir, batch_size=8)
    assert prepared.vocabulary[:2] == ["", "[UNK]"] and len(prepared.vocabulary) == 98
    x, y = (t.numpy() for t in next(iter(prepared.train)))
    assert x.shape == y.shape == (8, 128) and x.dtype == np.int32
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert (x >= 2).mean() > 0.99  # ASCII text, hardly any OOV
    text = "".join(np.array(prepared.vocabulary)[x[0]])
    assert " the " in text or "\n" in text
    assert prepared.train.cardinality() > prepared.test.cardinality() > 0
    train_docs = {ex["title"] for ex in tfds.as_numpy(tfds.load("tiny_corpus", split="train", data_dir=data_dir))}
    test_docs = {ex["title"] for ex in tfds.as_numpy(tfds.load("tiny_corpus", split="test", data_dir=data_dir))}
    assert test_docs and not train_docs & test_docs


def test_vocabulary_round_trip(tmp_path):
    vocabulary = ["", "[UNK]", "\n", "\\", "\\n", "a", " ", "\r"]
    data.save_vocabulary(vocabulary, tmp_path / "vocabulary.txt")
    assert data.load_vocabulary(tmp_path / "vocabulary.txt") == vocabulary


def test_partial_reads_keep_every_example(data_dir):
    dataset = data.load_dataset("addition", "test", batch_size=64, data_dir=data_dir)
    for _ in range(3):
        next(iter(dataset))
        assert sum(len(b[0]) for b in batches(dataset)) == 5000


def test_bad_split(data_dir):
    with pytest.raises(errors.InvalidArgumentError, match="Available splits: test, train"):
        data.load_dataset("digits", "validation", data_dir=data_dir)
    with pytest.raises(errors.InvalidArgumentError, match="Received: split='train\\[:x'"):
        data.load_dataset("digits", "train[:x", data_dir=data_dir)
    with pytest.raises(errors.InvalidArgumentError, match="batch_size=0"):
        data.load_dataset("digits", batch_size=0, data_dir=data_dir)
    assert sum(1 for _ in data.load_dataset("digits", "train[:10%]", batch_size=1, data_dir=data_dir)) == 144


def test_unprepared_dataset_is_a_fast_clear_error(tmp_path, no_network):
    start = time.time()
    with pytest.raises(errors.DatasetNotAvailableError, match=re.escape(errors.prepare_command("mnist"))):
        data.load_dataset("mnist", data_dir=str(tmp_path))
    assert time.time() - start < 10


def test_check_compatible():
    class Info:  # The fields of `keras_zoo.ModelInfo` that matter here.
        name = "transformer_classifier"
        inputs = ("text",)

    data.check_compatible(Info, data.dataset_spec("imdb_reviews"))
    with pytest.raises(errors.IncompatibleError, match="reads token ids .* cifar10 provides images") as e:
        data.check_compatible(Info, data.dataset_spec("cifar10"))
    assert "half_sums, imdb_reviews" in str(e.value)
    Info.inputs = ("features", "image")
    data.check_compatible(Info, "digits")
    with pytest.raises(errors.IncompatibleError, match="language modelling"):
        data.check_compatible(Info, "tiny_corpus")


def test_first_use_of_an_offline_dataset_logs_nothing(tmp_path):
    """Preparing `digits` in a fresh folder from Python writes no tfds/absl warning
    (tfds 4.9.10 warns "Variant folder ... has no dataset_info.json" when asked
    whether a folder not made yet is prepared)."""
    import os
    import subprocess
    import sys

    code = ("import keras_zoo as kz; "
            f"kz.load_dataset('digits', batch_size=8, data_dir={str(tmp_path)!r}); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert "WARNING:absl" not in proc.stderr and "Variant folder" not in proc.stderr, proc.stderr
