"""Profile of the DCGAN digits recipe's training step: where an epoch's time goes.

Each measurement runs in a fresh process (thread counts and oneDNN settings are
read when TensorFlow starts), and every variant is timed against the recipe's
own settings in adjacent pairs (A B, then B A, ...): the script prints each
pair's ratio and their median, with the CPU kind.

    python scripts/dcgan_profile.py                      # every variant, 3 pairs
    python scripts/dcgan_profile.py --variant jit --pairs 5
    python scripts/dcgan_profile.py --epoch-parts        # an epoch's train / backup / grid / logs
    python scripts/dcgan_profile.py --trace              # the step's ops, by time (tf.profiler)

A variant's `ms/step` is the median over the timed epochs (after a warm-up
epoch) of an epoch's training time divided by its steps; epoch-end
callbacks are not in it (`--epoch-parts` times them).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# name -> (environment, options of the child); "recipe" is what `keras-zoo train
# dcgan --dataset digits` runs.
VARIANTS = {
    "recipe": ({}, {}),
    "onednn": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {}),
    "no_onednn": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),
    "onednn_isa_avx2": ({"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"}, {}),
    "onednn_spe20": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {"steps_per_execution": 20}),
    "onednn_no_ema": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {"ema": False}),
    "onednn_threads1": ({"TF_ENABLE_ONEDNN_OPTS": "1", "TF_NUM_INTRAOP_THREADS": "1",
                         "TF_NUM_INTEROP_THREADS": "1"}, {}),
    "spe20": ({}, {"steps_per_execution": 20}),
    "no_ema": ({}, {"ema": False}),
    "no_determinism": ({}, {"determinism": False}),
    # Keras turns XLA off under op determinism (model_supports_jit), so without it.
    "jit_no_determinism": ({}, {"jit_compile": True, "determinism": False}),
    "onednn_jit_no_determinism": ({"TF_ENABLE_ONEDNN_OPTS": "1"},
                                  {"jit_compile": True, "determinism": False}),
}


def _child(options):
    """Trains the recipe's DCGAN on digits with `options`; prints one JSON line."""
    import keras

    import keras_zoo as kz
    from keras_zoo.training.compile import _gan_optimizers

    recipe = kz.recipe("dcgan", "digits")
    keras.utils.set_random_seed(0)
    if options.get("determinism", True):
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()  # as a seeded kz.fit
    train = kz.load_dataset("digits", "train", batch_size=recipe.batch_size, images_only=True)
    steps = int(train.cardinality())
    model = kz.create_model("dcgan", input_shape=(8, 8, 1), **recipe.model_args)
    if not options.get("ema", True):
        recipe = recipe.replace(ema_momentum=0.0)
    compile_args = _gan_optimizers(recipe, steps)
    for key in ("jit_compile", "steps_per_execution"):
        if key in options:
            compile_args[key] = options[key]
    model.compile(**compile_args)

    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model.fit(train, epochs=options.get("epochs", 4), verbose=0, callbacks=[Timer()])
    per_step = [1000 * s / steps for s in seconds[1:]]
    print(json.dumps({"ms_per_step": statistics.median(per_step), "steps": steps,
                      "jit": bool(model.jit_compile),
                      "steps_per_execution": model.steps_per_execution}))


def _epoch_parts(epochs):
    """`kz.fit` of the recipe with a run folder: seconds of training and of each epoch-end part."""
    import keras

    import keras_zoo as kz
    from keras_zoo.training import callbacks as zoo_callbacks

    parts = {}

    def timed(cls, name):
        original = cls.on_epoch_end

        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            original(self, epoch, logs)
            parts.setdefault(name, []).append(time.perf_counter() - start)

        cls.on_epoch_end = on_epoch_end

    timed(zoo_callbacks.RunState, "backup (RunState)")
    timed(zoo_callbacks.SampleGrid, "sample grid")
    timed(keras.callbacks.TensorBoard, "TensorBoard")

    class Timer(keras.callbacks.Callback):  # runs first: its epoch end is training only
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            parts.setdefault("training", []).append(self.last - self.start)

    sizes = []
    save_weights = zoo_callbacks.runs.save_weights

    def sized(model, path):
        save_weights(model, path)
        sizes.append(os.path.getsize(path))

    zoo_callbacks.runs.save_weights = sized
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        kz.fit("dcgan", "digits", epochs=epochs, seed=0, verbose=0,
               output_dir=os.path.join(folder, "run"), callbacks=[Timer()])
        total = time.perf_counter() - start
    medians = {k: round(statistics.median(v[1:] or v), 4) for k, v in parts.items()}
    print(json.dumps({"median_s_per_epoch": medians, "epochs": epochs, "total_s": total,
                      "backup_bytes": max(sizes, default=0)}))


def _trace(steps):
    """The recipe's step under tf.profiler: each op's total time over `steps` steps."""
    import collections

    import keras
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    import keras_zoo as kz
    from keras_zoo.training.compile import _gan_optimizers

    recipe = kz.recipe("dcgan", "digits")
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    train = kz.load_dataset("digits", "train", batch_size=recipe.batch_size, images_only=True)
    model = kz.create_model("dcgan", input_shape=(8, 8, 1), **recipe.model_args)
    model.compile(**_gan_optimizers(recipe, int(train.cardinality())))
    model.fit(train.take(4), epochs=1, verbose=0)  # traced
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        model.fit(train.repeat().take(steps), epochs=1, verbose=0)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        paths = [os.path.join(d, f) for d, _, fs in os.walk(logdir) for f in fs
                 if f.endswith(".xplane.pb")]
        space = xplane_pb2.XSpace()
        with open(paths[0], "rb") as f:
            space.ParseFromString(f.read())
    totals = collections.Counter()
    counts = collections.Counter()
    by_name = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        names = {i: m.name for i, m in plane.event_metadata.items()}
        for line in plane.lines:
            if line.name != "tf_Compute" and not line.name.startswith("tf_"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if ":" not in name or "::" in name:  # not an op ("name:Type")
                    continue
                kind = name.rsplit(":", 1)[1]
                totals[kind] += event.duration_ps / 1e9
                counts[kind] += 1
                by_name[name] += event.duration_ps / 1e9
    print(json.dumps({"wall_ms_per_step": 1000 * wall / steps, "steps": steps,
                      "op_ms_per_step": {k: round(v / steps, 3)
                                         for k, v in totals.most_common(25)},
                      "slowest_ops_ms_per_step": {k: round(v / steps, 3)
                                                  for k, v in by_name.most_common(12)},
                      "op_calls_per_step": {k: counts[k] / steps
                                            for k, _ in totals.most_common(25)}}))


def _run(variant, epochs):
    environment, options = VARIANTS[variant]
    env = {**os.environ, **environment, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({**options, "epochs": epochs})],
        env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS),
                        help="variant(s) timed against the recipe; default: all")
    parser.add_argument("--pairs", type=int, default=3, help="adjacent pairs per variant")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (first untimed)")
    parser.add_argument("--epoch-parts", action="store_true",
                        help="time an epoch's parts in kz.fit with a run folder")
    parser.add_argument("--trace", action="store_true", help="tf.profiler: ops by time")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(json.loads(args.child))
    from keras_zoo.distribute.defaults import cpu_description

    print(f"CPU: {cpu_description()}; load {os.getloadavg()[0]:.1f}", flush=True)
    if args.trace:
        return _trace(max(args.epochs, 2) * 20)
    if args.epoch_parts:
        return _epoch_parts(args.epochs)
    for variant in args.variant or [v for v in VARIANTS if v != "recipe"]:
        ratios = []
        for pair in range(args.pairs):
            order = ("recipe", variant) if pair % 2 == 0 else (variant, "recipe")
            times = {name: _run(name, args.epochs) for name in order}
            ratios.append(times["recipe"]["ms_per_step"] / times[variant]["ms_per_step"])
            print(f"  {variant} pair {pair + 1}: recipe {times['recipe']['ms_per_step']:.1f} "
                  f"ms/step, {variant} {times[variant]['ms_per_step']:.1f} ms/step "
                  f"(jit {times[variant]['jit']}, steps_per_execution "
                  f"{times[variant]['steps_per_execution']}): {ratios[-1]:.2f}x", flush=True)
        print(f"{variant}: speed-up over the recipe {statistics.median(ratios):.2f}x "
              f"(median of {len(ratios)} adjacent pairs, {min(ratios):.2f}-{max(ratios):.2f})",
              flush=True)


if __name__ == "__main__":
    main()
