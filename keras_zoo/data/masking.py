"""Masked-language-model targets (BERT, Devlin et al. 2018, section 3.1), in tf.data.

Language-model windows `(x, y)` become `(masked_x, x, weight)`: 15% of the
real tokens (not padding; the training recipe's `mask_rate`) are chosen; of those, 80% are replaced by the
`[MASK]` id, 10% by a random token and 10% are kept. `weight` is 1 at the
chosen positions and 0 elsewhere, so the loss (reduced by the weights) and
the weighted accuracy count the chosen tokens only.

The `[MASK]` id is `vocab_size`, one past the dataset's vocabulary: a
masked-LM model embeds `vocab_size + 1` ids (see `keras_zoo.models.bert`).
Training batches are masked afresh each epoch (from the run's seed);
validation and test batches get the same masks in every run (fixed seeds),
so `evaluate` repeats the test score `fit` reported.

A few lines of stateless random ops instead of keras-hub's
`MaskedLMMaskGenerator`: keras-hub would pull about 260 MB (tensorflow-text
included), and its generator returns masked positions (gather-style), which
the zoo's per-token losses and padded evaluation do not use.
"""

import dataclasses

import tensorflow as tf

MASK_RATE = 0.15
# Of the chosen tokens: this fraction becomes [MASK], the same again random, the rest kept.
MASK_TOKEN_RATE = 0.8
RANDOM_TOKEN_RATE = 0.1
# Ids below this are padding (0) and out-of-vocabulary (1): never drawn as random tokens.
FIRST_TOKEN = 2
TASK = "masked_language_modeling"
VALIDATION_SEED, TEST_SEED = 1, 2


def mask_id(vocab_size):
    """The `[MASK]` token id for a vocabulary of `vocab_size` ids: `vocab_size`."""
    return vocab_size


def mask_tokens(ids, vocab_size, seed, rate=MASK_RATE):
    """Masks a batch of token ids for masked-LM training.

    Args:
        ids: int32 `(B, T)` token ids, 0 = padding.
        vocab_size: ids are in `[0, vocab_size)`; `[MASK]` is `vocab_size`.
        seed: int `(2,)` tensor, the stateless random seed.
        rate: fraction of the real tokens chosen.

    Returns:
        `(masked_ids, ids, weight)`: int32 `(B, T)`, int32 `(B, T)`,
        float32 `(B, T)` with 1 at the chosen positions.
    """
    ids = tf.cast(ids, tf.int32)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    shape = tf.shape(ids)
    chosen = (tf.random.stateless_uniform(shape, seeds[0]) < rate) & (ids != 0)  # (B, T)
    action = tf.random.stateless_uniform(shape, seeds[1])  # (B, T)
    random_ids = tf.random.stateless_uniform(shape, seeds[2], minval=FIRST_TOKEN,
                                             maxval=vocab_size, dtype=tf.int32)
    masked = tf.where(chosen & (action < MASK_TOKEN_RATE), mask_id(vocab_size), ids)
    masked = tf.where(chosen & (action >= MASK_TOKEN_RATE)
                      & (action < MASK_TOKEN_RATE + RANDOM_TOKEN_RATE), random_ids, masked)
    return masked, ids, tf.cast(chosen, tf.float32)


def masked_lm(dataset, vocab_size, *, seed=0, training=True, rate=MASK_RATE):
    """Maps batched `(x, y)` language-model windows to `(masked_x, x, weight)`.

    Args:
        dataset: batched `(x, y)` (or `(x, y, weight)`) with x int `(B, T)`.
        vocab_size: size of the dataset's vocabulary.
        seed: seed of the masks.
        training: new masks each pass over the data (True) or the same ones
            (False, for validation and test).
        rate: fraction of the real tokens chosen.
    """
    if dataset is None:
        return None
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=training).batch(2)
    return tf.data.Dataset.zip(dataset, seeds).map(
        lambda batch, s: mask_tokens(batch[0], vocab_size, s, rate),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def for_task(task, prepared, seed=None, rate=MASK_RATE):
    """`prepared` (a `PreparedData`) with masked-LM targets if `task` is masked LM.

    Any other task gets `prepared` unchanged: language-model data serves
    both causal (next-token) and masked language models; the task decides
    the targets. `rate` is the fraction of tokens chosen, in every split.
    """
    if task != TASK:
        return prepared
    seed = 0 if seed is None else seed
    vocab = prepared.spec.vocab_size
    return dataclasses.replace(
        prepared,
        train=masked_lm(prepared.train, vocab, seed=seed, training=True, rate=rate),
        validation=masked_lm(prepared.validation, vocab, seed=VALIDATION_SEED, training=False,
                             rate=rate),
        test=masked_lm(prepared.test, vocab, seed=TEST_SEED, training=False, rate=rate),
    )
