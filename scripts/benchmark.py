"""Benchmark: `keras_zoo.fit` with its defaults against the keras-io way.

For each model, in one run, alternating A and B after a warm-up epoch, the
median of `--repeats` runs:

- fit speed-up: training examples/s of `keras_zoo.fit` (defaults: precision
  "auto", steps_per_execution, the zoo's tf.data pipeline) ÷ examples/s of
  the hand-written keras-io example for the same architecture and data
  (numpy arrays into `model.fit`, float32, Keras defaults);
- accuracy delta: test accuracy of A minus B after the same epochs, in
  percentage points;
- pipeline ratio: examples/s of the zoo's pipeline alone ÷ a naive one
  (per-example Python map via `tf.py_function`, no parallelism, no
  prefetch), and ÷ the examples/s the model consumes;
- utilisation: achieved training FLOP/s (3x the forward matmul/conv FLOPs,
  counted from the layer shapes) ÷ the matmul peak measured in this run at
  the precision the zoo chose.

There is no network here, so the data is offline and generated at the size
of the zoo's default datasets: scikit-learn's digits upscaled to 28x28 (as
"mnist") for the CNNs, generated 200-token reviews (as "imdb_reviews") for
the text models. `keras_zoo.fit` reads them through the real recipes and
pipeline (tfds storage replaced with `tfds.testing.mock_data`).

    python scripts/benchmark.py --quick          # about a minute
    python scripts/benchmark.py --repeats 5      # the table in docs/performance.md
    python scripts/benchmark.py --model simple_cnn --ablate

Absolute numbers vary from machine to machine (and with load); the ratios
are what we track.
"""

import argparse
import contextlib
import dataclasses
import re
import statistics
import sys
import time

import numpy as np

COLUMNS = ("model", "dataset", "precision", "zoo ex/s", "keras-io ex/s", "fit speed-up",
           "zoo acc %", "keras-io acc %", "acc delta pp", "pipeline ex/s", "naive ex/s",
           "pipeline / naive", "pipeline / model", "GFLOP/ex (train)", "TFLOP/s",
           "peak TFLOP/s", "utilisation %")
ABLATION_COLUMNS = ("model", "bf16 / fp32", "steps_per_execution / 1", "jit / no jit")


@dataclasses.dataclass(frozen=True)
class Case:
    dataset: str
    train: int  # examples in the train split (90% train, 10% validation)
    test: int
    epochs: int  # the first is warm-up, not timed


# Sizes are multiples of 10 batches, so 90% of train is whole batches.
CASES = {
    "simple_cnn": Case("mnist", train=12_800, test=2_000, epochs=3),
    "resnet20": Case("mnist", train=2_560, test=1_000, epochs=3),
    "transformer_classifier": Case("imdb_reviews", train=6_400, test=1_000, epochs=3),
    "bilstm_classifier": Case("imdb_reviews", train=1_280, test=640, epochs=3),
}
QUICK = {
    "simple_cnn": Case("mnist", train=3_840, test=1_000, epochs=2),
    "resnet20": Case("mnist", train=1_280, test=500, epochs=2),
    "transformer_classifier": Case("imdb_reviews", train=1_920, test=500, epochs=2),
    "bilstm_classifier": Case("imdb_reviews", train=320, test=320, epochs=2),
}

# Generated reviews: filler words, and a few sentiment words that decide the label.
_FILLER, _SENTIMENT, _LENGTH = 19_800, 50, 200


# Data ------------------------------------------------------------------------------------


def digit_images(num, split, seed):
    """`num` 28x28 uint8 digits from scikit-learn's train or test split, shifted by up to 2 px."""
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(np.arange(len(digits.images)), test_size=0.2,
                                   stratify=digits.target, random_state=0)
    pool = train if split == "train" else test
    rng = np.random.default_rng(seed)
    chosen = rng.choice(pool, num)
    small = digits.images[chosen][..., None] / 16.0  # (N, 8, 8, 1)
    images = tf.image.resize(small, (24, 24)).numpy()
    images = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))  # (N, 28, 28, 1)
    for i, (dy, dx) in enumerate(rng.integers(-2, 3, size=(num, 2))):
        images[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
    images = np.clip(images + rng.normal(0, 0.05, images.shape), 0, 1)
    return {"image": (images * 255).astype(np.uint8), "label": digits.target[chosen].astype(np.int64)}


def reviews(num, seed):
    """`num` reviews of 200 words; label 1 when positive words outnumber negative ones."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num)
    texts = []
    for label in labels:
        words = [f"w{i}" for i in rng.integers(0, _FILLER, _LENGTH)]
        good, bad = ("p", "n") if label else ("n", "p")
        cues = [f"{good}{i}" for i in rng.integers(0, _SENTIMENT, 6)]
        cues += [f"{bad}{i}" for i in rng.integers(0, _SENTIMENT, 3)]
        for position, cue in zip(rng.choice(_LENGTH, len(cues), replace=False), cues):
            words[position] = cue
        texts.append(" ".join(words))
    return {"text": np.array(texts), "label": labels.astype(np.int64)}


def make_data(case, seed=0):
    """The raw tfds-like splits `{"train": {feature: array}, "test": ...}` of a case."""
    if case.dataset == "mnist":
        return {"train": digit_images(case.train, "train", seed),
                "test": digit_images(case.test, "test", seed + 1)}
    return {"train": reviews(case.train, seed), "test": reviews(case.test, seed + 1)}


def _sliced(arrays, split):
    match = re.fullmatch(r"(\w+)(?:\[(\d*)%?:(\d*)%?\])?", str(split).replace(" ", ""))
    name, start, end = match.groups()
    features = arrays[name]
    n = len(features["label"])
    begin = int(start) * n // 100 if start else 0
    stop = int(end) * n // 100 if end else n
    return {k: v[begin:stop] for k, v in features.items()}


@contextlib.contextmanager
def offline_data(raw):
    """Serves `raw` as the tfds storage of every dataset, through the real recipes."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices(_sliced(raw, split))

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        yield


# Timing ----------------------------------------------------------------------------------


def _keras():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Each epoch's seconds: spent training (`seconds`, validation excluded) and
        whole (`whole`, validation included)."""

        def __init__(self):
            super().__init__()
            self.seconds, self.whole = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._end = time.perf_counter(), None

        def on_test_begin(self, logs=None):
            if self._end is None:
                self._end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            end = time.perf_counter()
            self.seconds.append((self._end or end) - self._start)
            self.whole.append(end - self._start)

    return keras, EpochTimer


def examples_per_second(timer, examples):
    """Examples/s over the epochs after the first (warm-up: tracing, cache filling)."""
    return examples * (len(timer.seconds) - 1) / sum(timer.seconds[1:])


def fit_zoo(name, case, raw, seed):
    """`keras_zoo.fit` with every default; returns (examples/s, test accuracy, precision)."""
    import keras_zoo as kz

    keras, EpochTimer = _keras()
    timer = EpochTimer()
    with offline_data(raw):
        result = kz.fit(name, case.dataset, epochs=case.epochs, seed=seed, verbose=0,
                        callbacks=[timer])
        batch = kz.data.dataset_spec(case.dataset).batch_size
    examples = (case.train * 9 // 10) // batch * batch
    precision = timer.model.dtype_policy.name  # the trained model's (fit returns float32)
    return examples_per_second(timer, examples), result.metrics["accuracy"], precision


def numpy_arrays(name, case, raw):
    """The zoo's arrays of a case, for the keras-io side: train, validation, test, model args."""
    import keras_zoo as kz
    from keras_zoo import training
    from keras_zoo.models import registry

    with offline_data(raw):
        prepared = kz.data.prepare(case.dataset)
        spec = prepared.spec

        def arrays(split):
            ds = kz.data.load_dataset(case.dataset, split, batch_size=256, shuffle=False,
                                      vocabulary=prepared.vocabulary)
            xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
            return np.concatenate(xs), np.concatenate(ys)

        splits = [arrays(s) for s in (spec.train_split, spec.validation_split, spec.test_split)]
    args = training.model_args_for(registry.model_info(name), spec)
    return splits, args, spec.batch_size


def fit_keras(name, arrays, args, batch_size, epochs, seed, *, precision="float32",
              steps_per_execution=1, jit_compile="auto"):
    """The keras-io way: numpy arrays into `model.fit`, Keras's compile defaults."""
    import keras_zoo as kz

    keras, EpochTimer = _keras()
    (x, y), validation, (x_test, y_test) = arrays
    keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        model = kz.create_model(name, **args)
        model.compile(optimizer="adam",
                      loss="sparse_categorical_crossentropy",  # the zoo's softmax head
                      metrics=["accuracy"], steps_per_execution=steps_per_execution,
                      jit_compile=jit_compile)
        timer = EpochTimer()
        model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=validation,
                  verbose=0, callbacks=[timer])
        accuracy = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)[1]
    finally:
        keras.config.set_dtype_policy(previous)
    return examples_per_second(timer, len(x)), accuracy


# Pipeline --------------------------------------------------------------------------------


def _batches_per_second(dataset, batches):
    iterator = iter(dataset)
    next(iterator)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - start)


def pipeline_speed(case, raw, batches, vocabulary):
    """Examples/s of the zoo's training pipeline alone."""
    import keras_zoo as kz

    with offline_data(raw):
        ds = kz.data.load_dataset(case.dataset, "train", repeat=True, vocabulary=vocabulary)
        batch = kz.data.dataset_spec(case.dataset).batch_size
        return batch * _batches_per_second(ds, batches)


def naive_speed(case, raw, batches, vocabulary):
    """Examples/s of a naive pipeline: a per-example Python map, no parallelism, no prefetch."""
    import tensorflow as tf

    import keras_zoo as kz

    batch = kz.data.dataset_spec(case.dataset).batch_size
    features = _sliced(raw, "train")
    if case.dataset == "mnist":
        ds = tf.data.Dataset.from_tensor_slices((features["image"], features["label"]))

        def decode(x, y):
            return x.numpy().astype(np.float32) / 255.0, np.int32(y.numpy())

        types = (tf.float32, tf.int32)
    else:
        ds = tf.data.Dataset.from_tensor_slices((features["text"], features["label"]))
        ids = {token: i for i, token in enumerate(vocabulary)}

        def decode(x, y):
            tokens = [ids.get(t, 1) for t in x.numpy().decode().lower().split()][:_LENGTH]
            return np.array(tokens + [0] * (_LENGTH - len(tokens)), np.int32), np.int32(y.numpy())

        types = (tf.int32, tf.int32)
    ds = ds.repeat().map(lambda x, y: tf.py_function(decode, [x, y], types)).batch(batch)
    return batch * _batches_per_second(ds, batches)


# FLOPs and peak --------------------------------------------------------------------------


def forward_flops(model):
    """Multiply-add FLOPs of one example's forward pass (convs, dense, recurrences, attention)."""
    import keras

    from keras_zoo.models.layers import TransformerBlock

    def input_shape(layer):  # a layer called with a mask has a list of inputs
        inputs = layer.input
        return (inputs[0] if isinstance(inputs, (list, tuple)) else inputs).shape

    def recurrent(layer, input_shape):
        gates = 4 if isinstance(layer, keras.layers.LSTM) else 3
        steps, features = input_shape[1], input_shape[-1]
        return 2 * gates * layer.units * (features + layer.units) * steps

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * h * w
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1]))
            total += 2 * int(np.prod(layer.kernel.shape)) * positions
        elif isinstance(layer, keras.layers.Bidirectional):
            shape = input_shape(layer)
            total += recurrent(layer.forward_layer, shape) + recurrent(layer.backward_layer, shape)
        elif isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
            total += recurrent(layer, input_shape(layer))
        elif isinstance(layer, TransformerBlock):
            t, d, f = input_shape(layer)[1], layer.embed_dim, layer.ff_dim
            total += 8 * t * d * d + 4 * t * t * d + 4 * t * d * f  # QKVO, QK^T and AV, FFN
    return total


def matmul_peak(precision, sizes=(1024, 2048, 4096), calls=5):
    """Best FLOP/s of large square matmuls at the compute dtype of `precision`.

    The best over several sizes and calls: a single 1024 matmul under-reports
    the AMX peak (its dispatch and thread start-up are a visible share).
    """
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
    best = 0.0
    matmul = tf.function(tf.matmul)
    for size in sizes:
        a = tf.random.normal((size, size), dtype=dtype)
        b = tf.random.normal((size, size), dtype=dtype)
        matmul(a, b).numpy()
        for _ in range(calls):
            start = time.perf_counter()
            matmul(a, b)[0, 0].numpy()
            best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


# Runs ------------------------------------------------------------------------------------


def benchmark_model(name, case, repeats, pipeline_batches, log):
    """Measures one model: A and B alternating, `repeats` times; returns a table row."""
    import keras_zoo as kz

    raw = make_data(case)
    arrays, args, batch = numpy_arrays(name, case, raw)
    with offline_data(raw):
        vocabulary = kz.data.prepare(case.dataset).vocabulary
    zoo, io, pipe, naive, peak = [], [], [], [], []
    precision = None
    for r in range(repeats):
        sides = ["zoo", "keras-io"] if r % 2 == 0 else ["keras-io", "zoo"]
        for side in sides:
            if side == "zoo":
                speed, accuracy, precision = fit_zoo(name, case, raw, seed=r)
                zoo.append((speed, accuracy))
            else:
                io.append(fit_keras(name, arrays, args, batch, case.epochs, seed=r))
            log(f"  {name} repeat {r + 1}/{repeats} {side}: "
                f"{(zoo if side == 'zoo' else io)[-1][0]:.0f} ex/s, "
                f"accuracy {(zoo if side == 'zoo' else io)[-1][1]:.4f}")
        for side in (["zoo", "naive"] if r % 2 == 0 else ["naive", "zoo"]):
            if side == "zoo":
                pipe.append(pipeline_speed(case, raw, pipeline_batches, vocabulary))
            else:
                naive.append(naive_speed(case, raw, max(2, pipeline_batches // 10), vocabulary))
        peak.append(matmul_peak(precision))
    median = statistics.median
    zoo_speed, io_speed = median(s for s, _ in zoo), median(s for s, _ in io)
    zoo_acc, io_acc = median(a for _, a in zoo), median(a for _, a in io)
    flops = 3 * forward_flops(kz.create_model(name, **args))
    achieved = zoo_speed * flops
    return {
        "model": name,
        "dataset": case.dataset,
        "precision": precision,
        "zoo ex/s": f"{zoo_speed:.0f}",
        "keras-io ex/s": f"{io_speed:.0f}",
        "fit speed-up": f"{median(a / b for (a, _), (b, _) in zip(zoo, io)):.2f}x",
        "zoo acc %": f"{100 * zoo_acc:.2f}",
        "keras-io acc %": f"{100 * io_acc:.2f}",
        "acc delta pp": f"{100 * (zoo_acc - io_acc):+.2f}",
        "pipeline ex/s": f"{median(pipe):.0f}",
        "naive ex/s": f"{median(naive):.0f}",
        "pipeline / naive": f"{median(pipe) / median(naive):.1f}x",
        "pipeline / model": f"{median(pipe) / zoo_speed:.1f}x",
        "GFLOP/ex (train)": f"{flops / 1e9:.4f}",
        "TFLOP/s": f"{achieved / 1e12:.3f}",
        "peak TFLOP/s": f"{median(peak) / 1e12:.3f}",
        "utilisation %": f"{100 * achieved / median(peak):.1f}",
    }


def ablate_model(name, case, repeats, log):
    """Each default alone, on the keras-io side (numpy into model.fit), interleaved."""
    from keras_zoo.distribute import defaults

    raw = make_data(case)
    arrays, args, batch = numpy_arrays(name, case, raw)
    family = __import__("keras_zoo").model_info(name).family
    spe = defaults.steps_per_execution("cpu", family)
    variants = {
        "fp32": dict(),
        "bf16": dict(precision="mixed_bfloat16"),
        "spe": dict(steps_per_execution=spe),
        "jit": dict(jit_compile=True),
    }
    speeds = {k: [] for k in variants}
    for r in range(repeats):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for key in order:
            speeds[key].append(fit_keras(name, arrays, args, batch, case.epochs, seed=r,
                                         **variants[key])[0])
            log(f"  ablate {name} repeat {r + 1}/{repeats} {key}: {speeds[key][-1]:.0f} ex/s")

    def ratio(key):
        return f"{statistics.median(a / b for a, b in zip(speeds[key], speeds['fp32'])):.2f}x"

    return {"model": name, "bf16 / fp32": ratio("bf16"),
            "steps_per_execution / 1": f"{ratio('spe')} ({spe})", "jit / no jit": ratio("jit")}


# The keras-io examples as published -----------------------------------------------------

# Sizes of `--published`: a few epochs on a few thousand examples; the first epoch of each
# fit is not timed (tracing), and each side has had one untimed warm-up fit before the pairs.
PUBLISHED = {
    "simple_cnn": Case("mnist", train=8_192, test=512, epochs=4),
    "transformer_classifier": Case("imdb_reviews", train=3_200, test=320, epochs=4),
    "bilstm_classifier": Case("imdb_reviews", train=960, test=320, epochs=4),
}
PUBLISHED_COLUMNS = ("model", "precision", "zoo ex/s", "keras-io ex/s", "speed-up",
                     "pairs", "train-only speed-up", "zoo val s", "keras-io val s")


def published_model(name, vocab_size=20_000, maxlen=200):
    """The keras-io example's model and compile arguments, as published.

    - simple_cnn: "Simple MNIST convnet" (F. Chollet): Sequential, valid padding,
      categorical cross-entropy on one-hot labels.
    - transformer_classifier: "Text classification with Transformer" (A. Nandan): its
      TransformerBlock and TokenAndPositionEmbedding layers, no padding mask, no dropout
      on the attention weights.
    - bilstm_classifier: "Bidirectional LSTM on IMDB" (F. Chollet): no padding mask, one
      sigmoid unit, binary cross-entropy.
    """
    import keras
    from keras import layers, ops

    if name == "simple_cnn":
        model = keras.Sequential([
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ])
        return model, "categorical_crossentropy"
    if name == "bilstm_classifier":
        inputs = keras.Input(shape=(None,), dtype="int32")
        x = layers.Embedding(vocab_size, 128)(inputs)
        x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
        x = layers.Bidirectional(layers.LSTM(64))(x)
        outputs = layers.Dense(1, activation="sigmoid")(x)
        return keras.Model(inputs, outputs), "binary_crossentropy"

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential(
                [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.dropout1(self.att(inputs, inputs))
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.dropout2(self.ffn(out1))
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            positions = self.pos_emb(ops.arange(start=0, stop=ops.shape(x)[-1], step=1))
            return self.token_emb(x) + positions

    inputs = layers.Input(shape=(maxlen,))
    x = TokenAndPositionEmbedding(maxlen, vocab_size, 32)(inputs)
    x = TransformerBlock(32, 2, 32)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs), "sparse_categorical_crossentropy"


def _clock():
    """A Keras callback: each epoch's seconds, whole and up to its validation."""
    return _keras()[1]()


def _timed(clock):
    """Median seconds of the epochs after the first: (whole epoch, training only).

    (None, None) for a fit of one epoch (a warm-up).
    """
    if len(clock.whole) < 2:
        return None, None
    return statistics.median(clock.whole[1:]), statistics.median(clock.seconds[1:])


def fit_published(name, case, raw, arrays, epochs):
    """The published example: numpy arrays into `model.fit`; returns (whole s, training s)."""
    import keras

    if name == "simple_cnn":  # the example's preprocessing of the raw images
        train = _sliced(raw, "train")
        x = np.expand_dims(train["image"][..., 0].astype("float32") / 255, -1)
        y = keras.utils.to_categorical(train["label"], 10)
        fit_data = dict(x=x, y=y, batch_size=128, validation_split=0.1)
    else:
        (x, y), validation, _ = arrays
        fit_data = dict(x=x, y=y, batch_size=32, validation_data=validation)
    model, loss = published_model(name)
    model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
    clock = _clock()
    model.fit(**fit_data, epochs=epochs, verbose=0, callbacks=[clock])
    return _timed(clock)


def fit_zoo_published(name, case, raw, epochs):
    """`kz.fit` with its defaults and a user's epoch timer: (whole s, training s, policy)."""
    import keras_zoo as kz

    clock = _clock()
    with offline_data(raw):
        kz.fit(name, case.dataset, epochs=epochs, callbacks=[clock], verbose=0)
    return (*_timed(clock), clock.model.dtype_policy.name)


def published_model_row(name, case, pairs, log):
    """One model: warm-ups, then `pairs` adjacent pairs (order alternating); a table row."""
    raw = make_data(case)
    arrays, _, batch = numpy_arrays(name, case, raw)
    examples = (case.train * 9 // 10) // batch * batch  # both sides train on 90%
    fit_published(name, case, raw, arrays, 1)  # warm-ups, untimed
    fit_zoo_published(name, case, raw, 2)
    ratios, training_ratios, zoo, io = [], [], [], []
    precision = None
    for pair in range(pairs):
        order = ("zoo", "keras-io") if pair % 2 == 0 else ("keras-io", "zoo")
        times = {}
        for side in order:
            if side == "zoo":
                *times[side], precision = fit_zoo_published(name, case, raw, case.epochs)
            else:
                times[side] = fit_published(name, case, raw, arrays, case.epochs)
        zoo.append(times["zoo"])
        io.append(times["keras-io"])
        ratios.append(times["keras-io"][0] / times["zoo"][0])
        training_ratios.append(times["keras-io"][1] / times["zoo"][1])
        log(f"  {name} pair {pair + 1}/{pairs} ({' then '.join(order)}): zoo "
            f"{examples / times['zoo'][0]:.0f} ex/s, keras-io "
            f"{examples / times['keras-io'][0]:.0f} ex/s: {ratios[-1]:.2f}x "
            f"(training only {training_ratios[-1]:.2f}x)")
    median = statistics.median
    return {
        "model": name,
        "precision": precision,
        "zoo ex/s": f"{examples / median(w for w, _ in zoo):.0f}",
        "keras-io ex/s": f"{examples / median(w for w, _ in io):.0f}",
        "speed-up": f"{median(ratios):.2f}x",
        "pairs": ", ".join(f"{r:.2f}" for r in ratios),
        "train-only speed-up": f"{median(training_ratios):.2f}x",
        "zoo val s": f"{median(w - t for w, t in zoo):.2f}",
        "keras-io val s": f"{median(w - t for w, t in io):.2f}",
    }


def markdown(rows, columns):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=sorted(CASES),
                        help="model to measure (repeatable); default: all")
    parser.add_argument("--dataset", choices=("mnist", "imdb_reviews"),
                        help="only the models benchmarked on this dataset")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each side (median reported); default 3, 2 with --quick")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per fit, the first one untimed (at least 2)")
    parser.add_argument("--train-examples", type=int, default=None,
                        help="training examples per model (a multiple of 10 batches)")
    parser.add_argument("--pipeline-batches", type=int, default=None,
                        help="batches read to time the pipelines")
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    parser.add_argument("--ablate", action="store_true",
                        help="also time each default alone (bf16, steps_per_execution, jit)")
    parser.add_argument("--published", action="store_true",
                        help="time kz.fit against the keras-io examples exactly as published "
                        "(their models, numpy arrays, validation), per epoch, in adjacent pairs")
    parser.add_argument("--pairs", type=int, default=4, help="adjacent pairs of --published")
    parser.add_argument("--device", action="store_true",
                        help="--published on whatever device is present (GPU, TPU or CPU), "
                        "ending with the README's speed row for it")
    args = parser.parse_args(argv)
    if args.published or args.device:
        return _published(args, parser)

    cases = dict(QUICK if args.quick else CASES)
    names = args.model or list(cases)
    if args.dataset:
        names = [n for n in names if cases[n].dataset == args.dataset]
    repeats = args.repeats or (2 if args.quick else 3)
    pipeline_batches = args.pipeline_batches or (20 if args.quick else 100)
    if args.epochs is not None and args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first is warm-up). Received: {args.epochs}")

    def log(message):
        print(message, file=sys.stderr, flush=True)

    start = time.perf_counter()
    rows, ablations = [], []
    for name in names:
        case = cases[name]
        if args.epochs:
            case = dataclasses.replace(case, epochs=args.epochs)
        if args.train_examples:
            case = dataclasses.replace(case, train=args.train_examples)
        rows.append(benchmark_model(name, case, repeats, pipeline_batches, log))
        if args.ablate:
            ablations.append(ablate_model(name, case, repeats, log))
    print(markdown(rows, COLUMNS))
    if ablations:
        print()
        print(markdown(ablations, ABLATION_COLUMNS))
    print(f"\n{repeats} repeats, median; {time.perf_counter() - start:.0f} s. "
          "Absolute numbers vary with the machine and its load; the ratios are what we track.")
    return rows


def _published(args, parser):
    """`--published`: the table of kz.fit against the published examples, with the device."""
    import os

    names = args.model or list(PUBLISHED)
    unknown = [n for n in names if n not in PUBLISHED]
    if unknown:
        parser.error(f"--published measures {', '.join(PUBLISHED)}. Received: --model {unknown[0]}")
    if args.epochs is not None and args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (the first is warm-up). Received: {args.epochs}")

    def log(message):
        print(message, file=sys.stderr, flush=True)

    device = device_description()
    print(f"{device}; load {os.getloadavg()[0]:.1f} at the start", flush=True)
    start = time.perf_counter()
    rows = []
    for name in names:
        case = PUBLISHED[name]
        if args.epochs:
            case = dataclasses.replace(case, epochs=args.epochs)
        if args.train_examples:
            case = dataclasses.replace(case, train=args.train_examples)
        rows.append(published_model_row(name, case, args.pairs, log))
    print(markdown(rows, PUBLISHED_COLUMNS))
    print(f"\nspeed-up: keras-io epoch seconds / zoo epoch seconds, validation included, median "
          f"of epochs 2-{case.epochs} per fit, median of {args.pairs} adjacent pairs; "
          f"train-only: the same epochs up to their validation; {time.perf_counter() - start:.0f} "
          "s. Absolute numbers vary with the machine and its load; the ratios are what we track.")
    if args.device:
        print("\nThe README's row (Speed):\n" + readme_row(device, rows))
    return rows


def device_description():
    """The device `kz.fit` trains on here: the accelerators' kind, count and name, or the CPU."""
    import keras

    from keras_zoo.distribute import devices
    from keras_zoo.distribute.defaults import cpu_description

    kind = devices.device_kind()
    if kind == "cpu":
        return f"CPU: {cpu_description()}"
    if keras.backend.backend() == "jax":
        import jax

        names = [d.device_kind for d in jax.devices()]
    else:
        import tensorflow as tf

        names = [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                 for d in tf.config.list_physical_devices(kind.upper())]
    return f"{kind.upper()}: {len(names)} x {names[0]}, {keras.backend.backend()}"


def readme_row(device, rows):
    """A row of the README's speed table: the device, each published model's speed-up, the date."""
    speed = {row["model"]: f"{row['speed-up']} ({row['precision']})" for row in rows}
    cells = [speed.get(name, "not measured") for name in PUBLISHED]
    return f"| {device} | {' | '.join(cells)} | {time.strftime('%Y-%m-%d')} |"


if __name__ == "__main__":
    main()
