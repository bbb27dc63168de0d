"""How often `fit` traces the training step, and what a short fit costs, with and without
the zoo building the optimizer's and metrics' variables before the first trace.

Keras on TensorFlow without a tf.distribute strategy makes those variables inside the
first trace of the train function, and a `tf.function` that makes variables in its first
call traces a second time (tensorflow/tensorflow#48851). `kz.fit` builds them first
(`keras_zoo/training/loop.py`, `_build_model`). Each pair runs the two arms side by side
in this process (`built`: as `kz.fit` does; `lazy`: Keras's own order), alternating which
goes first; the script prints the traces, each pair's ratio lazy / built of the fit's
seconds, and their median, with the CPU kind.

    python scripts/trace_count.py                       # mlp on digits, 4 pairs
    python scripts/trace_count.py --model resnet20 --pairs 3
    python scripts/trace_count.py --model dcgan --steps 3
"""

import argparse
import statistics
import time

import keras

import keras_zoo as kz
from keras_zoo.distribute.defaults import cpu_description


_TRACES = [0]


def _count_traces():
    """Counts the calls of Keras's TensorFlow `train_step` and the DCGAN's: one per
    trace, as the step runs inside a graph."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from keras_zoo.models.gan import DCGAN

    for owner in (TensorFlowTrainer, DCGAN):
        def counted(self, *data, step=owner.train_step):
            _TRACES[0] += 1
            return step(self, *data)

        owner.train_step = counted


def _fit(model, dataset, steps, built):
    from keras_zoo.models.gan import _OptimizerPair

    symbolic_build, pair_build = keras.Model._symbolic_build, _OptimizerPair.build
    if not built:  # what Keras does without a strategy: nothing before the first trace
        keras.Model._symbolic_build = lambda self, iterator=None, data_batch=None: None
        _OptimizerPair.build = lambda self, variables=None: None  # the DCGAN's optimizers
    before = _TRACES[0]
    start = time.perf_counter()
    try:
        kz.fit(model, dataset, epochs=1, steps_per_epoch=steps, verbose=0, seed=0,
               model_args=kz.model_info(model).tiny or None)
    finally:
        keras.Model._symbolic_build, _OptimizerPair.build = symbolic_build, pair_build
    return time.perf_counter() - start, _TRACES[0] - before


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args(argv)
    _count_traces()
    _fit(args.model, args.dataset, args.steps, True)  # warm-up: data prepared, ops loaded
    ratios = []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        timed = {built: _fit(args.model, args.dataset, args.steps, built) for built in order}
        (built_s, built_traces), (lazy_s, lazy_traces) = timed[True], timed[False]
        ratios.append(lazy_s / built_s)
        print(f"pair {pair}: built {built_s:.2f} s ({built_traces} trace(s)), "
              f"lazy {lazy_s:.2f} s ({lazy_traces} trace(s)), lazy/built {ratios[-1]:.2f}x",
              flush=True)
    print(f"{args.model} on {args.dataset}, {args.steps} steps, {cpu_description()}: "
          f"median lazy/built {statistics.median(ratios):.2f}x over {len(ratios)} pairs")


if __name__ == "__main__":
    main()
