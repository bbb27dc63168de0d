"""What the image-folder scan costs: seconds and memory per 10,000 files.

`keras_zoo.data.sources.resolve(folder)` walks the folder, fingerprints the
files' names, sizes and modification times, indexes them with
`keras.utils.image_dataset_from_directory` and decodes every image once
(`scan_images`) before a run starts. This script writes N small PNGs in 10
class folders (a temp dir), then times `resolve(folder)` in a fresh process
per repeat (TensorFlow imported before the clock starts), and reads:

- seconds of `resolve`, and of its phases (walk and fingerprint, the Keras
  index, the decode scan), scaled to 10,000 files;
- peak memory: the process's max RSS before and after `resolve`
  (`getrusage(RUSAGE_SELF).ru_maxrss`; the growth is what the scan adds to
  the high-water mark), and in one more process the peak of Python's own
  allocations (`tracemalloc`, which slows Python code, so it is not timed).

The files are in the page cache (just written): warm-cache figures. The
machine's speed swings with load, so each figure is the median of the
repeats with their range.

    python scripts/folder_scan_benchmark.py                 # 10,000 files, 8x8 grey and 32x32 RGB
    python scripts/folder_scan_benchmark.py --files 2000 --sizes 8 --repeats 1   # quick
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = r"""
import json, os, resource, sys, time, tracemalloc
import keras, tensorflow as tf
from keras_zoo.data import sources

folder, traced = sys.argv[1], sys.argv[2] == "1"
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if traced:
    tracemalloc.start()
start = time.perf_counter()
entry = sources.resolve(folder, seed=0)
seconds = time.perf_counter() - start
out = {"seconds": seconds, "rss_before_kib": rss_before,
       "rss_after_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
       "files": entry.origin["files"]}
if traced:
    out["python_peak_bytes"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
else:  # the phases, again (same process, warm): walk + fingerprint, Keras index, decode scan
    root = os.path.abspath(folder)
    t0 = time.perf_counter()
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    paths = [os.path.join(root, c, f) for c in classes
             for f in sorted(sources._files_under(os.path.join(root, c)))]
    sources.fingerprint(paths)
    t1 = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(root, class_names=classes, batch_size=None,
                                                  shuffle=False, verbose=False)
    t2 = time.perf_counter()
    sources.scan_images(ds.file_paths)
    t3 = time.perf_counter()
    out.update(walk_fingerprint=t1 - t0, keras_index=t2 - t1, decode_scan=t3 - t2)
print("RESULT " + json.dumps(out))
"""


def write_pngs(root, files, side, channels, classes=10, seed=0):
    """`files` random PNGs of side x side x channels in `classes` class folders."""
    import keras

    rng = np.random.default_rng(seed)
    for c in range(classes):
        os.makedirs(os.path.join(root, f"class_{c}"), exist_ok=True)
    for i in range(files):
        image = rng.integers(0, 256, (side, side, channels), dtype=np.uint8)
        keras.utils.save_img(os.path.join(root, f"class_{i % classes}", f"{i:06d}.png"),
                             image, scale=False)


def run_child(folder, traced):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", CHILD, folder, "1" if traced else "0"],
                          capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the scan process failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def cpu_words():
    from keras_zoo.distribute.defaults import cpu_description

    return cpu_description()


def spread(values):
    return f"median {statistics.median(values):.2f}, range {min(values):.2f}..{max(values):.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32],
                        help="image sides; 8 is grey, larger sides RGB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf

    print(f"CPU: {cpu_words()}; load {os.getloadavg()[0]:.2f} at start; "
          f"TensorFlow {tf.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    per = 10_000 / args.files
    summary = []
    for side in args.sizes:
        channels = 1 if side <= 8 else 3
        root = tempfile.mkdtemp(prefix=f"scan_{side}px_")
        try:
            start = time.perf_counter()
            write_pngs(root, args.files, side, channels)
            print(f"\n{args.files} PNGs of {side}x{side}x{channels} in 10 class folders "
                  f"written in {time.perf_counter() - start:.1f} s ({root})", flush=True)
            runs = []
            for repeat in range(args.repeats):
                result = run_child(root, traced=False)
                assert result["files"] == args.files, result
                runs.append(result)
                print(f"  repeat {repeat + 1}: resolve {result['seconds']:.2f} s "
                      f"(walk+fingerprint {result['walk_fingerprint']:.2f}, keras index "
                      f"{result['keras_index']:.2f}, decode scan {result['decode_scan']:.2f}); "
                      f"max RSS {result['rss_before_kib'] / 1024:.0f} -> "
                      f"{result['rss_after_kib'] / 1024:.0f} MiB; load "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
            traced = run_child(root, traced=True)
            seconds = [r["seconds"] * per for r in runs]
            growth = [(r["rss_after_kib"] - r["rss_before_kib"]) / 1024 for r in runs]
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            line = (f"{side}x{side}x{channels}: {spread(seconds)} s per 10k files "
                    f"({args.repeats} repeats); phases per 10k, medians: walk+fingerprint "
                    f"{med['walk_fingerprint'] * per:.2f} s, keras index "
                    f"{med['keras_index'] * per:.2f} s, decode scan "
                    f"{med['decode_scan'] * per:.2f} s; max RSS after TensorFlow's import "
                    f"{med['rss_before_kib'] / 1024:.0f} MiB, after resolve "
                    f"{med['rss_after_kib'] / 1024:.0f} MiB (growth {spread(growth)} MiB); "
                    f"Python allocations peak (tracemalloc) "
                    f"{traced['python_peak_bytes'] / 2**20 * per:.1f} MiB per 10k files")
            summary.append(line)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("\nResult (warm page cache; the machine's speed swings with load):")
    for line in summary:
        print("  " + line)


if __name__ == "__main__":
    main()
