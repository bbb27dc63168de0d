"""How good a GAN's samples are, judged by a classifier of the same dataset.

```python
import keras_zoo as kz

kz.evaluate("runs/dcgan", "digits")
# {'recognised': 0.86, 'class_0': 0.1, ..., 'class_min': 0.07, 'class_max': 0.13,
#  'kid': 0.004, 'kid_std': ..., 'kid_real': 0.0002, 'kid_real_std': ..., 'num_samples': 1000}
```

- `recognised`: the fraction of the samples that the classifier assigns to
  one class with probability > 0.9 (real test digits: 95 %).
- `class_<k>`: the fraction of the samples whose most likely class is `k`;
  a GAN that covers the data puts about `1 / num_classes` in each.
- `kid`: the Kernel Inception Distance (Binkowski et al. 2018,
  arXiv:1801.01401) between the samples and the real images of the split,
  on the classifier's penultimate features; `kid_real` is the same distance
  between two real splits (train and the split), the scale of "as good as
  real data" (an unbiased estimate, so it can be slightly below 0).

The classifier is the zoo's `simple_cnn` fitted on the dataset with its
recipe, seed 0, but without label smoothing: smoothing by 0.1 caps a
calibrated confidence near 0.91, and with it only 54 % of the real digits
test images pass the 0.9 threshold (95 % without; test accuracy 99.44 %
both ways). It is trained once (about 70 s for `digits` on a 2-core CPU)
into the cache folder `$KERAS_ZOO_CACHE/gan_metrics/` (default
`~/.cache/keras_zoo`) and loaded from there afterwards.
"""

import os

import numpy as np

from keras_zoo.errors import InvalidArgumentError, check_positive_int

CONFIDENCE = 0.9  # a sample is "recognised" above this probability
CLASSIFIER = "simple_cnn"
CLASSIFIER_SEED = 0
CLASSIFIER_RECIPE = {"label_smoothing": 0.0}  # see the module docstring


def classifier_dir(dataset):
    """The run folder of the cached classifier of `dataset`."""
    from keras_zoo.weights.entries import cache_dir

    return os.path.join(cache_dir(), "gan_metrics",
                        f"{CLASSIFIER}_{dataset}_seed{CLASSIFIER_SEED}_no_smoothing")


def classifier(dataset, *, data_dir=None, verbose=0):
    """The classifier that judges samples of `dataset`: loaded, or fitted once.

    Processes that ask at once share one fit: the others wait for its run
    folder's lock, then load what it saved.

    Args:
        dataset: a labelled image dataset name, e.g. `"digits"`.
        data_dir: tfds data folder.
        verbose: `fit`'s verbosity when it has to be trained.

    Returns:
        A `keras.Model` from images in [0, 1] to class scores.

    Example:

    >>> model = classifier("digits")   # about 70 s the first time
    """
    from keras_zoo import runs
    from keras_zoo.runs import loading
    from keras_zoo.training import loop

    folder = classifier_dir(dataset)
    if not os.path.isfile(os.path.join(folder, runs.MODEL)):
        os.makedirs(folder, exist_ok=True)
        try:
            runs.lock_run_dir(folder, wait=True)  # another process may be fitting it
            if not os.path.isfile(os.path.join(folder, runs.MODEL)):
                loop.fit(CLASSIFIER, dataset, seed=CLASSIFIER_SEED, output_dir=folder,
                             recipe=CLASSIFIER_RECIPE, data_dir=data_dir, verbose=verbose)
        finally:
            runs.unlock_run_dir(folder)
    return loading.load_model(folder)


def predict(model, images, batch_size=256):
    """Class probabilities and penultimate features of `images`.

    Args:
        model: a classifier whose last layer gives class scores (logits or
            probabilities).
        images: float array `(N, H, W, C)` in [0, 1].
        batch_size: prediction batch size.

    Returns:
        `(probabilities (N, classes), features (N, D))`, float64 numpy
        arrays; the features are the input of the last layer.
    """
    import keras

    from keras_zoo.training.compile import outputs_logits

    both = keras.Model(model.inputs, [model.layers[-1].input, model.outputs[0]])
    features, scores = both.predict(np.asarray(images, "float32"), batch_size=batch_size,
                                    verbose=0)
    scores = np.asarray(scores, "float64")
    if outputs_logits(model):
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
    features = np.asarray(features, "float64").reshape(len(features), -1)
    return scores, features


def recognition(probabilities, confidence=CONFIDENCE):
    """The recognised fraction and the per-class fractions of some predictions.

    Args:
        probabilities: `(N, classes)` class probabilities.
        confidence: threshold of the most likely class's probability.

    Returns:
        `(recognised, fractions)`: the fraction of rows whose largest
        probability exceeds `confidence`, and an array `(classes,)` of the
        fraction of rows whose most likely class is each class.
    """
    probabilities = np.asarray(probabilities)
    recognised = float(np.mean(probabilities.max(axis=1) > confidence))
    counts = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
    return recognised, counts / len(probabilities)


def mmd2_unbiased(x, y):
    """Unbiased MMD^2 of two samples with the kernel `k(a, b) = (a.b / d + 1)^3`.

    The estimator of Binkowski et al. 2018 (eq. 3 of arXiv:1801.01401, as in
    their KID): within-set kernel sums leave out the diagonal, so the
    expectation is the population MMD^2, 0 for one distribution.

    Args:
        x: `(m, d)` features, m >= 2.
        y: `(n, d)` features, n >= 2.

    Returns:
        A float (may be slightly negative).
    """
    x, y = np.asarray(x, "float64"), np.asarray(y, "float64")
    m, n, d = len(x), len(y), x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
                 + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2.0 * k_xy.mean())


def kernel_inception_distance(x, y, *, subsets=100, subset_size=1000, seed=0):
    """KID: `mmd2_unbiased` averaged over random subsets (Binkowski et al. 2018).

    Args:
        x, y: `(m, d)` and `(n, d)` features.
        subsets: number of subset pairs (100 as in torch-fidelity).
        subset_size: examples drawn from each set without replacement,
            at most the smaller set's size (1000 in the paper's code).
        seed: seed of the draws.

    Returns:
        `(mean, std)` over the subsets.

    Example:

    >>> kernel_inception_distance(fake_features, real_features)
    (0.0041, 0.0003)
    """
    check_positive_int(subsets, "subsets")
    check_positive_int(subset_size, "subset_size")
    x, y = np.asarray(x, "float64"), np.asarray(y, "float64")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise InvalidArgumentError(
            "KID needs two feature arrays (N, D) with the same D and N >= 2. "
            f"Received: shapes {x.shape} and {y.shape}"
        )
    from threadpoolctl import threadpool_limits

    size = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    # One BLAS thread: these products are small, and on a busy 2-core CPU
    # BLAS threads made 20 subsets of 200 take 4.6 s instead of 0.07 s.
    with threadpool_limits(1, user_api="blas"):
        values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                                y[rng.choice(len(y), size, replace=False)])
                  for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def _real_images(dataset, split, data_dir):
    from keras_zoo import data

    batches = data.load_dataset(dataset, split, batch_size=512, shuffle=False,
                                data_dir=data_dir)
    return np.concatenate([np.asarray(x) for x, _ in batches])


def evaluate_gan(model, dataset, *, split="test", num_samples=1000, seed=0, judge=None,
                 data_dir=None):
    """Judges a GAN's samples with a classifier of `dataset`.

    Args:
        model: a `DCGAN` (or a generator) trained on `dataset`.
        dataset: a labelled image dataset name, e.g. `"digits"`.
        split: the real images the samples are compared with (a split name
            such as `"test"`, or a tfds split string).
        num_samples: how many images to generate.
        seed: seed of the samples' noise and of the KID subsets.
        judge: the classifier; None for `classifier(dataset)`.
        data_dir: tfds data folder.

    Returns:
        A dict of floats: `recognised`, `class_0`... `class_<k>`,
        `class_min`, `class_max`, `kid`, `kid_std`, `kid_real`,
        `kid_real_std`, `num_samples` (see the module docstring).

    Example:

    >>> evaluate_gan(kz.load_model("runs/dcgan"), "digits")["recognised"]
    0.86
    """
    from keras_zoo import data
    from keras_zoo.models.gan import sample_images

    check_positive_int(num_samples, "num_samples")
    spec = data.dataset_spec(dataset, data_dir=data_dir)
    generator = getattr(model, "generator", model)
    if spec.kind != "image" or tuple(generator.output.shape[1:]) != tuple(spec.input_shape):
        from keras_zoo.errors import IncompatibleError

        raise IncompatibleError(
            f"A GAN is judged on labelled images of its own shape; {generator.name!r} makes "
            f"{tuple(generator.output.shape[1:])}, dataset {dataset!r} has "
            f"{spec.kind} data of shape {spec.input_shape}. Received: dataset={dataset!r}"
        )
    splits = {"train": spec.train_split, "validation": spec.validation_split,
              "test": spec.test_split}
    split = splits.get(split, split)
    other = spec.train_split if split != spec.train_split else spec.test_split
    judge = classifier(dataset, data_dir=data_dir) if judge is None else judge
    probabilities, fake = predict(judge, sample_images(model, num_samples, seed=seed))
    _, real = predict(judge, _real_images(dataset, split, data_dir))
    _, real_other = predict(judge, _real_images(dataset, other, data_dir))
    recognised, fractions = recognition(probabilities)
    kid, kid_std = kernel_inception_distance(fake, real, seed=seed)
    kid_real, kid_real_std = kernel_inception_distance(real_other, real, seed=seed)
    return {
        "recognised": recognised,
        **{f"class_{k}": float(f) for k, f in enumerate(fractions)},
        "class_min": float(fractions.min()),
        "class_max": float(fractions.max()),
        "kid": kid,
        "kid_std": kid_std,
        "kid_real": kid_real,
        "kid_real_std": kid_real_std,
        "num_samples": float(num_samples),
    }
