"""Benchmark: tokens per second of `generate` with and without the key/value cache.

`gpt_mini` with its shipped `tiny_corpus` weights (vocabulary 98, context
128) extends a short prompt by `--tokens` tokens (temperature 0.8, top-k
10: the CLI's defaults), once with the cache (the default) and once with
`use_cache=False` (the whole window per token, the loop `generate` had
before the cache). After one warm-up call of each (timed and printed: the
cached loop compiles with XLA once per model and batch size), the two are
timed side by side in `--pairs` adjacent pairs, their order
alternating, because this machine's speed swings 2x from minute to minute;
each pair's ratio is printed, then the median ratio. The ratio of
tokens per CPU-second (this process's threads) is printed too: other
users' load moves it less than the wall clock.

    python scripts/generation_benchmark.py              # 256 tokens, 5 pairs
    python scripts/generation_benchmark.py --pairs 9 --prompt-length 100

With a 4-token prompt, 256 new tokens outgrow the 128-token window after
124 of them; from there on every token re-reads the last 128 ids in both
modes (the positions shift), so the cache's gain is largest within the
window.
"""

import argparse
import statistics
import sys
import time

import numpy as np


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt_mini")
    parser.add_argument("--weights", default="tiny_corpus",
                        help="registered weights name, or 'none' for random weights")
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per call")
    parser.add_argument("--prompt-length", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--model-arg", action="append", default=[], metavar="NAME=INT",
                        help="builder override, e.g. --model-arg num_layers=1 (repeatable)")
    return parser.parse_args(argv)


def build_model(args):
    import keras_zoo as kz

    overrides = {}
    for item in args.model_arg:
        name, _, value = item.partition("=")
        overrides[name] = int(value)
    weights = None if args.weights == "none" else args.weights
    return kz.create_model(args.model, weights=weights, **overrides)


def tokens_per_second(model, prompt, args, use_cache):
    """New tokens per second of one `generate` call (wall clock, CPU time), and its ids."""
    from keras_zoo.models.transformer import generate

    wall, cpu = time.perf_counter(), time.process_time()
    ids = generate(model, prompt, args.tokens, temperature=0.8, top_k=10, seed=0,
                   use_cache=use_cache)
    tokens = args.tokens * len(prompt)
    return tokens / (time.perf_counter() - wall), tokens / (time.process_time() - cpu), ids


def main(argv=None):
    args = parse_args(argv)
    model = build_model(args)
    vocab_size = model.outputs[0].shape[-1]
    prompt = np.random.default_rng(0).integers(2, vocab_size, (args.batch_size,
                                                                args.prompt_length))
    print(f"{model.name}: {model.count_params():,} parameters, context "
          f"{model.inputs[0].shape[1]}, vocabulary {vocab_size}; prompt {args.prompt_length} "
          f"ids x {args.batch_size}, {args.tokens} new tokens")
    for use_cache in (True, False):  # warm-up: tracing and compiling
        start = time.perf_counter()
        tokens_per_second(model, prompt, args, use_cache)
        print(f"first call ({'cached' if use_cache else 'uncached'}, compiling included): "
              f"{time.perf_counter() - start:.2f} s")
    ratios, cpu_ratios = [], []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        speed, cpu, ids = {}, {}, {}
        for use_cache in order:
            speed[use_cache], cpu[use_cache], ids[use_cache] = tokens_per_second(
                model, prompt, args, use_cache)
        ratios.append(speed[True] / speed[False])
        cpu_ratios.append(cpu[True] / cpu[False])
        print(f"pair {pair + 1}: cached {speed[True]:.1f} tok/s, uncached {speed[False]:.1f} "
              f"tok/s, speed-up {ratios[-1]:.2f}x (CPU time: {cpu_ratios[-1]:.2f}x), same ids: "
              f"{'yes' if np.array_equal(ids[True], ids[False]) else 'no'}")
    print(f"median speed-up over {args.pairs} pairs: {statistics.median(ratios):.2f}x "
          f"(CPU time: {statistics.median(cpu_ratios):.2f}x)")
    return ratios


if __name__ == "__main__":
    main(sys.argv[1:])
