"""Does pretraining pay? bert_mini pretrained on unlabelled docstrings, fine-tuned on 10% of labels.

Per seed: pretrain `bert_mini` on `stdlib_docstrings_text` (the training
docstrings as text, masked-LM; the test docstrings are never read), then
fine-tune `bert_classifier` from that run on `stdlib_docstrings_10pct`
(about 120 labelled docstrings), both with their registered recipes, through
`kz.fit(..., weights=run)`; train the same `bert_classifier` with the same
recipe from scratch. Baselines on the same labelled tenth (its training and
validation docstrings, the same first 128 characters the models read): a
character 2-5-gram TF-IDF logistic regression (scikit-learn), and the
majority class. Prints median, min and max test accuracy over the seeds and
writes the rows into `results/results.csv` (then README's table, as
`scripts/results.py --readme`).

    python scripts/pretraining_pays.py --seeds 0 1 2
    python scripts/pretraining_pays.py --seeds 0 --keep runs/pays --no-write
    python scripts/pretraining_pays.py --seeds 0 1 2 --from-runs runs/pays   # tabulate again
"""

import argparse
import collections
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

TEXT, LABELLED = "stdlib_docstrings_text", "stdlib_docstrings_10pct"
PRETRAINED = "bert_classifier+bert_mini"  # the results table's name of the fine-tuned model
METHODS = (PRETRAINED, "bert_classifier", "char_ngram_logreg", "majority_class")


def texts_and_labels(split, length):
    """The `(texts, labels)` of a split of the labelled view, texts cut to `length` characters."""
    import tensorflow_datasets as tfds

    from keras_zoo import data

    recipe = data.DATASETS[LABELLED]
    dataset = tfds.load(recipe.builder_name, split=split)
    examples = list(tfds.as_numpy(dataset))
    return ([e["text"].decode("utf-8")[:length] for e in examples],
            [int(e["label"]) for e in examples])


def baselines(seed):
    """Test accuracy of the character n-gram logistic regression and of the majority class."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from keras_zoo import data

    recipe = data.DATASETS[LABELLED]
    length = recipe.sequence_length
    x, y = texts_and_labels(f"{recipe.train_split}+{recipe.validation_split}", length)
    x_test, y_test = texts_and_labels(recipe.test_split, length)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True)
    classifier = LogisticRegression(max_iter=5000, random_state=seed)
    classifier.fit(vectorizer.fit_transform(x), y)
    ngram = classifier.score(vectorizer.transform(x_test), y_test)
    majority = collections.Counter(y).most_common(1)[0][0]
    return {"char_ngram_logreg": ngram,
            "majority_class": sum(label == majority for label in y_test) / len(y_test)}


def measure(seed, workdir):
    """One seed of every method: `{method: (test accuracy, seconds)}`."""
    import keras_zoo as kz

    results = {}
    start = time.time()
    pretrain = os.path.join(workdir, f"bert-pretrain-{seed}")
    kz.fit("bert_mini", TEXT, seed=seed, verbose=0, output_dir=pretrain)
    tuned = kz.fit("bert_classifier", LABELLED, seed=seed, verbose=0, weights=pretrain,
                   output_dir=os.path.join(workdir, f"bert-fine-tune-{seed}"))
    results[PRETRAINED] = (tuned.metrics["accuracy"], time.time() - start)
    start = time.time()
    scratch = kz.fit("bert_classifier", LABELLED, seed=seed, verbose=0,
                     output_dir=os.path.join(workdir, f"bert-scratch-{seed}"))
    results["bert_classifier"] = (scratch.metrics["accuracy"], time.time() - start)
    start = time.time()
    for method, value in baselines(seed).items():
        results[method] = (value, time.time() - start)
    for method in METHODS:
        print(f"seed {seed}: {method:<26} test accuracy {results[method][0]:.4f} "
              f"({results[method][1]:.0f} s)", flush=True)
    return results


def from_runs(seed, workdir):
    """One seed's `{method: (test accuracy, seconds)}` from the run folders of `--keep`.

    The networks' accuracies are their runs' `metrics.json`; their seconds,
    the time from writing `config.json` to `metrics.json` (pretraining plus
    fine-tuning for the pretrained model). The baselines are fitted again.
    """
    import json

    def run(name):
        folder = pathlib.Path(workdir) / f"{name}-{seed}"
        metrics = json.loads((folder / "metrics.json").read_text())
        return metrics["accuracy"], ((folder / "metrics.json").stat().st_mtime
                                     - (folder / "config.json").stat().st_mtime)

    (tuned, tuning), (_, pretraining) = run("bert-fine-tune"), run("bert-pretrain")
    results = {PRETRAINED: (tuned, pretraining + tuning), "bert_classifier": run("bert-scratch")}
    start = time.time()
    for method, value in baselines(seed).items():
        results[method] = (value, time.time() - start)
    return results


# What each method's row is compared with: (the method beaten, in words).
TARGETS = {PRETRAINED: "bert_classifier", "bert_classifier": "majority_class",
           "char_ngram_logreg": "majority_class", "majority_class": None}


def rows(per_seed, seeds):
    """The results-table rows (see scripts/results.py) of every method.

    Each row's target: beat the method it is compared with (`TARGETS`) at
    the median; the majority class, a uniform guess (1/8).
    """
    import results as table

    meta = table.run_metadata()
    medians = {m: statistics.median(r[m][0] for r in per_seed) for m in METHODS}
    medians[None] = 1 / 8
    out = []
    for method in METHODS:
        values = [r[method][0] for r in per_seed]
        other = TARGETS[method]
        target = f"> {other or 'uniform guess'} ({medians[other]:.4f})"
        met = "yes" if medians[method] > medians[other] else "no"
        out.append({
            "model": method, "dataset": LABELLED, "metric": "accuracy",
            "median": f"{medians[method]:.4f}", "min": f"{min(values):.4f}",
            "max": f"{max(values):.4f}", "seeds": str(len(seeds)),
            "wall_s": f"{statistics.median(r[method][1] for r in per_seed):.0f}",
            "target": target, "met": met, **meta})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--keep", default="", help="keep the run folders under this folder")
    parser.add_argument("--no-write", action="store_true",
                        help="print the table only; leave results/results.csv alone")
    parser.add_argument("--from-runs", default="",
                        help="train nothing: tabulate the run folders a --keep run left here")
    args = parser.parse_args()
    start = time.time()
    if args.from_runs:
        per_seed = [from_runs(seed, args.from_runs) for seed in args.seeds]
    else:
        with tempfile.TemporaryDirectory(prefix="keras_zoo_pays_") as scratch:
            workdir = args.keep or scratch
            os.makedirs(workdir, exist_ok=True)
            per_seed = [measure(seed, workdir) for seed in args.seeds]
    table_rows = rows(per_seed, args.seeds)
    print(f"\nTest accuracy on {LABELLED}, seeds {' '.join(map(str, args.seeds))} "
          f"({time.time() - start:.0f} s in all):")
    print(f"{'method':<26} {'median':>7} {'min':>7} {'max':>7}")
    for row in table_rows:
        print(f"{row['model']:<26} {row['median']:>7} {row['min']:>7} {row['max']:>7}")
    if not args.no_write:
        import results as table

        table.write_rows(table_rows)
        table.update_readme(table.read_rows())


if __name__ == "__main__":
    main()
