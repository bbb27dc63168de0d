"""The user's own data, measured: a folder of real images or texts against the zoo's name.

Writes two folders from real data, one sub-folder per class:

- images: scikit-learn's digits (`sklearn.datasets.load_digits`, 1,797 8x8
  grey images, 0..16 scaled to 0..255), one PNG each in `0`..`9`;
- texts: the offline `stdlib_docstrings` dataset (train and test splits),
  one `.txt` per docstring in a sub-folder named by its package.

Then fits, for each seed, the model on the folder with the zoo's defaults
(`kz.fit(model, folder, seed=s)`: the generic recipe of the data's kind,
validation and test carved from the folder, 10% of each class each, by the
seed) and on the curated dataset by name (`kz.fit(model, name, seed=s)`: its
own recipe and fixed splits), and prints the test accuracies, their median
and the seconds per fit. The two test sets differ: a folder's test set is
its seeded carve, a name's is the dataset's fixed test split.

    python scripts/open_data_results.py --seeds 0 1 2
    python scripts/open_data_results.py --crossed     # also each source with the other's recipe
    python scripts/open_data_results.py --quick   # 2 epochs each: a smoke run, not a figure
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

PAIRS = (  # (model, curated dataset name, folder kind)
    ("simple_cnn", "digits", "image"),
    ("transformer_classifier", "stdlib_docstrings", "text"),
)


def write_digits_folder(root):
    """1,797 PNGs of sklearn's digits, 0..16 scaled to 0..255, in class folders 0..9."""
    import keras
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        pixels = np.round(image * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        keras.utils.save_img(os.path.join(folder, f"{i:04d}.png"), pixels[..., None],
                             scale=False)
    return len(digits.target)


def write_docstrings_folder(root):
    """One .txt per stdlib_docstrings docstring (train and test), in package folders."""
    import tensorflow_datasets as tfds

    import keras_zoo.data  # noqa: F401  (registers the offline builders)

    builder = tfds.builder("stdlib_docstrings")
    builder.download_and_prepare()
    names = builder.info.features["label"].names
    count = 0
    for example in tfds.as_numpy(builder.as_dataset(split="train+test", shuffle_files=False)):
        folder = os.path.join(root, names[int(example["label"])])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{count:05d}.txt"), "w", encoding="utf-8") as f:
            f.write(example["text"].decode("utf-8"))
        count += 1
    return count


WORKAROUND = []  # said once in the printout when used


def fit_once(model, dataset, seed, epochs, recipe=None):
    """`(test accuracy, seconds)` of `kz.fit(model, dataset, seed=seed)` with the defaults.

    A text folder's entry is named by its absolute path, and the zoo names its
    TextVectorization layer f"{name}_vectorizer", which Keras refuses ("cannot
    contain character `/`"). Until the zoo fixes it, such a fit is retried on
    the same entry (`sources.resolve(folder, seed=seed)`: the same carve, the
    same recipe) renamed without the slashes; the printout says so.
    """
    import dataclasses

    import keras_zoo as kz
    from keras_zoo.data import sources

    options = dict(seed=seed, verbose=0, **({"epochs": epochs} if epochs else {}),
                   **({"recipe": recipe} if recipe is not None else {}))
    start = time.perf_counter()
    try:
        result = kz.fit(model, dataset, **options)
    except ValueError as error:
        if "cannot contain character `/`" not in str(error):
            raise
        if not WORKAROUND:
            WORKAROUND.append(f"kz.fit({model!r}, folder) failed: {error}")
            print(f"  note: {WORKAROUND[0]}\n  retrying on sources.resolve(folder, seed) "
                  "renamed without '/' (same carve, same recipe)", flush=True)
        entry = sources.resolve(dataset, seed=seed)
        entry = dataclasses.replace(entry, name=os.path.basename(entry.name.rstrip("/")))
        start = time.perf_counter()
        result = kz.fit(model, entry, **options)
    return float(result.metrics["accuracy"]), time.perf_counter() - start


def cpu_words():
    from keras_zoo.distribute.defaults import cpu_description

    return f"{cpu_description()}, load {os.getloadavg()[0]:.2f} at start"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true",
                        help="2 epochs per fit, for a smoke run; the figures are the defaults'")
    parser.add_argument("--only", choices=[p[0] for p in PAIRS], nargs="+",
                        help="models to run (default: all)")
    parser.add_argument("--folder", help="where to write the folders (default: a temp dir)")
    parser.add_argument("--crossed", action="store_true",
                        help="also each source with the other's recipe (the folder with the "
                        "name's tuned recipe, the name with the generic recipe of its kind), to "
                        "tell the recipe's share of a gap from the data path's")
    args = parser.parse_args()
    epochs = 2 if args.quick else None

    import keras
    import tensorflow as tf

    import keras_zoo as kz

    base = args.folder or tempfile.mkdtemp(prefix="open_data_")
    print(f"CPU: {cpu_words()}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    folders = {}
    for model, name, kind in PAIRS:
        if args.only and model not in args.only:
            continue
        root = os.path.join(base, f"{name}_{kind}_folder")
        if not os.path.isdir(root):
            count = (write_digits_folder if kind == "image" else write_docstrings_folder)(root)
            print(f"wrote {count} {kind} files into {root}")
        folders[model] = root

    rows = []
    for model, name, kind in PAIRS:
        if model not in folders:
            continue
        generic, tuned = kz.recipe(model, None, kind=kind), kz.recipe(model, name)
        cases = [(f"{kind} folder", folders[model], generic, None),
                 (f"name {name!r}", name, tuned, None)]
        if args.crossed:
            cases += [(f"{kind} folder, {name}'s recipe", folders[model], tuned, tuned),
                      (f"name {name!r}, generic recipe", name, generic, generic)]
        for label, dataset, recipe, override in cases:
            accuracies, seconds = [], []
            for seed in args.seeds:
                accuracy, took = fit_once(model, dataset, seed, epochs, override)
                accuracies.append(accuracy)
                seconds.append(took)
                print(f"  {label:40s} {model:24s} seed {seed}: test accuracy {accuracy:.4f} "
                      f"in {took:.0f} s", flush=True)
            rows.append((label, model, recipe.epochs if epochs is None else epochs,
                         args.seeds, accuracies, seconds))

    print()
    if args.quick:
        print("QUICK RUN (2 epochs per fit): a smoke test, not the defaults' figures.")
    print("Test sets differ: a folder's test set is its own carve (10% of each class, by the "
          "seed); a name's is the dataset's fixed test split (digits: 20%; "
          "stdlib_docstrings: 20% by a hash of the qualified name).")
    header = (f"{'source':40s} {'model':24s} {'epochs':>6s} {'seeds':8s} "
              f"{'test accuracies':26s} {'median':>7s} {'seconds (median)':>17s}")
    if WORKAROUND:
        print(f"Text folder: {WORKAROUND[0]}; measured on the same entry renamed without '/' "
              "(the same carve and recipe).")
    print(header)
    print("-" * len(header))
    for label, model, n_epochs, seeds, accuracies, seconds in rows:
        print(f"{label:40s} {model:24s} {n_epochs:>6d} {' '.join(map(str, seeds)):8s} "
              f"{' '.join(f'{a:.4f}' for a in accuracies):26s} "
              f"{statistics.median(accuracies):7.4f} {statistics.median(seconds):17.0f}")


if __name__ == "__main__":
    main()
