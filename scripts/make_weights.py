"""Trains the offline recipes and publishes their weights into the package.

Each (model, dataset) below is fitted with its recipe (`kz.fit` defaults),
saved as a run folder under --runs, then published (`kz.publish`) into
keras_zoo/weights/pretrained/ as `<model>-<dataset>.weights.h5` and its entry JSON
(sha256, metrics, recipe, versions). Rerunning resumes or reuses finished runs.
Weights of subword data get their tokenizer beside them,
`<model>-<dataset>.tokenizer.json` (Hugging Face's format), named by the entry's
`tokenizer` field.

    python scripts/make_weights.py                     # all, recipe defaults
    python scripts/make_weights.py --only mlp --epochs 1 --out /tmp/pretrained   # a quick check
    python scripts/make_weights.py --tokenizer         # stdlib_corpus's WordPiece vocabulary
    python scripts/make_weights.py --only bert_mini    # pretrained on stdlib_corpus (~30 min)
    python scripts/make_weights.py --only gpt_mini-stdlib_corpus_chars   # its characters
"""

import argparse
import json
import os

import keras_zoo as kz
from keras_zoo import weights

SHIPPED = [("simple_cnn", "digits"), ("mlp", "digits"), ("lstm_seq2seq", "addition"),
           ("gpt_mini", "tiny_corpus"), ("dcgan", "digits"), ("bert_mini", "stdlib_corpus"),
           ("gpt_mini", "stdlib_corpus_chars")]


def make_tokenizer(dataset="stdlib_corpus"):
    """Trains `dataset`'s WordPiece vocabulary on its training split and ships it.

    Writes `keras_zoo/data/wordpiece/<dataset>.json` (Hugging Face's
    `tokenizer.json`), which the pipeline reads from then on
    (`subword.shipped_vocabulary`).
    """
    import tensorflow_datasets as tfds

    from keras_zoo import data
    from keras_zoo.data import pipeline, subword

    entry = data.DATASETS[dataset]
    builder = pipeline._builder(entry, None)  # prepares the offline builder
    texts = [x["text"].decode("utf-8")
             for x in tfds.as_numpy(builder.as_dataset(split=entry.train_split))]
    vocabulary = subword.train(texts, entry.max_tokens)
    os.makedirs(subword.SHIPPED_DIR, exist_ok=True)
    path = os.path.join(subword.SHIPPED_DIR, f"{dataset}.json")
    subword.save(vocabulary, path)
    tokens = sum(len(e.ids) for e in subword.tokenizer(vocabulary).encode_batch(texts))
    print(f"{dataset}: {len(vocabulary)} WordPiece tokens trained on {len(texts)} documents "
          f"({sum(map(len, texts)):,} characters, {tokens:,} tokens) -> {path}")


def add_tokenizer(entry, run_dir, out_dir):
    """Writes a subword run's `tokenizer.json` beside its published weights and names it."""
    from keras_zoo.data import subword

    if entry.vocabulary is None or not subword.is_wordpiece(entry.vocabulary):
        return entry
    file = entry.file.replace(weights.WEIGHTS_SUFFIX, weights.entries.TOKENIZER_SUFFIX)
    subword.save(entry.vocabulary, os.path.join(out_dir, file))
    path = os.path.join(out_dir, f"{entry.model}-{entry.name}.json")
    with open(path, encoding="utf-8") as f:
        card = json.load(f)
    card["tokenizer"] = file
    with open(path, "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2, sort_keys=True)
        f.write("\n")
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/pretrained", help="run folders")
    parser.add_argument("--out", default=weights.PRETRAINED_DIR, help="where to publish")
    parser.add_argument("--only", help="one model name, or one model-dataset pair")
    parser.add_argument("--epochs", type=int, help="override the recipe (quick checks only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", action="store_true",
                        help="train and ship stdlib_corpus's WordPiece vocabulary, nothing else")
    args = parser.parse_args(argv)
    if args.tokenizer:
        make_tokenizer()
        return
    for model, dataset in SHIPPED:
        if args.only and args.only not in (model, f"{model}-{dataset}"):
            continue
        run_dir = os.path.join(args.runs, f"{model}-{dataset}")
        result = kz.fit(model, dataset, epochs=args.epochs, seed=args.seed, output_dir=run_dir,
                        precision="float32", verbose=2)
        entry = add_tokenizer(kz.publish(run_dir, args.out, name=dataset), run_dir, args.out)
        print(f"{model} on {dataset}: {result.metrics} -> {entry.file} ({entry.sha256[:12]})")


if __name__ == "__main__":
    main()
