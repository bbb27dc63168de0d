"""The results table: every recipe with an expected result, run for N seeds.

For each registered `(model, dataset)` recipe that has an `expected`
result and whose data is on this machine (the offline datasets always; a
tfds dataset once prepared), fits the model with the recipe's defaults for
each seed, evaluates the model validation chose once on the test split, and
writes `results/results.csv`: model, dataset, metric, median, min, max,
seeds, median wall time, device, versions, commit, target, met. Recipes
whose data is not here are listed with the reference's number, marked as
not yet reproduced — never with a number nobody measured.

    python scripts/results.py --seeds 3                  # the README table
    python scripts/results.py --only simple_cnn:digits --seeds 1
    python scripts/results.py --readme                   # rewrite README's table from the CSV
    python scripts/results.py --only mlp:digits --keep runs/results   # keep the run folders

The README's "Results" table is generated from the CSV (`--readme`), and
`tests/test_readme.py` checks that they agree.
"""

import argparse
import csv
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CSV = ROOT / "results" / "results.csv"
README = ROOT / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
FIELDS = ("model", "dataset", "metric", "median", "min", "max", "seeds", "wall_s", "target",
          "met", "device", "versions", "commit")


def runnable(dataset):
    """Whether the dataset's data is on this machine (offline, or prepared for tfds)."""
    import keras_zoo as kz
    from keras_zoo.data import pipeline

    if dataset in pipeline.offline_datasets():
        return True
    try:
        kz.load_dataset(dataset, "test[:1]", batch_size=1)
    except kz.DatasetNotAvailableError:
        return False
    return True


def measure(model, dataset, seed, workdir):
    """Fits one seed with the recipe's defaults; returns (test metrics, seconds)."""
    import keras_zoo as kz

    start = time.time()
    result = kz.fit(model, dataset, seed=seed, verbose=0,
                    output_dir=os.path.join(workdir, f"{model}-{dataset}-{seed}"))
    metrics = dict(result.metrics)
    if kz.model_info(model).task == "image_generation":
        metrics.update(kz.evaluate(result.output_dir, dataset))
    return metrics, time.time() - start


def target_text(expected):
    arrow = ">=" if expected.higher_is_better else "<="
    bound = expected.value - expected.tolerance if expected.higher_is_better \
        else expected.value + expected.tolerance
    return f"{arrow} {bound:g}"


def run_metadata():
    """The `device`, `versions` and `commit` fields of a row measured here, now."""
    import keras

    import keras_zoo as kz
    from keras_zoo import distribute
    from keras_zoo.distribute import defaults

    versions = f"keras-zoo {kz.__version__}, keras {keras.__version__} ({keras.backend.backend()})"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if changed and commit != "unknown":
        commit += "+changes"  # measured on a tree with uncommitted changes to tracked files
    kind = distribute.device_kind()
    # A CPU's time depends on its kind (AVX2 only, AVX512-BF16, AMX: docs/performance.md).
    device = f"cpu: {defaults.cpu_description()}" if kind == "cpu" else \
        f"{kind} {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return {"device": device, "versions": versions, "commit": commit}


def rows_for(selected, seeds, workdir):
    from keras_zoo import recipes

    meta = run_metadata()
    for (model, dataset), recipe in sorted(recipes.registered_recipes().items()):
        if model == recipes.GENERIC or recipe.expected is None:
            continue
        if selected and f"{model}:{dataset}" not in selected:
            continue
        expected = recipe.expected
        row = {"model": model, "dataset": dataset, "metric": expected.metric,
               "target": target_text(expected), **meta}
        if not runnable(dataset):
            row.update(median=f"{expected.value:g}", min="", max="", seeds="", wall_s="",
                       met=f"not yet reproduced ({expected.source})")
            yield row
            continue
        values, times = [], []
        for seed in range(seeds):
            metrics, seconds = measure(model, dataset, seed, workdir)
            values.append(metrics[expected.metric])
            times.append(seconds)
            print(f"{model} on {dataset}, seed {seed}: {expected.metric} "
                  f"{values[-1]:.4f} ({seconds:.0f} s)", flush=True)
        median = statistics.median(values)
        met = expected.met_by({expected.metric: median})
        row.update(median=f"{median:.4f}", min=f"{min(values):.4f}", max=f"{max(values):.4f}",
                   seeds=str(seeds), wall_s=f"{statistics.median(times):.0f}",
                   met="yes" if met else "no")
        yield row


def read_rows(path=CSV):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(rows, path=CSV):
    """Merges `rows` into the CSV (a re-measured (model, dataset) replaces its row)."""
    old = {(r["model"], r["dataset"]): r for r in read_rows(path)} if path.exists() else {}
    old.update({(r["model"], r["dataset"]): r for r in rows})
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(old[key] for key in sorted(old))
    os.replace(tmp, path)


def markdown(rows):
    """The README's results table, from the CSV's rows."""
    lines = ["| model | dataset | test metric | median | min | max | seeds | target | met | "
             "wall s |", "|---|---|---|---:|---:|---:|---:|---|---|---:|"]
    for r in rows:
        lines.append(f"| `{r['model']}` | `{r['dataset']}` | {r['metric']} | {r['median']} | "
                     f"{r['min']} | {r['max']} | {r['seeds']} | {r['target']} | {r['met']} | "
                     f"{r['wall_s']} |")
    return "\n".join(lines)


def update_readme(rows):
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{markdown(rows)}\n{END}{tail}", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated MODEL:DATASET pairs")
    parser.add_argument("--keep", default="",
                        help="write the run folders under this (new) folder and keep them "
                             "(default: a temporary folder, deleted)")
    parser.add_argument("--readme", action="store_true",
                        help="only rewrite README's results table from the CSV")
    args = parser.parse_args()
    if not args.readme:
        selected = {s for s in args.only.split(",") if s}
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            write_rows(list(rows_for(selected, args.seeds, args.keep)))
        else:
            with tempfile.TemporaryDirectory(prefix="keras_zoo_results_") as workdir:
                write_rows(list(rows_for(selected, args.seeds, workdir)))
    update_readme(read_rows())
    print(markdown(read_rows()))


if __name__ == "__main__":
    main()
