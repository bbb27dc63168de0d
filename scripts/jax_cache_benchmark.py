"""Measures JAX's persistent compilation cache: a second process against the first.

Each pair starts with an empty cache folder and runs the same small fit
(`kz.fit(MODEL, DATASET, epochs=1)` under `KERAS_BACKEND=jax`) in a fresh
process twice: the first process compiles and fills the cache, the second can
read it. It prints, per pair, the seconds from process start to the end of the
first training step and to the end of the fit, the second/first ratio of each,
and the median ratio over the pairs. The control pairs run the same two
processes with the cache off (`KERAS_ZOO_JAX_CACHE=0`): what a second process
gains anyway (files in the OS page cache), so the cache's own share is the
difference. Pairs with and without the cache alternate.

    python scripts/jax_cache_benchmark.py            # 3 pairs each, simple_cnn on digits
    python scripts/jax_cache_benchmark.py --pairs 1 --no-control
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, sys, time
start = float(os.environ["BENCH_START"])
import keras
import keras_zoo as kz
from keras_zoo.distribute import compile_cache

class FirstStep(keras.callbacks.Callback):
    first = None
    def on_train_batch_end(self, batch, logs=None):
        if FirstStep.first is None:
            FirstStep.first = time.time() - start

kz.fit(sys.argv[1], sys.argv[2], epochs=1, seed=0, callbacks=[FirstStep()], verbose=0)
total = time.time() - start
print("RESULT " + json.dumps({"first_step": FirstStep.first, "total": total,
                              "cache": compile_cache.state()}))
"""


def run_once(model, dataset, cache):
    env = dict(os.environ, KERAS_BACKEND="jax", KERAS_ZOO_JAX_CACHE=cache,
               BENCH_START=repr(time.time()))
    out = subprocess.run([sys.executable, "-c", CHILD, model, dataset], env=env,
                         capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        sys.exit(f"child failed (rc {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def entries(folder):
    return sum(len(files) for _, _, files in os.walk(folder)) if os.path.isdir(folder) else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--no-control", action="store_true", help="skip the cache-off pairs")
    args = parser.parse_args()

    import jax

    from keras_zoo.distribute.defaults import cpu_description

    print(f"CPU: {cpu_description()}; "
          f"load {os.getloadavg()[0]:.1f}; jax {jax.__version__}; python {platform.python_version()}")
    print(f"fit: {args.model} on {args.dataset}, 1 epoch, KERAS_BACKEND=jax, fresh process each")
    kinds = ["cache"] + ([] if args.no_control else ["control"])
    ratios = {k: {"first_step": [], "total": []} for k in kinds}
    for pair in range(args.pairs):
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix="jax-cache-bench-") as tmp:
                folder = os.path.join(tmp, "jax") if kind == "cache" else "0"
                first = run_once(args.model, args.dataset, folder)
                written = entries(folder) if kind == "cache" else 0
                second = run_once(args.model, args.dataset, folder)
            row = []
            for key in ("first_step", "total"):
                ratio = second[key] / first[key]
                ratios[kind][key].append(ratio)
                row.append(f"{key} {first[key]:.1f} s -> {second[key]:.1f} s ({ratio:.2f}x)")
            extra = f", {written} cache files after the first" if kind == "cache" else ""
            print(f"pair {pair + 1} {kind:7s}: " + "; ".join(row) + extra, flush=True)
    for kind in kinds:
        parts = []
        for key in ("first_step", "total"):
            values = ratios[kind][key]
            parts.append(f"{key} second/first median {statistics.median(values):.2f}x "
                         f"(range {min(values):.2f}-{max(values):.2f}, {len(values)} pairs)")
        print(f"{kind:7s}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
