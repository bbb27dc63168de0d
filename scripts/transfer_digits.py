"""Transfer on offline data: digits 0-4 pretraining -> fine-tuning on 10% of digits 5-9.

Pretrains a model on the digits of classes 0-4 (all their training images;
a 10-class head), then trains a 5-class model on a 10% labelled subset of classes 5-9, either
from the pretrained backbone (`create_model(weights=<pretrained run>)` with a
new head, backbone frozen, then unfrozen at 1e-5 with `unfreeze_callback`,
the keras-io recipe) or from scratch; test accuracy on all test images of
classes 5-9. Prints the median over seeds.

    python scripts/transfer_digits.py --model simple_cnn --seeds 0 1 2
"""

import argparse
import os
import statistics
import tempfile

import numpy as np

import keras_zoo as kz
from keras_zoo import weights


def split(name, classes, fraction=1.0, seed=0):
    """Images (0..1) and labels (relabelled 0..4) of `classes` from a digits split."""
    xs, ys = [], []
    for x, y in kz.load_dataset("digits", name, batch_size=256, shuffle=False):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = np.isin(y, classes)
    x, y = x[keep], np.searchsorted(classes, y[keep])
    if fraction < 1.0:
        rng = np.random.default_rng(seed)
        index = rng.permutation(len(y))[: max(len(classes), int(len(y) * fraction))]
        x, y = x[index], y[index]
    return x, y


def compiled(model, lr=1e-3):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss="sparse_categorical_crossentropy",  # the zoo's softmax head
                  metrics=["accuracy"])
    return model


def run(model_name, seed, folder, head_epochs, tune_epochs, fraction):
    import keras

    keras.utils.set_random_seed(seed)
    # The digits recipe's architecture (e.g. simple_cnn's "same" padding for 8x8 images).
    args = {**(kz.recipe(model_name, "digits").model_args or {}),
            "input_shape": (8, 8, 1), "num_classes": 5}
    a, b = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    xa, ya = split("train", a)
    xb, yb = split("train", b, fraction, seed)
    xt, yt = split("test", b)
    # The pretrained model is the 10-class digits classifier shown only 0-4, so the
    # 5-class fine-tune gets a new head, as `fit(weights=...)` does when the classes differ.
    pre = compiled(kz.create_model(model_name, **{**args, "num_classes": 10}))
    pre.fit(xa, ya, epochs=20, batch_size=32, verbose=0)
    path = os.path.join(folder, f"pre-{seed}.weights.h5")
    pre.save_weights(path)
    epochs = head_epochs + tune_epochs
    scratch = compiled(kz.create_model(model_name, **args))
    scratch.fit(xb, yb, epochs=epochs, batch_size=16, verbose=0)
    tuned = kz.create_model(model_name, weights=path, **args)
    weights.freeze_backbone(tuned)
    compiled(tuned).fit(xb, yb, epochs=epochs, batch_size=16, verbose=0,
                        callbacks=[weights.unfreeze_callback(head_epochs)])
    return (scratch.evaluate(xt, yt, verbose=0)[1], tuned.evaluate(xt, yt, verbose=0)[1],
            len(yb))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--tune-epochs", type=int, default=20)
    args = parser.parse_args(argv)
    scratch, tuned = [], []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            s, t, n = run(args.model, seed, folder, args.head_epochs, args.tune_epochs,
                          args.fraction)
            scratch.append(s)
            tuned.append(t)
            print(f"seed {seed}: {n} labelled images; scratch {s:.4f}, fine-tuned {t:.4f}",
                  flush=True)
    print(f"{args.model}: median test accuracy on digits 5-9 from {args.fraction:.0%} labels: "
          f"scratch {statistics.median(scratch):.4f}, pretrained on 0-4 and fine-tuned "
          f"{statistics.median(tuned):.4f} (seeds {args.seeds})")


if __name__ == "__main__":
    main()
