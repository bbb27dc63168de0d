"""Trains the offline recipes and publishes their weights into the package.

Each (model, dataset) below is fitted with its recipe (`kz.fit` defaults),
saved as a run folder under --runs, then published (`kz.publish`) into
keras_zoo/weights/pretrained/ as `<model>-<dataset>.weights.h5` and its entry JSON
(sha256, metrics, recipe, versions). Rerunning resumes or reuses finished runs.

    python scripts/make_weights.py                     # all five, recipe defaults
    python scripts/make_weights.py --only mlp --epochs 1 --out /tmp/pretrained   # a quick check
"""

import argparse
import os

import keras_zoo as kz
from keras_zoo import weights

SHIPPED = [("simple_cnn", "digits"), ("mlp", "digits"), ("lstm_seq2seq", "addition"),
           ("gpt_mini", "tiny_corpus"), ("dcgan", "digits")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/pretrained", help="run folders")
    parser.add_argument("--out", default=weights.PRETRAINED_DIR, help="where to publish")
    parser.add_argument("--only", help="one model name")
    parser.add_argument("--epochs", type=int, help="override the recipe (quick checks only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for model, dataset in SHIPPED:
        if args.only and model != args.only:
            continue
        run_dir = os.path.join(args.runs, f"{model}-{dataset}")
        result = kz.fit(model, dataset, epochs=args.epochs, seed=args.seed, output_dir=run_dir,
                        precision="float32", verbose=2)
        entry = kz.publish(run_dir, args.out, name=dataset)
        print(f"{model} on {dataset}: {result.metrics} -> {entry.file} ({entry.sha256[:12]})")


if __name__ == "__main__":
    main()
