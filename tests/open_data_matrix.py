"""Every model on each kind of the user's data it reads, on the backend of this process.

`python -m tests.open_data_matrix` prints the results as JSON (run under
`KERAS_BACKEND=jax` by `test_open_data.py`); on TensorFlow the test calls
`run_matrix()` in its own process. Each case fits the model's tiny variant
for one step on generated arrays and evaluates it on held-out arrays.
"""

import json
import os
import sys

import numpy as np

import keras_zoo as kz
from tests.helpers import DEEPER_VARIANTS

# Builder arguments the data decides; the tiny variants' other arguments are kept.
_DATA_ARGS = ("input_shape", "num_classes", "vocab_size", "sequence_length", "output_length")


def tiny_overrides(name):
    args = {k: v for k, v in kz.model_info(name).tiny.items() if k not in _DATA_ARGS}
    if "max_sequence_length" in args:  # BERT's position table holds the texts' 200 tokens
        args["max_sequence_length"] = 200
    return args


def user_data(kind, count=48, seed=0):
    """`(x, y)` arrays of a kind: images, texts, token ids or feature vectors."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count)
    if kind == "images":
        return rng.integers(0, 256, (count, 16, 16, 3)).astype("uint8"), y
    if kind == "texts":
        words = np.array(["alpha", "beta", "gamma", "delta", "eps"])
        texts = [" ".join(rng.choice(words, 12)) + f" c{label}" for label in y]
        return np.array(texts), np.array(["cat", "dog", "eel"])[y]
    if kind == "token ids":
        return rng.integers(1, 30, (count, 16)).astype("int32"), y
    return rng.random((count, 10)).astype("float32"), y  # feature vectors


def cases():
    """`[(model, kind)]`: every model with each kind of the user's data it reads (the
    deeper variants of another model read it as their sibling does)."""
    found = []
    for name in kz.list_models():
        if name in DEEPER_VARIANTS:
            continue
        info = kz.model_info(name)
        if info.task in ("language_modeling", "masked_language_modeling", "seq2seq"):
            continue  # they read token windows or pairs, not labelled examples
        if "image" in info.inputs:
            found.append((name, "images"))
        if "features" in info.inputs:
            found.append((name, "features"))
        if "text" in info.inputs:
            found += [(name, "texts"), (name, "token ids")]
    return found


def fitted_models():
    """The models `run_case` fits through `kz.fit`: every classifier and the GAN."""
    return {name for name, _ in cases()}


def run_case(name, kind, strategy="auto"):
    x, y = user_data(kind)
    result = kz.fit(name, (x, y), epochs=1, steps_per_epoch=1, batch_size=8, verbose=0,
                    seed=0, model_args=tiny_overrides(name), strategy=strategy)
    out = {"metrics": sorted(result.metrics),
           "finite": all(np.isfinite(v) for v in result.metrics.values()),
           "input_shape": list(result.model.inputs[0].shape[1:])}
    if kz.model_info(name).task != "image_generation":
        held_out = user_data(kind, count=12, seed=1)
        out["evaluated"] = sorted(kz.evaluate(result.model, held_out, batch_size=4))
    return out


def run_matrix(strategy="auto", only=None):
    results = {}
    for name, kind in only or cases():
        try:
            results[f"{name}:{kind}"] = run_case(name, kind, strategy)
        except Exception as error:  # reported per case by the test
            results[f"{name}:{kind}"] = {"error": f"{type(error).__name__}: {error}"[:1500]}
    return results


if __name__ == "__main__":
    import keras

    only = None
    if len(sys.argv) > 1:  # model:kind ...
        only = [tuple(arg.split(":", 1)) for arg in sys.argv[1:]]
    strategy = os.environ.get("OPEN_DATA_STRATEGY", "auto")
    print(json.dumps({"backend": keras.backend.backend(),
                      "results": run_matrix(strategy, only)}))
