"""Linear baselines for the generated sequence datasets, on the zoo's own splits.

For each dataset, logistic regressions fitted on the training split and
scored on the test split:

- positions: the raw token ids, one feature per position (a
  "bag of positions": a weighted sum of what sits where);
- counts: how often each token occurs (a bag of words, order ignored).

A task that a position-wise linear model solves does not need a sequence
model; the zoo's sequence recipes should at least match it.

    python scripts/sequence_baselines.py             # half_sums
    python scripts/sequence_baselines.py --dataset half_sums
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _features(name, split):
    import numpy as np
    import tensorflow_datasets as tfds

    import keras_zoo  # noqa: F401  registers the offline builders
    from keras_zoo.data import pipeline

    builder = pipeline._builder(name, None)  # generated on first use
    examples = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    texts = [t.decode() for t in examples["text"]]
    positions = np.array([[int(tok) for tok in t.split()] for t in texts], "float64")
    counts = np.stack([(positions == v).sum(1) for v in range(10)], axis=1).astype("float64")
    return positions, counts, examples["label"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="half_sums")
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    from keras_zoo.data.entries import DATASETS

    recipe = DATASETS[args.dataset]
    train_pos, train_counts, train_y = _features(args.dataset, recipe.train_split)
    test_pos, test_counts, test_y = _features(args.dataset, recipe.test_split)
    for label, train_x, test_x in (("positions", train_pos, test_pos),
                                   ("counts", train_counts, test_counts)):
        model = LogisticRegression(C=100.0, max_iter=5000).fit(train_x, train_y)
        wrong = int((model.predict(test_x) != test_y).sum())
        print(f"{args.dataset} logistic regression on {label}: test accuracy "
              f"{1 - wrong / len(test_y):.4f} ({wrong} of {len(test_y)} wrong)")


if __name__ == "__main__":
    main()
