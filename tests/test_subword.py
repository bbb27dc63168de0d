"""Tests of subword tokens (`keras_zoo.data.subword`): WordPiece trained offline, in tf.data."""

import json

import numpy as np
import pytest
import tensorflow as tf

import keras_zoo as kz
from keras_zoo import data
from keras_zoo.data import subword

TEXTS = ["Return the payload of the message.", "Create a new event loop and return it.",
         "The message payload is a string or a list of messages.",
         "Return True if the loop is running."] * 20


@pytest.fixture(scope="module")
def vocabulary():
    return subword.train(TEXTS, vocab_size=120, min_frequency=1)


def test_a_trained_vocabulary_is_the_zoo_format_and_rebuilds_its_tokenizer(vocabulary, tmp_path):
    assert vocabulary[:2] == ["", "[UNK]"] and len(set(vocabulary)) == len(vocabulary) <= 120
    assert subword.is_wordpiece(vocabulary) and not subword.is_wordpiece(["", "[UNK]", "a", "b"])
    ids = subword.encode(vocabulary, ["Return the payload!", b"the loop"], length=6)
    assert ids.dtype == np.int32 and ids.shape == (2, 6)
    assert subword.decode(vocabulary, ids[0]) == "return the payload [UNK]"  # lower case; '!' unseen
    assert ids[1, 2:].tolist() == [0] * 4  # padded after
    last = subword.encode(vocabulary, ["Return the payload of the message."], 3, keep="last")
    assert subword.decode(vocabulary, last[0]) == "the message."
    # The vocabulary alone rebuilds the tokenizer; tokenizer.json (Hugging Face's) holds the same.
    subword.save(vocabulary, tmp_path / "tokenizer.json")
    assert subword.load(tmp_path / "tokenizer.json") == vocabulary
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert hf.encode("Return the payload of the message.").ids == \
        subword.token_ids(vocabulary, "Return the payload of the message.").tolist()


def test_save_vocabulary_writes_the_tokenizer_beside_a_wordpiece_vocabulary(vocabulary, tmp_path):
    data.save_vocabulary(vocabulary, tmp_path / "vocabulary.txt")
    assert data.load_vocabulary(tmp_path / "vocabulary.txt") == vocabulary
    assert subword.load(tmp_path / "tokenizer.json") == vocabulary
    (tmp_path / "chars").mkdir()
    data.save_vocabulary(["", "[UNK]", "a", "\n"], tmp_path / "chars" / "vocabulary.txt")
    assert not (tmp_path / "chars" / "tokenizer.json").exists()  # characters: no tokenizer


def test_the_shipped_corpus_vocabulary_and_the_views_that_share_it():
    shipped = subword.shipped_vocabulary("stdlib_corpus")
    assert len(shipped) == 4096 and subword.is_wordpiece(shipped)
    for name in ("stdlib_corpus", "stdlib_docstrings_wordpiece",
                 "stdlib_docstrings_10pct_wordpiece"):
        entry = data.DATASETS[name]
        assert entry.split == subword.WORDPIECE and entry.vocabulary_from == "stdlib_corpus"
        assert kz.dataset_spec(name).vocab_size == 4096
        assert not data.is_character_level(name)
    # Character- and word-level views stay as they were.
    assert data.DATASETS["stdlib_docstrings_10pct"].split == "character"
    assert data.DATASETS["imdb_reviews"].split == "whitespace"


def test_the_pipeline_gives_plain_int32_ids_of_the_corpus_tokenizer():
    prepared = data.prepare("stdlib_docstrings_10pct_wordpiece", batch_size=8)
    assert prepared.vocabulary == subword.shipped_vocabulary("stdlib_corpus")
    x, y = next(iter(prepared.test))
    assert x.dtype == tf.int32 and x.shape == (8, 128) and y.dtype == tf.int32
    assert int(tf.reduce_max(x)) < 4096 and int(tf.reduce_min(x[:, 0])) >= 2
    # The same ids as the tokenizer outside tf.data: the first 128 tokens, 0-padded.
    texts = _texts("test", 8)
    np.testing.assert_array_equal(x.numpy(), subword.encode(prepared.vocabulary, texts, 128))
    to_ids = data.pipeline.text_to_ids(data.DATASETS["stdlib_docstrings_wordpiece"],
                                       prepared.vocabulary, 16)
    assert to_ids(tf.constant(["Return the message payload."] * 2)).shape == (2, 16)


def _texts(split, count):
    """The first `count` texts of a split of stdlib_docstrings, in the pipeline's order."""
    import tensorflow_datasets as tfds

    dataset = tfds.load("stdlib_docstrings", split=split, shuffle_files=False)
    return [e["text"].decode("utf-8") for e in tfds.as_numpy(dataset.take(count))]


def test_weights_entries_skip_tokenizer_files_and_name_them(tmp_path, monkeypatch):
    from keras_zoo.weights import entries

    (tmp_path / "bert_mini-corpus.tokenizer.json").write_text(json.dumps({"version": "1.0"}))
    monkeypatch.setattr(entries, "PRETRAINED_DIR", str(tmp_path))
    assert entries.list_weights("bert_mini") == []  # the tokenizer file is no entry
    entry = entries.WeightsEntry.from_dict(
        {"model": "bert_mini", "name": "corpus", "file": "bert_mini-corpus.weights.h5",
         "sha256": None, "tokenizer": "bert_mini-corpus.tokenizer.json"}, folder=str(tmp_path))
    assert entry.tokenizer_path() == str(tmp_path / "bert_mini-corpus.tokenizer.json")


def test_bert_mini_weights_ship_with_their_tokenizer_and_fine_tune_by_name(tmp_path, capsys):
    import os

    shipped = subword.shipped_vocabulary("stdlib_corpus")
    (entry,) = [e for e in kz.list_weights("bert_mini") if e.name == "stdlib_corpus"]
    assert entry.dataset == "stdlib_corpus" and list(entry.vocabulary) == shipped
    assert subword.load(entry.tokenizer_path()) == shipped
    assert os.path.getsize(entry.local_path()) <= 20_000_000
    pretrained = kz.create_model("bert_mini", weights="stdlib_corpus")
    # The classifier names bert_mini's weights: its encoder is theirs, its head new.
    classifier = kz.create_model("bert_classifier", weights="stdlib_corpus", num_classes=8)
    for name in ("embedding", "block_1", "block_2", "final_norm"):
        for mine, theirs in zip(classifier.get_layer(name).get_weights(),
                                pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    # Fine-tuning is one call; the data's ids are the weights' (checked before training).
    tuned = kz.fit("bert_classifier", "stdlib_docstrings_10pct_wordpiece", weights="stdlib_corpus",
                   epochs=1, steps_per_epoch=1, output_dir=tmp_path / "tuned", seed=0, verbose=0)
    assert "Loaded the encoder of bert_classifier from bert_mini weights 'stdlib_corpus'" in \
        capsys.readouterr().out
    assert 0 <= tuned.metrics["accuracy"] <= 1
    assert subword.load(tmp_path / "tuned" / "tokenizer.json") == shipped  # saved with the run
    with pytest.raises(kz.InvalidArgumentError, match="token ids are not those of the pretrained"):
        kz.fit("bert_classifier", "stdlib_docstrings_10pct", weights="stdlib_corpus", epochs=1,
               steps_per_epoch=1, verbose=0)
