"""Subword tokens: a WordPiece tokenizer (Hugging Face `tokenizers`), trained offline, used in tf.data.

A WordPiece tokenizer here is its vocabulary (index = token id, as every
vocabulary of the zoo: id 0 padding, written `""`, id 1 `[UNK]`) plus fixed
settings: BERT's normalizer (lower case, control characters removed,
accents kept) and pre-tokenizer (split on whitespace and punctuation),
pieces inside a word prefixed with `##`. So a run's `vocabulary.txt` (or a
weights entry's `vocabulary`) is enough to rebuild it exactly; `save` also
writes Hugging Face's `tokenizer.json` beside it, which
`tokenizers.Tokenizer.from_file` reads.

Tokenisation happens in the input pipeline (`tf.numpy_function` around the
Rust tokenizer, outside the model), so a model receives plain int32 ids on
the TensorFlow and the JAX backend alike.

```python
from keras_zoo.data import subword

vocabulary = subword.shipped_vocabulary("stdlib_corpus")  # ['', '[UNK]', '!', ..., '##ing', ...]
ids = subword.encode(vocabulary, ["Return the payload."], length=8)  # (1, 8) int32, 0-padded
subword.decode(vocabulary, ids[0])                        # 'return the payload.'
vocabulary = subword.train(texts, vocab_size=4096)        # a new one, on other text
```

Why Hugging Face `tokenizers` (0.23, measured 2026-12-07 on this 2-core machine):
about 41 MB installed with its dependencies (11.5 MB for `tokenizers`
itself; keras-hub with tensorflow-text pulls about 260 MB), no TensorFlow
op, so the ids it makes feed a JAX model as well (tensorflow-text's ops run
in tf.data too, but tie the zoo to one TensorFlow build each), and its Rust
trainer and encoder take seconds on the whole corpus.
"""

import functools
import os

import numpy as np

WORDPIECE = "wordpiece"  # `DatasetEntry.split` of data in subword tokens
PAD, UNK = "", "[UNK]"  # ids 0 and 1, as TextVectorization writes them
_HF_PAD = "[PAD]"  # what Hugging Face's tokenizer calls id 0 (it cannot hold "")
CONTINUATION = "##"
# Longer "words" (a URL, a line of dashes) become one [UNK], as BERT's 100.
MAX_WORD_CHARACTERS = 100


# Vocabularies trained once, offline, and shipped: `<dataset>.json` (Hugging Face's format).
# Hugging Face's WordPiece trainer breaks ties between equally frequent pairs in hash-map
# order, so two trainings on the same text can differ in their last tokens; a shipped
# vocabulary gives every process, machine and Python version the same ids.
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wordpiece")


def shipped_vocabulary(dataset):
    """The WordPiece vocabulary shipped for `dataset` (`SHIPPED_DIR`), or None."""
    path = os.path.join(SHIPPED_DIR, f"{dataset}.json")
    return load(path) if os.path.isfile(path) else None


def _settings(tokenizer):
    """Gives a Hugging Face tokenizer the zoo's fixed WordPiece settings."""
    from tokenizers import decoders, normalizers, pre_tokenizers

    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix=CONTINUATION)
    return tokenizer


def train(texts, vocab_size, min_frequency=2):
    """Trains a WordPiece vocabulary on `texts`; returns it as a list, index = id.

    Not exactly repeatable: ties between equally frequent pairs are broken in
    hash-map order, so the last tokens may differ between two trainings
    (`shipped_vocabulary` holds the zoo's, trained once).

    Args:
        texts: an iterable of strings (the corpus's training documents).
        vocab_size: the most tokens, `""` and `[UNK]` included.
        min_frequency: a pair is merged only if seen this often.

    Returns:
        `["", "[UNK]", ...]`: single characters first, then pieces and words.
    """
    from tokenizers import Tokenizer, models, trainers

    tokenizer = _settings(Tokenizer(models.WordPiece(
        unk_token=UNK, continuing_subword_prefix=CONTINUATION,
        max_input_chars_per_word=MAX_WORD_CHARACTERS)))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=[_HF_PAD, UNK], continuing_subword_prefix=CONTINUATION)
    tokenizer.train_from_iterator(texts, trainer)
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    return [PAD if token == _HF_PAD else token for token in tokens]


def is_wordpiece(vocabulary):
    """Whether a vocabulary is a WordPiece one (`[UNK]` at id 1 and `##` pieces)."""
    vocabulary = list(vocabulary)
    return (len(vocabulary) > 2 and vocabulary[1] == UNK
            and any(token.startswith(CONTINUATION) for token in vocabulary[2:]))


@functools.lru_cache(maxsize=8)
def _tokenizer(vocabulary):
    from tokenizers import Tokenizer, models

    vocab = {(_HF_PAD if token == PAD else token): i for i, token in enumerate(vocabulary)}
    if len(vocab) != len(vocabulary) or vocab.get(UNK) != 1:
        raise ValueError(
            f"A WordPiece vocabulary has distinct tokens, '' at id 0 and {UNK} at id 1. "
            f"Received: {len(vocabulary)} tokens starting {list(vocabulary[:3])!r}")
    tokenizer = _settings(Tokenizer(models.WordPiece(
        vocab=vocab, unk_token=UNK, continuing_subword_prefix=CONTINUATION,
        max_input_chars_per_word=MAX_WORD_CHARACTERS)))
    return tokenizer


def tokenizer(vocabulary):
    """The Hugging Face `tokenizers.Tokenizer` of a vocabulary (cached per vocabulary)."""
    return _tokenizer(tuple(str(token) for token in vocabulary))


def save(vocabulary, path):
    """Writes Hugging Face's `tokenizer.json` of a WordPiece vocabulary to `path`."""
    tokenizer(vocabulary).save(str(path))


def load(path):
    """The vocabulary (index = id) of a `tokenizer.json` written by `save`."""
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(path)).get_vocab()
    return [PAD if token == _HF_PAD else token for token in sorted(vocab, key=vocab.get)]


def token_ids(vocabulary, text):
    """The ids of one text, all of them: an int32 array `(N,)`."""
    return np.asarray(tokenizer(vocabulary).encode(text).ids, dtype=np.int32)


def encode(vocabulary, texts, length, keep="first"):
    """Ids of a batch of texts, cut or padded (with 0, after) to `length`: `(B, length)` int32.

    Args:
        vocabulary: the WordPiece vocabulary, index = id.
        texts: strings (or UTF-8 bytes, as tf.data gives them).
        length: tokens per text.
        keep: `"first"` or `"last"` tokens of a longer text.
    """
    texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in texts]
    out = np.zeros((len(texts), length), dtype=np.int32)
    for row, encoding in enumerate(tokenizer(vocabulary).encode_batch(texts)):
        ids = encoding.ids[-length:] if keep == "last" else encoding.ids[:length]
        out[row, :len(ids)] = ids
    return out


def decode(vocabulary, ids):
    """Text of ids: pieces joined into words, words by single spaces; padding dropped."""
    return tokenizer(vocabulary).decode([int(i) for i in ids if int(i) != 0])


def tf_encoder(vocabulary, length, keep="first"):
    """`f(texts)`: tf.string `(B,)` -> int32 `(B, length)` ids, for a tf.data map.

    The Rust tokenizer runs in `tf.numpy_function`, in the input pipeline;
    nothing TensorFlow-only reaches the model.
    """
    import tensorflow as tf

    vocabulary = tuple(str(token) for token in vocabulary)

    def run(texts):
        return encode(vocabulary, texts, length, keep)

    def vectorize(texts):
        ids = tf.numpy_function(run, [texts], tf.int32, stateful=False)
        return tf.ensure_shape(ids, texts.shape.concatenate([length]))

    return vectorize


def tf_document_encoder(vocabulary):
    """`f(text)`: one tf.string document -> int32 `(N,)` ids, every token, for a tf.data map."""
    import tensorflow as tf

    vocabulary = tuple(str(token) for token in vocabulary)

    def run(text):
        return token_ids(vocabulary, text.decode("utf-8"))

    def vectorize(text):
        ids = tf.numpy_function(run, [text], tf.int32, stateful=False)
        return tf.ensure_shape(ids, [None])

    return vectorize
