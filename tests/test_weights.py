"""Pretrained weights: entries, publish, the cache, headless backbones, fine-tuning, LoRA."""

import json
import os
import pathlib
import time

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo import weights
from keras_zoo.cli import commands as cli
from keras_zoo.weights import entries
from tests.helpers import sample_batch, tiny_model

CNN_ARGS = dict(filters=(4, 8))


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A finished 1-epoch simple_cnn run on digits, published into its own folder."""
    root = tmp_path_factory.mktemp("weights")
    run_dir = str(root / "run")
    kz.fit("simple_cnn", "digits", epochs=1, steps_per_epoch=2, seed=0, output_dir=run_dir,
           model_args=CNN_ARGS, verbose=0, precision="float32")  # exact comparisons
    entry = kz.publish(run_dir, str(root / "published"), name="digits-test")
    return run_dir, entry


@pytest.fixture
def registered(cnn_run):
    run_dir, entry = cnn_run
    kz.register_weights(os.path.join(entry.folder, f"{entry.model}-{entry.name}.json"))
    yield entry
    entries._REGISTERED.pop((entry.model, entry.name), None)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KERAS_ZOO_CACHE", str(folder))
    return folder


def digits_batch(n=8):
    return np.random.default_rng(0).random((n, 8, 8, 1)).astype("float32")


def predict(model, x):
    return np.asarray(model(x, training=False))


def test_publish_writes_the_weights_and_a_model_card(cnn_run):
    run_dir, entry = cnn_run
    path = os.path.join(entry.folder, entry.file)
    assert entry.file == "simple_cnn-digits-test.weights.h5"
    assert weights.sha256_of(path) == entry.sha256
    card = json.loads(pathlib.Path(entry.folder, "simple_cnn-digits-test.json").read_text())
    assert card["sha256"] == entry.sha256 and card["dataset"] == "digits"
    assert card["metrics"] == json.loads(pathlib.Path(run_dir, "metrics.json").read_text())
    assert {"input_shape": [8, 8, 1], "num_classes": 10, "filters": [4, 8]}.items() <= card["model_args"].items()
    assert card["recipe"]["epochs"] == 1 and card["recipe"]["seed"] == 0
    assert card["versions"]["keras"] == keras.__version__
    assert not [f for f in os.listdir(entry.folder) if f.startswith(".tmp-")]


def test_weights_by_name_run_folder_keras_file_and_weights_file_give_the_run_model(
        cnn_run, registered):
    run_dir, entry = cnn_run
    x = digits_batch()
    expected = predict(kz.load_model(run_dir), x)
    for source, extra in [("digits-test", {}), (run_dir, {}),
                          (os.path.join(run_dir, "model.keras"), {}),
                          (os.path.join(entry.folder, entry.file),
                           dict(input_shape=(8, 8, 1), padding="same", **CNN_ARGS))]:
        model = kz.create_model("simple_cnn", weights=source, **extra)
        np.testing.assert_allclose(predict(model, x), expected, atol=1e-6, err_msg=source)
    assert "digits-test" in [e.name for e in kz.list_weights("simple_cnn")]  # beside the shipped


def test_evaluate_a_model_built_from_registered_weights(cnn_run, registered):
    run_dir, _ = cnn_run
    saved = json.loads(pathlib.Path(run_dir, "metrics.json").read_text())
    metrics = kz.evaluate(kz.create_model("simple_cnn", weights="digits-test"), "digits")
    assert metrics["accuracy"] == pytest.approx(saved["accuracy"], abs=1e-6)


def test_url_is_fetched_into_the_cache_checked_and_used_offline_afterwards(
        cnn_run, cache, tmp_path):
    _, entry = cnn_run
    hosted = tmp_path / "host" / entry.file
    hosted.parent.mkdir()
    hosted.write_bytes(pathlib.Path(entry.folder, entry.file).read_bytes())
    url = f"{hosted.as_uri()}#sha256={entry.sha256}"
    args = dict(input_shape=(8, 8, 1), padding="same", **CNN_ARGS)
    first = kz.create_model("simple_cnn", weights=url, **args)
    assert os.listdir(cache) == [entry.file]  # no temporary folder left
    hosted.unlink()  # the host is gone: the cached, checked copy is used
    second = kz.create_model("simple_cnn", weights=url, **args)
    np.testing.assert_array_equal(predict(first, digits_batch()), predict(second, digits_batch()))


def test_hash_mismatch_on_download_keeps_nothing_in_the_cache(cnn_run, cache, tmp_path):
    _, entry = cnn_run
    hosted = tmp_path / entry.file
    hosted.write_bytes(pathlib.Path(entry.folder, entry.file).read_bytes()[:-100])  # truncated
    with pytest.raises(kz.WeightsError, match=r"sha256 .* expected .*truncated.*Nothing was kept"):
        weights.fetch(hosted.as_uri(), entry.file, entry.sha256)
    assert os.listdir(cache) == []


def test_unreachable_url_says_offline_and_what_to_do_quickly(cache):
    start = time.time()
    with pytest.raises(kz.WeightsError, match=r"Could not download x.weights.h5 from "
                       r"http://127.0.0.1:9/x.weights.h5 .*Offline\?.*cache folder"):
        kz.create_model("simple_cnn", weights="http://127.0.0.1:9/x.weights.h5")
    assert time.time() - start < 30
    assert not os.path.exists(cache) or os.listdir(cache) == []


def test_corrupt_cached_copy_is_fetched_again(cnn_run, cache, tmp_path):
    _, entry = cnn_run
    cache.mkdir()
    (cache / entry.file).write_bytes(b"not weights")
    hosted = tmp_path / entry.file
    hosted.write_bytes(pathlib.Path(entry.folder, entry.file).read_bytes())
    path = weights.fetch(hosted.as_uri(), entry.file, entry.sha256)
    assert weights.sha256_of(path) == entry.sha256


def test_truncated_shipped_file_is_refused_by_its_hash(cnn_run, tmp_path):
    _, entry = cnn_run
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / entry.file).write_bytes(pathlib.Path(entry.folder, entry.file).read_bytes()[:500])
    bad = weights.WeightsEntry(**{**entry.to_dict(), "vocabulary": None}, folder=str(folder))
    kz.register_weights(bad)
    try:
        with pytest.raises(kz.WeightsError, match=r"corrupt or truncated: its sha256 is"):
            kz.create_model("simple_cnn", weights=entry.name)
    finally:
        entries._REGISTERED.pop((entry.model, entry.name))


def test_truncated_weights_file_without_hash_is_a_clear_error(cnn_run, tmp_path):
    _, entry = cnn_run
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(pathlib.Path(entry.folder, entry.file).read_bytes()[:500])
    with pytest.raises(kz.WeightsError, match=r"Cannot read the weights file .*bad.weights.h5"):
        kz.create_model("simple_cnn", weights=str(bad), input_shape=(8, 8, 1), padding="same",
                        **CNN_ARGS)


def test_weights_of_another_architecture_are_refused(cnn_run, tmp_path):
    run_dir, entry = cnn_run
    with pytest.raises(kz.WeightsError, match=r"holds weights of model 'simple_cnn', not 'mlp'"):
        kz.create_model("mlp", weights=run_dir)
    with pytest.raises(kz.WeightsError, match=r"model.keras holds weights of model 'simple_cnn'"):
        kz.create_model("mlp", weights=os.path.join(run_dir, "model.keras"))
    loose = tmp_path / "loose.keras"  # outside a run folder: the file's own model name decides
    loose.write_bytes(pathlib.Path(run_dir, "model.keras").read_bytes())
    with pytest.raises(kz.WeightsError, match=r"holds a model 'simple_cnn', not 'mlp'"):
        kz.create_model("mlp", weights=str(loose), input_shape=(8, 8, 1))
    with pytest.raises(kz.WeightsError, match=r"does not fit mlp .*another architecture"):
        kz.create_model("mlp", weights=os.path.join(entry.folder, entry.file),
                        input_shape=(8, 8, 1))
    with pytest.raises(kz.WeightsError, match=r"layer .block2_conv. has weights"):
        kz.create_model("simple_cnn", weights=run_dir, filters=(4, 4))  # backbone differs


def test_unknown_weights_name_and_missing_file(registered):
    with pytest.raises(kz.UnknownNameError, match=r"Did you mean: digits-test"):
        kz.create_model("simple_cnn", weights="digits-tset")
    with pytest.raises(kz.WeightsError, match="No such weights file"):
        kz.create_model("simple_cnn", weights="nowhere/x.weights.h5")


def test_new_head_loads_the_backbone_and_says_so(cnn_run, capsys):
    run_dir, _ = cnn_run
    source = kz.load_model(run_dir)
    model = kz.create_model("simple_cnn", weights=run_dir, num_classes=3)
    out = capsys.readouterr().out
    assert "Loaded the backbone of simple_cnn" in out and "predictions 10 -> 3 outputs" in out
    for layer in ("block1_conv", "block2_conv"):
        for a, b in zip(model.get_layer(layer).get_weights(), source.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert model.output.shape[-1] == 3


CLASSIFIERS = [n for n in kz.list_models() if kz.model_info(n).task.endswith("classification")]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_builds_headless(name):
    model = tiny_model(name)
    features = weights.cut_head(model)
    assert "predictions" not in [layer.name for layer in features.layers]
    rank = len(features.output.shape)
    if rank == 2:  # already a vector: MLP, recurrent classifiers
        with pytest.raises(kz.InvalidArgumentError, match="already a vector"):
            kz.create_model(name, include_top=False, pooling="avg", **kz.model_info(name).tiny)
        return
    x, _ = sample_batch(name, model)
    full = np.asarray(features(x))
    axes = tuple(range(1, rank - 1))
    pooled = kz.create_model(name, include_top=False, pooling="max", **kz.model_info(name).tiny)
    assert pooled.output.shape[1:] == (features.output.shape[-1],)
    if kz.model_info(name).inputs != ("text",):  # no padding mask to account for
        avg = weights.cut_head(model, "avg")
        np.testing.assert_allclose(np.asarray(avg(x)), full.mean(axis=axes), rtol=1e-4, atol=1e-5)


def test_text_features_average_only_the_real_tokens():
    model = tiny_model("transformer_classifier")
    features = weights.cut_head(model, "avg")
    own_pool = keras.Model(model.inputs, model.get_layer("pool").output)
    x = np.zeros((2, model.inputs[0].shape[1]), "int32")
    x[0, :3], x[1, :7] = [3, 4, 5], 2
    np.testing.assert_allclose(np.asarray(features(x)), np.asarray(own_pool(x)), atol=1e-6)


def test_headless_refusals():
    with pytest.raises(kz.InvalidArgumentError, match="no head layer"):
        kz.create_model("dcgan", include_top=False, **kz.model_info("dcgan").tiny)
    with pytest.raises(kz.InvalidArgumentError, match="include_top=False"):
        kz.create_model("simple_cnn", pooling="avg")
    with pytest.raises(kz.InvalidArgumentError, match="Received: pooling='mean'"):
        kz.create_model("simple_cnn", include_top=False, pooling="mean")


def test_weights_into_a_headless_model_load_the_backbone_and_say_so(cnn_run, registered, capsys):
    run_dir, _ = cnn_run
    features = kz.create_model("simple_cnn", weights="digits-test", include_top=False,
                               pooling="avg")
    assert "into a headless simple_cnn: backbone only" in capsys.readouterr().out
    source = kz.load_model(run_dir)
    conv = keras.Model(source.inputs, source.get_layer("block2_pool").output)
    x = digits_batch()
    np.testing.assert_allclose(predict(features, x), predict(conv, x).mean(axis=(1, 2)), atol=1e-5)


def test_fit_fine_tunes_a_new_head_on_a_frozen_backbone(cnn_run, tmp_path, capsys):
    run_dir, _ = cnn_run
    source = kz.load_model(run_dir)
    out = str(tmp_path / "ft")
    result = kz.fit("simple_cnn", "digits", weights=run_dir, freeze="backbone", epochs=1,
                    steps_per_epoch=2, seed=1, output_dir=out, verbose=0,
                    model_args={"num_classes": 12})
    assert "Backbone frozen" in capsys.readouterr().out
    np.testing.assert_array_equal(result.model.get_layer("block1_conv").get_weights()[0],
                                  source.get_layer("block1_conv").get_weights()[0])
    assert result.model.output.shape[-1] == 12
    transfer = json.loads(pathlib.Path(out, "config.json").read_text())["transfer"]
    assert transfer["weights"] == run_dir and transfer["freeze"] == "backbone"
    assert transfer["weights_sha256"] == weights.sha256_of(os.path.join(run_dir, "model.keras"))
    assert json.loads(pathlib.Path(out, "config.json").read_text())["model_args"]["filters"] == [4, 8]


def test_unfreeze_after_trains_the_backbone_at_a_low_rate_batchnorm_kept_frozen(capsys):
    model = tiny_model("resnet20")
    weights.freeze_backbone(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy")  # softmax head
    x, y = sample_batch("resnet20", model, batch_size=8)
    conv = model.get_layer("stem_conv")
    bn = model.get_layer("stem_bn")
    before, bn_before = conv.get_weights()[0].copy(), [w.copy() for w in bn.get_weights()]
    model.fit(x, y, epochs=1, verbose=0, callbacks=[weights.unfreeze_callback(1)])
    np.testing.assert_array_equal(conv.get_weights()[0], before)  # epoch 1: frozen
    model.fit(x, y, epochs=2, initial_epoch=1, verbose=0,
              callbacks=[weights.unfreeze_callback(1)])
    assert "backbone unfrozen" in capsys.readouterr().out
    assert not np.array_equal(conv.get_weights()[0], before)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)
    assert not bn.trainable
    for a, b in zip(bn.get_weights(), bn_before):  # inference mode: statistics unchanged
        np.testing.assert_array_equal(a, b)


def test_fine_tuning_argument_checks():
    with pytest.raises(kz.InvalidArgumentError, match="freeze='layers'"):
        kz.fit("simple_cnn", "digits", freeze="layers")
    with pytest.raises(kz.InvalidArgumentError, match="needs freeze='backbone'"):
        kz.fit("simple_cnn", "digits", unfreeze_after=2)
    with pytest.raises(kz.InvalidArgumentError, match="Transformer family"):
        kz.fit("simple_cnn", "digits", lora_rank=2, epochs=1, steps_per_epoch=1, verbose=0)
    with pytest.raises(kz.InvalidArgumentError, match="apply to a model name"):
        kz.fit(tiny_model("mlp"), "digits", weights="digits")


def test_lora_trains_few_parameters_and_merges_on_save_and_export(tmp_path, capsys):
    model = tiny_model("transformer_classifier")
    total = model.count_params()
    kz.enable_lora(model, 2)
    printed = capsys.readouterr().out
    trainable = weights.trainable_count(model)
    assert f"{trainable:,} trainable parameters of" in printed and trainable < total / 3
    rng = np.random.default_rng(0)
    for v in model.weights:  # a non-zero LoRA delta, as after training
        if "lora_kernel_b" in v.path:
            v.assign(rng.normal(size=v.shape).astype("float32"))
    x, _ = sample_batch("transformer_classifier", model)
    expected = predict(model, x)
    merged = kz.merge_lora(model)
    assert not [v for v in merged.weights if "lora" in v.path]
    np.testing.assert_allclose(predict(merged, x), expected, atol=1e-5)
    path = str(tmp_path / "lora.keras")
    model.save(path)
    np.testing.assert_allclose(predict(kz.load_model(path), x), expected, atol=1e-5)


def test_fit_with_lora_rank(capsys):
    result = kz.fit("transformer_classifier", "half_sums", lora_rank=2, epochs=1,
                    steps_per_epoch=1, verbose=0, seed=0,
                    model_args=dict(embed_dim=8, num_heads=2, ff_dim=8, num_layers=1))
    assert "LoRA rank 2 on 2 attention projections" in capsys.readouterr().out
    assert any(getattr(layer, "lora_enabled", False)
               for layer in result.model._flatten_layers(recursive=True))


def test_cli_publish_weights_and_train_from_weights(cnn_run, tmp_path, capsys, monkeypatch):
    run_dir, _ = cnn_run
    monkeypatch.setenv("KERAS_ZOO_CACHE", str(tmp_path / "cache"))
    out = str(tmp_path / "pub")
    assert cli.main(["publish", run_dir, out, "--name", "cli"]) == 0
    assert "sha256" in capsys.readouterr().out
    kz.register_weights(os.path.join(out, "simple_cnn-cli.json"))
    try:
        assert cli.main(["weights", "simple_cnn"]) == 0
        listing = capsys.readouterr().out
        assert "simple_cnn  cli" in listing and "digits" in listing and "cache:" in listing
        assert cli.main(["train", "simple_cnn", "--dataset", "digits", "--weights", "cli",
                         "--freeze", "backbone", "--epochs", "1", "--steps-per-epoch", "1"]) == 0
        assert "Backbone frozen" in capsys.readouterr().out
    finally:
        entries._REGISTERED.pop(("simple_cnn", "cli"), None)
    assert cli.main(["publish", str(tmp_path), out]) == 2
    assert "Not a run folder" in capsys.readouterr().err


def test_generate_from_published_language_model_weights(tmp_path, capsys):
    lm_dir = str(tmp_path / "lm")
    kz.fit("gpt_mini", "tiny_corpus", epochs=1, steps_per_epoch=1, output_dir=lm_dir,
           model_args=dict(embed_dim=8, num_heads=2, ff_dim=8, num_layers=1), verbose=0)
    entry = kz.publish(lm_dir, str(tmp_path / "pub"))
    assert entry.vocabulary and entry.name == "tiny_corpus"
    kz.register_weights(entry)
    try:
        capsys.readouterr()
        assert cli.main(["generate", "gpt_mini", "--weights", "tiny_corpus", "--prompt", "def ",
                         "--length", "8", "--seed", "0"]) == 0
        assert capsys.readouterr().out.startswith("def ")
    finally:
        entries._REGISTERED.pop(("gpt_mini", "tiny_corpus"))



def test_bare_weights_file_with_another_head_loads_the_backbone(tmp_path, capsys):
    args = dict(input_shape=(8, 8, 1), padding="same", **CNN_ARGS)
    source = kz.create_model("simple_cnn", **args)
    path = str(tmp_path / "cnn.weights.h5")
    source.save_weights(path)
    model = kz.create_model("simple_cnn", weights=path, num_classes=4, **args)
    assert "new untrained head predictions (4 outputs)" in capsys.readouterr().out
    np.testing.assert_array_equal(model.get_layer("block2_conv").get_weights()[0],
                                  source.get_layer("block2_conv").get_weights()[0])
