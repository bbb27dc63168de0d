"""Tests of keras_zoo.data.catalogue: any tfds catalogue dataset by name.

Entries are derived from the builders' info only (offline, nothing is ever
downloaded); `tfds.testing.mock_data` stands in for the examples, and
stand-in builders (`builder=`) for splits a builder would know once prepared.
"""

import time
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_zoo import errors
from keras_zoo.data import DATASETS, DatasetEntry, catalogue

ASSUMED = "Splits assumed train and test"


def entry_under_mock(name, **kwargs):
    with tfds.testing.mock_data(num_examples=4):
        return catalogue.catalogue_entry(name, **kwargs)


def fake_builder(features, supervised_keys=None, splits=None, description="A fake dataset."):
    """A stand-in for an opened tfds builder: its info only."""
    info = types.SimpleNamespace(
        features=tfds.features.FeaturesDict(features), supervised_keys=supervised_keys,
        splits={name: types.SimpleNamespace(num_examples=n) for name, n in (splits or {}).items()},
        description=description)
    return types.SimpleNamespace(info=info)


IMAGE_FEATURES = {"image": tfds.features.Image(shape=(8, 8, 3)),
                  "label": tfds.features.ClassLabel(num_classes=3)}


@pytest.mark.parametrize("name, shape, classes", [
    ("svhn_cropped", (32, 32, 3), 10),
    ("tf_flowers", (None, None, 3), 5),  # variable-size images
    ("beans", (500, 500, 3), 3),
    ("eurosat/rgb", (64, 64, 3), 10),  # a config
    ("mnist:3.0.1", (28, 28, 1), 10),  # a version
    ("eurosat/rgb:2.0.0", (64, 64, 3), 10),  # a config and a version
])
def test_image_entries(name, shape, classes):
    entry = entry_under_mock(name)
    assert isinstance(entry, DatasetEntry)
    assert (entry.name, entry.builder, entry.builder_name) == (name, name, name)
    assert (entry.kind, entry.source, entry.x_key, entry.y_key) == (
        "image", "tfds catalogue", "image", "label")
    # Not prepared (and mock_data knows no splits): train + test assumed, and said.
    assert (entry.train_split, entry.validation_split, entry.test_split) == (
        "train[:90%]", "train[90%:]", "test")
    assert ASSUMED in entry.description
    assert entry.description.endswith("validation is the last 10% of train; test is test.")
    assert "\n" not in entry.description
    info = tfds.builder(entry.builder_name).info  # the entry's builder string opens it
    assert tuple(info.features[entry.x_key].shape) == shape
    assert info.features[entry.y_key].num_classes == classes


def test_description_is_the_first_sentence_then_the_carve():
    entry = entry_under_mock("svhn_cropped")
    assert entry.description.startswith(
        "The Street View House Numbers (SVHN) Dataset is an image digit recognition dataset "
        "of over 600,000 digit images coming from real world data. Input 'image' "
        "(Image 32x32x3), target 'label' (ClassLabel 10 classes). Splits assumed")
    assert "Images are cropped" not in entry.description  # the second sentence is not


def test_text_entry_from_supervised_keys():
    entry = entry_under_mock("ag_news_subset")  # features title, description, label
    assert (entry.kind, entry.x_key, entry.y_key) == ("text", "description", "label")
    assert (entry.split, entry.standardize, entry.max_tokens, entry.sequence_length,
            entry.keep_tokens, entry.vocabulary) == (
        "whitespace", "lower_and_strip_punctuation", 20_000, 200, "first", None)
    assert "20000-word vocabulary adapted on the training split" in entry.description
    assert "first 200 tokens" in entry.description


def test_text_without_supervised_keys_skips_identifiers():
    entry = entry_under_mock("glue/cola")  # sentence, label, idx: no supervised keys
    assert (entry.kind, entry.x_key, entry.y_key) == ("text", "sentence", "label")
    builder = fake_builder({"id": tfds.features.Text(), "file_name": tfds.features.Text(),
                            "review": tfds.features.Text(),
                            "stars": tfds.features.ClassLabel(num_classes=5)})
    entry = catalogue.catalogue_entry("fake", builder=builder)
    assert (entry.kind, entry.x_key, entry.y_key) == ("text", "review", "stars")


def test_image_preferred_to_a_text_feature_without_supervised_keys():
    entry = entry_under_mock("dtd")  # file_name (Text), image, label
    assert (entry.kind, entry.x_key, entry.y_key) == ("image", "image", "label")


def one_line_refusal(name, match, **kwargs):
    with pytest.raises(errors.InvalidArgumentError, match=match) as caught:
        catalogue.catalogue_entry(name, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert "The zoo reads an Image or Text input and a ClassLabel target" in message
    return message


@pytest.mark.parametrize("name, found", [
    ("coco/2017", "no ClassLabel feature. .* objects \\(Sequence\\)"),  # detection
    ("voc", "no ClassLabel feature. .* labels \\(Sequence\\)"),  # detection, multi-label
    ("librispeech", ("supervised keys pair speech \\(Audio\\) with text \\(Text\\); "
                     "input 'speech' is Audio")),  # speech recognition
    ("ucf101", "no Image or Text input.*video \\(Video\\)"),  # video
    ("wmt14_translate/de-en", "target 'en' is Text, not a ClassLabel"),  # translation
    ("scene_parse150", "target 'annotation' is Image \\?x\\?x3, not a ClassLabel"),
    ("eurosat/all", "input 'sentinel2' is Tensor float32 \\(64, 64, 13\\)"),  # 13 bands
    ("snli", "several text features \\(premise, hypothesis\\)"),  # text pairs
])
def test_unmappable_builders_are_refused_in_one_line(name, found):
    message = one_line_refusal(name, found)
    assert message.startswith(f"Dataset {name!r} cannot be read by the zoo: ")


def test_unmappable_images_and_targets():
    def refused(features, match, **kwargs):
        one_line_refusal("fake", match, builder=fake_builder(features, **kwargs))

    label = tfds.features.ClassLabel(num_classes=2)
    refused({"image": tfds.features.Image(shape=(8, 8, 4)), "label": label},
            "image 'image' has 4 channels, not 1 or 3")
    refused({"image": tfds.features.Image(shape=(8, 8, 1), dtype=np.uint16), "label": label},
            "image 'image' holds uint16, not uint8 pixels")
    refused({"frames": tfds.features.Video(shape=(None, 8, 8, 3)), "label": label},
            "input 'frames' is Video", supervised_keys=("frames", "label"))
    refused({"image": tfds.features.Image(shape=(8, 8, 3)),
             "labels": tfds.features.Sequence(label)},
            "target 'labels' is Sequence, not a ClassLabel", supervised_keys=("image", "labels"))
    refused({"image": tfds.features.Image(shape=(8, 8, 3)), "price": tfds.features.Tensor(
        shape=(), dtype=np.float32)}, "target 'price' is Tensor float32, not a ClassLabel",
        supervised_keys=("image", "price"))
    refused(IMAGE_FEATURES, "supervised keys are \\(\\{'image': 'image'\\}, 'label'\\)",
            supervised_keys=({"image": "image"}, "label"))


def test_supervised_keys_with_sample_weights():
    features = {**IMAGE_FEATURES, "weight": tfds.features.Tensor(shape=(), dtype=np.float32)}
    entry = catalogue.catalogue_entry(
        "fake", builder=fake_builder(features, supervised_keys=("image", "label", "weight")))
    assert (entry.x_key, entry.y_key) == ("image", "label")


def carve(splits):
    entry = catalogue.catalogue_entry("fake", builder=fake_builder(IMAGE_FEATURES, splits=splits))
    return (entry.train_split, entry.validation_split, entry.test_split), entry.description


@pytest.mark.parametrize("splits, expected, words", [
    ({"train": 90, "validation": 10, "test": 10}, ("train", "validation", "test"),
     "Validation is validation; test is test."),
    ({"train": 90, "test": 10, "unsupervised": 50}, ("train[:90%]", "train[90%:]", "test"),
     "Validation is the last 10% of train; test is test."),
    ({"train": 90, "validation": 10}, ("train[:90%]", "train[90%:]", "validation"),
     ("Validation is the last 10% of train; test is its validation split (it has no test "
      "split).")),
    ({"train": 90}, ("train[:80%]", "train[80%:90%]", "train[90%:]"),
     ("Train is the first 80% of train, validation the next 10%; test is the last 10% of "
      "train.")),
    ({"full": 100, "small": 10, "test": 10}, ("full[:90%]", "full[90%:]", "test"),
     ("It has no train split, so train is its largest split, 'full': validation is the last "
      "10% of full; test is test.")),
    ({"b": 10, "a": 10}, ("a[:80%]", "a[80%:90%]", "a[90%:]"),
     ("It has no train split, so train is its largest split, 'a': train is the first 80% of a, "
      "validation the next 10%; test is the last 10% of a.")),
    ({"other": 10, "validation": 10, "test": 10}, ("other", "validation", "test"),
     ("It has no train split, so train is its largest split, 'other': validation is "
      "validation; test is test.")),
    ({"validation": 10, "test": 10}, ("validation[:90%]", "validation[90%:]", "test"),
     ("It has no train split, so train is its validation split: validation is the last 10% "
      "of validation; test is test.")),
    ({"validation": 10}, ("validation[:80%]", "validation[80%:90%]", "validation[90%:]"),
     ("It has only a validation split, carved: train is the first 80% of validation, "
      "validation the next 10%; test is the last 10% of validation.")),
])
def test_known_splits_are_carved_without_touching_test(splits, expected, words):
    chosen, description = carve(splits)
    assert chosen == expected
    assert description.endswith(" " + words)
    assert ASSUMED not in description
    train, validation, _ = chosen
    assert not train.startswith("test") and not validation.startswith("test")


def test_only_a_test_split_is_refused():
    with pytest.raises(errors.InvalidArgumentError, match="only the split\\(s\\) test"):
        carve({"test": 10})


def test_a_prepared_builder_gives_its_splits(tmp_path):
    builder = tfds.builder("digits", data_dir=str(tmp_path))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    entry = catalogue.catalogue_entry("digits", data_dir=str(tmp_path))
    assert (entry.train_split, entry.validation_split, entry.test_split) == (
        "train[:90%]", "train[90%:]", "test")
    assert ASSUMED not in entry.description
    assert entry.description.endswith("Validation is the last 10% of train; test is test.")
    assert catalogue.catalogue_entry("digits", builder=builder) == entry


def test_unknown_names_suggest_the_closest():
    with pytest.raises(errors.UnknownNameError, match="Did you mean: svhn_cropped"):
        catalogue.catalogue_entry("svhn_croped")
    with pytest.raises(errors.UnknownNameError, match="Did you mean: stdlib_docstrings"):
        catalogue.catalogue_entry("stdlib_docstring")  # a zoo name is among the known
    with pytest.raises(errors.UnknownNameError,
                       match="Did you mean: eurosat/rgb.*Accepted: eurosat/all, eurosat/rgb"):
        catalogue.catalogue_entry("eurosat/rbg")
    with pytest.raises(errors.UnknownNameError):
        catalogue.catalogue_entry("")


def test_bad_versions_namespaces_and_syntax():
    with pytest.raises(errors.InvalidArgumentError,
                       match="no version '9.9.9'; its versions: 3.0.1"):
        catalogue.catalogue_entry("mnist:9.9.9")
    with pytest.raises(errors.InvalidArgumentError, match="community namespace 'huggingface'"):
        catalogue.catalogue_entry("huggingface:mnist")
    with pytest.raises(errors.InvalidArgumentError, match="name/config:version"):
        catalogue.catalogue_entry("mnist/")


def test_builder_code_that_fails_offline_is_one_line(monkeypatch):
    from keras_zoo.data import folders

    def fails(error):
        def open_builder(name, data_dir):
            raise error
        return open_builder

    monkeypatch.setattr(folders, "open_builder", fails(ModuleNotFoundError(
        "No module named 'pandas'", name="pandas")))
    with pytest.raises(errors.InvalidArgumentError, match="needs the Python package 'pandas'"):
        catalogue.catalogue_entry("dices")
    monkeypatch.setattr(folders, "open_builder", fails(RuntimeError(
        'FailedPreconditionError: Failed to construct dataset "x", builder_kwargs "{}": Error '
        "executing an HTTP request: Could not resolve host: www.googleapis.com")))
    with pytest.raises(errors.DatasetNotAvailableError,
                       match="reads its metadata from the network.*\\(FailedPreconditionError: "
                             "Error executing"):
        catalogue.catalogue_entry("aloha_mobile")


def test_catalogue_names_are_listed_once_and_fast():
    catalogue.catalogue_names.cache_clear()
    start = time.perf_counter()
    names = catalogue.catalogue_names()
    first = time.perf_counter() - start
    assert {"svhn_cropped", "tf_flowers", "ag_news_subset", "mnist"} <= set(names)
    assert first < 5  # 0.5 s here; the community listing (left out) took 10 s offline
    start = time.perf_counter()
    assert catalogue.catalogue_names() is names
    assert time.perf_counter() - start < 0.01


def test_describe_catalogue():
    text = catalogue.describe_catalogue()
    assert text == catalogue.CATALOGUE_DESCRIPTION and "\n" not in text
    for words in ("TensorFlow Datasets catalogue", "name/config",
                  "Image", "Text", "ClassLabel", "svhn_cropped"):
        assert words in text
    assert not set(DATASETS) & {"svhn_cropped", "tf_flowers", "beans", "ag_news_subset"}


# End to end: `fit` on catalogue names (the wiring in keras_zoo.data.pipeline).


def test_fit_on_a_catalogue_image_dataset_under_mock():
    """On TensorFlow; tests/test_backends.py runs the same on JAX."""
    import keras_zoo as kz

    with tfds.testing.mock_data(num_examples=10):
        spec = kz.dataset_spec("svhn_cropped")
        result = kz.fit("simple_cnn", "svhn_cropped", epochs=1, steps_per_epoch=2,
                        batch_size=4, verbose=0)
    assert (spec.kind, spec.input_shape, spec.num_classes, spec.source) == (
        "image", (32, 32, 3), 10, "tfds catalogue")
    assert tuple(result.model.input_shape) == (None, 32, 32, 3)
    assert result.model.output_shape == (None, 10)
    assert sorted(result.metrics) == ["accuracy", "loss"]
    assert all(np.isfinite(v) for v in result.metrics.values())


def test_fit_on_a_catalogue_text_dataset_under_mock():
    import keras_zoo as kz

    with tfds.testing.mock_data(num_examples=10):
        result = kz.fit("transformer_classifier", "ag_news_subset", epochs=1,
                        steps_per_epoch=2, batch_size=4, verbose=0,
                        model_args={"embed_dim": 8, "num_heads": 1, "ff_dim": 8})
    assert result.model.output_shape == (None, 4)
    assert sorted(result.metrics) == ["accuracy", "loss"]


def test_fit_on_variable_size_images_under_mock():
    import keras_zoo as kz

    with tfds.testing.mock_data(num_examples=10):
        result = kz.fit("simple_cnn", "tf_flowers", epochs=1, steps_per_epoch=1, batch_size=4,
                        verbose=0)
    height, width, channels = result.model.input_shape[1:]
    assert height and width and channels == 3  # resized to one size for the model
    assert result.model.output_shape == (None, 5)


def test_fit_refuses_unmappable_and_unknown_catalogue_names():
    import keras_zoo as kz

    with pytest.raises(errors.InvalidArgumentError, match="'coco/2017' cannot be read"):
        kz.fit("simple_cnn", "coco/2017", epochs=1, verbose=0)
    with pytest.raises(errors.UnknownNameError, match="Did you mean: svhn_cropped"):
        kz.fit("simple_cnn", "svhn_croped", epochs=1, verbose=0)


def test_fit_on_a_text_config_under_mock():
    import keras_zoo as kz

    with tfds.testing.mock_data(num_examples=10):
        result = kz.fit("transformer_classifier", "glue/cola", epochs=1, steps_per_epoch=1,
                        batch_size=4, verbose=0,
                        model_args={"embed_dim": 8, "num_heads": 1, "ff_dim": 8})
    assert result.model.output_shape == (None, 2)
