"""XLA or not: `kz.fit` with `jit_compile` True against False, per epoch, in adjacent pairs.

`keras_zoo/distribute/defaults.py` turns XLA on for the families in
`CPU_JIT_FAMILIES` on a CPU under TensorFlow; this script measures what that
buys. Each arm is an unseeded `kz.fit(MODEL, DATASET, steps_per_epoch=STEPS)`
(a seeded run keeps Keras's op determinism, which excludes XLA) with only
`jit_compile` changed; each fit is timed per epoch by a Keras callback (the
median of the epochs after the first, so XLA's compile is left out and printed
apart), after one untimed warm-up fit per arm. The order alternates between
pairs; the script prints each pair's ratio no XLA / XLA of the epoch seconds,
their median and the device (the CPU kind).

    python scripts/xla_benchmark.py                                   # gpt_mini on tiny_corpus
    python scripts/xla_benchmark.py --model bert_mini --pairs 3
"""

import argparse
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import keras_zoo as kz  # noqa: E402
from benchmark import _clock, _timed, device_description  # noqa: E402
from keras_zoo import distribute  # noqa: E402


def timed_fit(model, dataset, jit, epochs, steps):
    """(median epoch seconds after the first, the first epoch's seconds) of one fit.

    Epochs are timed whole, validation included (`benchmark._clock`).
    """
    default = distribute.jit_compile
    distribute.jit_compile = lambda *args, **kwargs: jit  # what `plan_fit` asks
    clock = _clock()
    try:
        result = kz.fit(model, dataset, epochs=epochs, steps_per_epoch=steps,
                        callbacks=[clock], verbose=0)
    finally:
        distribute.jit_compile = default
    assert result.model.jit_compile is jit
    return _timed(clock)[0], clock.whole[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt_mini")
    parser.add_argument("--dataset", default="tiny_corpus")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="per fit; the first is not timed")
    parser.add_argument("--steps", type=int, default=32, help="steps per epoch")
    args = parser.parse_args(argv)
    print(f"{device_description()}; {args.model} on {args.dataset}, "
          f"{args.steps} steps per epoch", flush=True)
    for jit in (False, True):
        timed_fit(args.model, args.dataset, jit, 1, args.steps)  # warm-ups
    ratios = []
    for pair in range(args.pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        times = {jit: timed_fit(args.model, args.dataset, jit, args.epochs, args.steps)
                 for jit in order}
        ratios.append(times[False][0] / times[True][0])
        print(f"  pair {pair + 1}/{args.pairs}: epoch {times[False][0]:.2f} s without XLA, "
              f"{times[True][0]:.2f} s with (first epoch {times[False][1]:.1f} s and "
              f"{times[True][1]:.1f} s): {ratios[-1]:.2f}x", flush=True)
    print(f"{args.model}: XLA / no XLA {statistics.median(ratios):.2f}x "
          f"(pairs {', '.join(f'{r:.2f}' for r in ratios)})")
    return ratios


if __name__ == "__main__":
    main()
