"""Tests of `stdlib_docstrings` (offline builder and views) and pretraining -> fine-tuning by name."""

import collections
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import keras_zoo as kz
from keras_zoo import data
from keras_zoo.data import masking, offline

TINY = dict(embed_dim=8, num_heads=2, ff_dim=16, num_layers=1)
VIEWS = ("stdlib_docstrings", "stdlib_docstrings_10pct", "stdlib_docstrings_text")


@pytest.fixture(scope="module")
def examples():
    return offline.stdlib_docstrings()


def split_examples(split):
    data.load_dataset("stdlib_docstrings", "test", batch_size=8)  # prepares the builder
    return [{k: v.decode("utf-8") if isinstance(v, bytes) else int(v) for k, v in e.items()}
            for e in tfds.as_numpy(tfds.load("stdlib_docstrings", split=split))]


def test_docstrings_are_read_from_python_sources_labelled_by_package(examples):
    counts = collections.Counter(package for _, package, _ in examples)
    assert sorted(counts) == sorted(offline.STDLIB_PACKAGES) and len(counts) == 8
    assert 1_300 <= len(examples) <= 1_760
    assert min(counts.values()) >= 100 and max(counts.values()) == 220  # capped, near balanced
    for name, package, text in examples:
        assert name.split(".")[0] == package and len(text) >= 40
    names = [name for name, _, _ in examples]
    texts = [text for _, _, text in examples]
    assert len(set(names)) == len(names) and len(set(texts)) == len(texts)
    assert "email.message.Message.get_payload" in names
    # Fewer packages, a longer minimum: a subset of the same docstrings, chosen the same way.
    few = offline.stdlib_docstrings(packages=("json", "email"), min_length=100, per_package=50)
    assert {p for _, p, _ in few} == {"json", "email"} and all(len(t) >= 100 for *_, t in few)
    assert len([e for e in few if e[1] == "email"]) == 50


def test_test_split_is_a_hash_of_the_name_disjoint_and_stable(examples):
    train, test = split_examples("train"), split_examples("test")
    train_names, test_names = {e["name"] for e in train}, {e["name"] for e in test}
    assert not train_names & test_names
    assert train_names | test_names == {name for name, _, _ in examples}
    assert test_names == {name for name, _, _ in examples if offline.is_test_name(name)}
    assert 0.15 < len(test) / len(examples) < 0.25
    labels = tfds.builder("stdlib_docstrings").info.features["label"].names
    assert labels == list(offline.STDLIB_PACKAGES)
    by_name = {name: (package, text) for name, package, text in examples}
    assert all(by_name[e["name"]] == (labels[e["label"]], e["text"]) for e in test)
    # A name's split depends on the name alone: the same with other packages beside it.
    alone = offline.stdlib_docstrings(packages=("email",))
    assert {n for n, _, _ in alone if offline.is_test_name(n)} == \
        {n for n in test_names if n.startswith("email.")}


def test_views_share_one_builder_and_the_corpus_characters():
    specs = {name: kz.dataset_spec(name) for name in VIEWS}
    assert all(data.DATASETS[name].builder_name == "stdlib_docstrings" for name in VIEWS)
    assert specs["stdlib_docstrings"].num_classes == specs["stdlib_docstrings_10pct"].num_classes == 8
    assert {s.vocab_size for s in specs.values()} == {kz.dataset_spec("tiny_corpus").vocab_size}
    assert {s.sequence_length for s in specs.values()} == {128}
    assert specs["stdlib_docstrings_text"].kind == "lm"
    for name in VIEWS:  # validation is carved from train
        assert specs[name].validation_split.startswith("train[")
    labelled = data.prepare("stdlib_docstrings_10pct", batch_size=1)
    count = tfds.builder("stdlib_docstrings").info.splits["train"].num_examples
    assert sum(1 for _ in labelled.train) == len(split_examples("train[:8%]")) \
        == pytest.approx(0.08 * count, abs=2)
    assert sum(1 for _ in labelled.validation) == len(split_examples("train[8%:10%]"))
    assert sum(1 for _ in labelled.test) == len(split_examples("test"))
    assert "stdlib_docstrings_10pct" in data.pipeline.offline_datasets()


def test_text_view_reads_the_training_docstrings_only():
    recipe = data.DATASETS["stdlib_docstrings_text"]
    assert all(s.startswith("train[") for s in
               (recipe.train_split, recipe.validation_split, recipe.test_split))
    prepared = data.prepare("stdlib_docstrings_text", batch_size=4)
    characters = np.array(["", "\x00", *recipe.vocabulary])  # id 1: out of vocabulary

    def as_ids_see_them(text):  # a tab or a non-ASCII character is out of vocabulary
        return "".join(c if c in recipe.vocabulary else "\x00" for c in text)
    for split, windows in ((recipe.validation_split, prepared.validation),
                           (recipe.test_split, prepared.test)):
        # Back-to-back windows of 129 (x and, shifted by one, y): these docstrings, in order.
        stream = "".join("".join(characters[np.r_[row, target[-1:]]]) for x, y in windows
                         for row, target in zip(x.numpy(), y.numpy()))
        text = as_ids_see_them("".join(e["text"] for e in split_examples(split)))
        assert len(stream) > 10_000 and text.startswith(stream)
    # Training windows (overlapping, shuffled): each is a piece of the training docstrings.
    text = as_ids_see_them("".join(e["text"] for e in split_examples(recipe.train_split)))
    windows = ["".join(characters[row]) for x, _ in prepared.train.take(20) for row in x.numpy()]
    assert len(windows) == 80 and all(window in text for window in windows)


def test_mask_rate_is_a_training_recipe_field():
    assert kz.recipe("bert_mini", "tiny_corpus").mask_rate == masking.MASK_RATE == 0.15
    assert kz.recipe("bert_mini", "stdlib_docstrings_text").mask_rate == 0.4
    with pytest.raises(kz.InvalidArgumentError, match=r"mask_rate.*\(0, 1\).*Received"):
        kz.recipe("bert_mini", "tiny_corpus", mask_rate=1.5)
    ids = np.random.default_rng(0).integers(2, 98, size=(64, 128)).astype("int32")
    _, _, weight = masking.mask_tokens(ids, 98, tf.constant([1, 2]), rate=0.4)
    assert abs(float(tf.reduce_mean(weight)) - 0.4) < 0.01


@pytest.mark.slow
def test_fit_fine_tunes_a_classifier_from_a_bert_mini_run(tmp_path, capsys):
    run = tmp_path / "pretrain"
    pretraining = kz.fit("bert_mini", "stdlib_docstrings_text", epochs=1, steps_per_epoch=2,
                         model_args=TINY, recipe={"batch_size": 64, "mask_rate": 0.3},
                         output_dir=run, seed=0, verbose=0)
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["mask_rate"] == 0.3
    # evaluate masks the run's way (30%; masks are drawn per batch, so the same batch size),
    # so it repeats fit's test score; a bare model gets BERT's 15%, another score.
    assert kz.evaluate(run, "stdlib_docstrings_text", batch_size=64) == pytest.approx(
        pretraining.metrics, rel=1e-5)
    assert kz.evaluate(pretraining.model, "stdlib_docstrings_text", batch_size=64)["loss"] != \
        pytest.approx(pretraining.metrics["loss"], rel=1e-5)
    capsys.readouterr()
    tuned = kz.fit("bert_classifier", "stdlib_docstrings_10pct", epochs=1, steps_per_epoch=1,
                   weights=run, output_dir=tmp_path / "tuned", seed=0, verbose=0)
    out = capsys.readouterr().out
    assert f"Loaded the encoder of bert_classifier from run {run} (bert_mini" in out
    assert "embedding, block_1, final_norm; new untrained predictions" in out
    assert tuned.model.get_layer("embedding").get_weights()[0].shape == (99, 8)  # as pretrained
    assert tuned.model.output.shape[-1] == 8 and 0 <= tuned.metrics["accuracy"] <= 1
    transfer = json.loads((tmp_path / "tuned" / "config.json").read_text())["transfer"]
    assert transfer["weights"] == str(run) and transfer["weights_sha256"]
    # create_model takes the run too: the encoder is the pretrained one, the head new.
    pretrained = kz.load_model(run)
    model = kz.create_model("bert_classifier", weights=str(run), num_classes=8)
    for name in ("embedding", "block_1", "final_norm"):
        for mine, theirs in zip(model.get_layer(name).get_weights(),
                                pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    # Other token ids than the pretraining's are refused before training.
    with pytest.raises(kz.InvalidArgumentError, match="token ids are not those of the pretrained"):
        kz.fit("bert_classifier", "half_sums", epochs=1, steps_per_epoch=1, weights=run,
               verbose=0)
    with pytest.raises(kz.WeightsError, match="not 'lstm_classifier'"):
        kz.fit("lstm_classifier", "stdlib_docstrings_10pct", weights=run, verbose=0)
