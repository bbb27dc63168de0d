"""GAN evaluation: the unbiased KID, the recognised fraction, `evaluate` and the CLI on a GAN run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import keras_zoo as kz
from keras_zoo.cli import commands as cli
from keras_zoo.models import gan
from keras_zoo.training import gan_metrics

TINY = dict(kz.model_info("dcgan").tiny)  # latent_dim and filters


def _kernel(a, b):  # the polynomial kernel written out, one pair at a time
    return (float(np.dot(a, b)) / len(a) + 1.0) ** 3


def test_mmd2_is_the_unbiased_estimator_written_out():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)) + 0.5
    m, n = len(x), len(y)
    xx = sum(_kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(_kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(_kernel(a, b) for a in x for b in y) / (m * n)
    assert gan_metrics.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_mmd2_is_unbiased_on_one_distribution():
    # Tiny samples from one distribution: the unbiased estimate averages to 0,
    # the biased one (diagonal kept) stays clearly above it.
    rng = np.random.default_rng(1)
    unbiased, biased = [], []
    with threadpool_limits(1, user_api="blas"):  # tiny products: threads only cost here
        for _ in range(2000):
            x, y = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
            unbiased.append(gan_metrics.mmd2_unbiased(x, y))
            k = lambda a, b: (a @ b.T / 8 + 1.0) ** 3  # noqa: E731
            biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    error = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * error
    assert np.mean(biased) > 20 * error


def test_kid_is_about_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(600, 16))
    same = rng.normal(size=(600, 16))
    kid, std = gan_metrics.kernel_inception_distance(same, real, subsets=20, subset_size=200)
    assert abs(kid) < 0.02 and std > 0
    small_shift, _ = gan_metrics.kernel_inception_distance(same + 0.3, real, subsets=20,
                                                           subset_size=200)
    big_shift, _ = gan_metrics.kernel_inception_distance(same + 1.0, real, subsets=20,
                                                         subset_size=200)
    assert 0.05 < small_shift < big_shift
    assert gan_metrics.kernel_inception_distance(same, real, subsets=5, seed=3) == \
        gan_metrics.kernel_inception_distance(same, real, subsets=5, seed=3)


@pytest.mark.parametrize("x, y", [
    (np.zeros((5, 3)), np.zeros((5, 4))),
    (np.zeros((1, 3)), np.zeros((5, 3))),
    (np.zeros(5), np.zeros(5)),
])
def test_kid_refuses_mismatched_features(x, y):
    with pytest.raises(kz.InvalidArgumentError, match="Received: shapes"):
        gan_metrics.kernel_inception_distance(x, y)


def test_recognition_counts_confident_rows_and_classes():
    probabilities = np.array([[0.95, 0.05, 0.0], [0.2, 0.7, 0.1], [0.0, 0.01, 0.99],
                              [0.0, 0.9, 0.1]])
    recognised, fractions = gan_metrics.recognition(probabilities)
    assert recognised == 0.5  # 0.9 itself is not above the threshold
    np.testing.assert_allclose(fractions, [0.25, 0.5, 0.25])


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_ZOO_CACHE", str(tmp_path))
    assert gan_metrics.classifier_dir("digits").startswith(str(tmp_path))
    monkeypatch.delenv("KERAS_ZOO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gan_metrics.classifier_dir("digits").startswith(str(tmp_path / "xdg" / "keras_zoo"))


def test_a_second_process_waits_for_the_judge_being_fitted(monkeypatch, tmp_path):
    # Another process holds the judge's run folder (it is fitting it), then
    # saves the model and exits: this one waits and loads it, fitting nothing.
    monkeypatch.setenv("KERAS_ZOO_CACHE", str(tmp_path))
    folder = gan_metrics.classifier_dir("digits")
    os.makedirs(folder)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({os.path.join(folder, '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(1)\n"
        f"open({os.path.join(folder, 'model.keras')!r}, 'w').close()\n")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"

    def fit(*args, **kwargs):
        raise AssertionError("fitted the judge while another process was fitting it")

    monkeypatch.setattr("keras_zoo.training.loop.fit", fit)
    monkeypatch.setattr("keras_zoo.runs.loading.load_model", lambda path: ("loaded", path))
    assert gan_metrics.classifier("digits") == ("loaded", folder)
    assert holder.wait(timeout=60) == 0


@pytest.fixture(scope="module")
def quick_cache(tmp_path_factory):
    """A cache holding a digits classifier trained briefly (the real one: 60 epochs)."""
    cache = str(tmp_path_factory.mktemp("cache"))
    previous = os.environ.get("KERAS_ZOO_CACHE")
    os.environ["KERAS_ZOO_CACHE"] = cache
    try:
        kz.fit(gan_metrics.CLASSIFIER, "digits", epochs=6, seed=0, verbose=0,
               recipe=gan_metrics.CLASSIFIER_RECIPE, output_dir=gan_metrics.classifier_dir("digits"))
        yield cache
    finally:
        if previous is None:
            os.environ.pop("KERAS_ZOO_CACHE", None)
        else:
            os.environ["KERAS_ZOO_CACHE"] = previous


def _real(split):
    return gan_metrics._real_images("digits", split, None)


def test_real_test_digits_are_recognised_and_noise_is_not(quick_cache):
    # The briefly trained judge; the real one (95 % of real test digits) is
    # checked in tests/test_learning.py.
    judge = gan_metrics.classifier("digits")
    probabilities, features = gan_metrics.predict(judge, _real("test"))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert features.shape == (360, 256)  # the classifier's penultimate layer
    recognised, fractions = gan_metrics.recognition(probabilities)
    assert fractions.min() >= 0.05 and fractions.max() <= 0.15  # the band; 10 % each
    noise = np.random.default_rng(0).random((360, 8, 8, 1))
    assert gan_metrics.recognition(gan_metrics.predict(judge, noise)[0])[0] < recognised / 2


def test_evaluate_and_the_cli_judge_a_gan_run(quick_cache, tmp_path, capsys):
    out = str(tmp_path / "gan")
    kz.fit("dcgan", "digits", epochs=1, steps_per_epoch=2, seed=0, output_dir=out,
           model_args=TINY, verbose=0)
    metrics = kz.evaluate(out, "digits")
    classes = [metrics[f"class_{k}"] for k in range(10)]
    assert sum(classes) == pytest.approx(1.0)
    assert metrics["class_min"] == min(classes) and metrics["class_max"] == max(classes)
    assert metrics["num_samples"] == 1000 and 0 <= metrics["recognised"] <= 1
    # An untrained GAN is far from the real digits; train and test are close.
    assert metrics["kid"] > 10 * abs(metrics["kid_real"]) and metrics["kid"] > 0.1
    capsys.readouterr()
    assert cli.main(["evaluate", out]) == 0  # the judge of KERAS_ZOO_CACHE (quick_cache)
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == pytest.approx(metrics)


def test_evaluate_gan_refuses_another_image_shape(quick_cache):
    model = kz.create_model("dcgan", input_shape=(16, 16, 1), **TINY)
    with pytest.raises(kz.IncompatibleError, match="16, 16, 1"):
        gan_metrics.evaluate_gan(model, "digits")


def test_samples_of_the_generator_alone_are_judged(quick_cache):
    model = kz.create_model("dcgan", input_shape=(8, 8, 1), **TINY)
    metrics = gan_metrics.evaluate_gan(model.generator, "digits", num_samples=50)
    assert metrics["num_samples"] == 50
    np.testing.assert_allclose(gan.sample_images(model, 3, seed=0),
                               gan.sample_images(model.generator, 3, seed=0))
