"""Tests of `stdlib_corpus`'s documents: the prose shipped with Python, no held-out text in it."""

import pytest

from keras_zoo.data import offline

# The held-out docstrings live in these packages; the topics hold tiny_corpus's.
PACKAGES = ("email", "json", "logging")


@pytest.fixture(scope="module")
def held_out():
    return offline.held_out_texts()


@pytest.fixture(scope="module")
def corpus(held_out):
    return offline.stdlib_corpus(held_out, packages=PACKAGES, prose=False)


def test_held_out_texts_are_every_validation_and_test_text(held_out):
    import tensorflow_datasets as tfds

    texts = set(held_out)
    test = [e["text"].decode() for e in tfds.as_numpy(tfds.load("stdlib_docstrings",
                                                                split="test"))]
    topics = [e["text"].decode() for e in tfds.as_numpy(tfds.load("tiny_corpus",
                                                                  split="test+train[90%:]"))]
    validation = [e["text"].decode() for e in tfds.as_numpy(tfds.load(
        "stdlib_docstrings", split="train[8%:10%]+train[80%:]"))]
    assert len(test) > 250 and len(topics) > 10 and len(validation) > 200
    assert set(test) | set(topics) | set(validation) == texts


def test_no_validation_or_test_window_appears_in_the_corpus(held_out, corpus):
    names = [name for name, _ in corpus]
    assert {n.split("/")[0] for n in names if not n.startswith("topic:")} == set(PACKAGES)
    assert sum(n.startswith("topic:") for n in names) > 50
    text = "\n\n".join(t for _, t in corpus)
    assert len(text) > 400_000
    window = offline.HELD_OUT_WINDOW
    checked = 0
    for held in held_out:  # windows every 32 characters (the builder checks every one)
        for start in range(0, max(1, len(held) - window + 1), 32):
            assert held[start:start + window] not in text, held[:80]
            checked += 1
    assert checked > 5_000


def test_the_filter_removes_a_held_out_docstring_and_keeps_the_rest():
    corpus = dict(offline.stdlib_corpus((), packages=("json",), topics=False, prose=False))
    source = corpus["json/decoder.py"]
    docstring = next(t for t in source.split("\n\n") if len(t) > 200)
    window = docstring[40:40 + offline.HELD_OUT_WINDOW + 10]
    filtered = dict(offline.stdlib_corpus([window], packages=("json",), topics=False,
                                          prose=False))
    assert docstring in source and docstring not in filtered["json/decoder.py"]
    assert len(filtered["json/decoder.py"]) > len(source) / 2  # only that piece left out


def test_documents_split_by_a_hash_of_their_names():
    splits = [offline.corpus_split(f"module_{i}.py") for i in range(2_000)]
    assert 0.02 < splits.count("test") / 2_000 < 0.04
    assert 0.02 < splits.count("validation") / 2_000 < 0.04
    assert offline.corpus_split("email/message.py") == offline.corpus_split("email/message.py")


def test_gpt_mini_weights_pretrained_on_the_corpus_characters_fine_tune_tiny_corpus(
        tmp_path, capsys):
    import json
    import os

    import keras_zoo as kz
    from keras_zoo import data

    view = data.DATASETS["stdlib_corpus_chars"]
    assert view.builder_name == "stdlib_corpus"
    assert view.vocabulary == data.DATASETS["tiny_corpus"].vocabulary  # the same ids
    entries = {e.name: e for e in kz.list_weights("gpt_mini")}
    entry = entries["stdlib_corpus_chars"]
    assert entry.dataset == "stdlib_corpus_chars"
    assert entry.vocabulary == entries["tiny_corpus"].vocabulary  # [UNK] and the characters
    assert os.path.getsize(entry.local_path()) <= 20_000_000
    # One fine-tuning step from the shipped weights: tiny_corpus's test text is already
    # modelled far below a fresh model's 6.6 bits per character (log2 of 98 ids) and
    # below the character 5-gram's 1.87, so the weights were loaded and are trained.
    tuned = kz.fit("gpt_mini", "tiny_corpus", weights="stdlib_corpus_chars", epochs=1,
                   steps_per_epoch=1, output_dir=tmp_path / "tuned", seed=0, verbose=0)
    assert tuned.metrics["bits_per_char"] < 1.87
    assert ("Loaded gpt_mini weights 'stdlib_corpus_chars' into gpt_mini: all of its weights."
            in capsys.readouterr().out)
    # with the fine-tuning recipe registered for these weights, not the from-scratch one
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    fine_tune = kz.recipe("gpt_mini", "tiny_corpus", weights="stdlib_corpus_chars")
    assert config["recipe"]["learning_rate"] == fine_tune.learning_rate == 5e-4
    assert kz.recipe("gpt_mini", "tiny_corpus").learning_rate == 5e-3
