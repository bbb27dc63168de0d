"""Measures what durable writes (fsync of each file and its folder) cost per epoch.

```
python scripts/fsync_cost.py --pairs 5 --epochs 6
```

Trains `mlp` on `digits` (offline) into a fresh run folder, once with
`keras_zoo.runs.folder.DURABLE` on and once off, as adjacent pairs in one process
(this machine's speed swings from minute to minute), and reports each
side's median epoch time (epochs 2 and later; every epoch end commits the
resume state, `history.csv` and, when the validation loss improved,
`checkpoints/best.keras`), the median of the pair ratios, and the median
extra time per epoch. First it times one epoch-end commit's writes
directly, with and without fsync, interleaved (a steadier figure).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import keras_zoo as kz  # noqa: E402
from keras_zoo import runs  # noqa: E402


class EpochSpan(keras.callbacks.Callback):
    """Time from one epoch's start to the next one's (so the epoch-end commit is inside)."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.starts.append(time.perf_counter())

    def spans(self):
        return [b - a for a, b in zip(self.starts, self.starts[1:])]


def one_run(durable, epochs, folder):
    runs.DURABLE = durable
    span = EpochSpan()
    kz.fit("mlp", "digits", epochs=epochs, seed=0, output_dir=folder, verbose=0,
           callbacks=[span])
    return statistics.median(span.spans()[1:])


def commit_times(repeats):
    """Median seconds of one epoch-end commit's writes, with and without fsync, interleaved.

    The files `RunState` and `BestCheckpoint` write at an epoch end: the
    weights with the optimizer state, `state.json` (keeping the previous
    one), `history.csv`, and `checkpoints/best.keras`.
    """
    model = kz.create_model("mlp", input_shape=(8, 8, 1), num_classes=10)
    kz.training.compile_model(model, "classification")
    model.optimizer.build(model.trainable_variables)
    folder = tempfile.mkdtemp(prefix="fsync_commit_")
    rows = {e: {"loss": 0.1, "accuracy": 0.9} for e in range(20)}
    times = {True: [], False: []}
    for i in range(repeats):
        for durable in ((True, False) if i % 2 == 0 else (False, True)):
            runs.DURABLE = durable
            start = time.perf_counter()
            runs.save_weights(model, os.path.join(folder, runs.BACKUP, "epoch-1.weights.h5"))
            runs.write_state(folder, {"epochs": 20, "weights": "epoch-1.weights.h5",
                                      "history": rows})
            runs.write_history_csv(os.path.join(folder, runs.HISTORY), rows)
            runs.save_model(model, os.path.join(folder, runs.BEST))
            times[durable].append(time.perf_counter() - start)
    runs.DURABLE = True
    return statistics.median(times[True]), statistics.median(times[False])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--commits", type=int, default=40,
                        help="epoch-end commits timed directly, each way")
    args = parser.parse_args()
    durable, plain = commit_times(args.commits)
    print(f"one epoch-end commit (mlp, {args.commits} interleaved repeats): "
          f"{durable * 1000:.1f} ms with fsync, {plain * 1000:.1f} ms without, "
          f"+{(durable - plain) * 1000:.1f} ms", flush=True)
    root = tempfile.mkdtemp(prefix="fsync_cost_")
    one_run(True, 2, os.path.join(root, "warmup"))
    ratios, extra = [], []
    for i in range(args.pairs):
        sides = [(True, "on"), (False, "off")] if i % 2 == 0 else [(False, "off"), (True, "on")]
        times = {}
        for durable, name in sides:
            times[name] = one_run(durable, args.epochs, os.path.join(root, f"{i}-{name}"))
        ratios.append(times["on"] / times["off"])
        extra.append(times["on"] - times["off"])
        print(f"pair {i + 1}: epoch {times['on'] * 1000:.0f} ms with fsync, "
              f"{times['off'] * 1000:.0f} ms without, ratio {ratios[-1]:.3f}", flush=True)
    print(f"median ratio with/without fsync: {statistics.median(ratios):.3f}; "
          f"median extra time per epoch: {statistics.median(extra) * 1000:.1f} ms "
          f"({args.pairs} adjacent pairs, mlp on digits, {args.epochs} epochs each)")


if __name__ == "__main__":
    main()
