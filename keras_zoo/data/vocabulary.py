"""Saving and loading vocabularies as `vocabulary.txt`.

One token per line, index = token id. Character vocabularies hold the
newline, so `\\`, newline and carriage return are escaped as `\\\\`, `\\n`
and `\\r`; other tokens are written as they are.

A WordPiece vocabulary (`keras_zoo.data.subword`) is its tokenizer: its
`vocabulary.txt` rebuilds it exactly, and `save_vocabulary` also writes
Hugging Face's `tokenizer.json` beside it, for other tools.
"""

import os

TOKENIZER_FILE = "tokenizer.json"  # beside vocabulary.txt, for a WordPiece vocabulary
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {value: key for key, value in _ESCAPES.items()}


def _escape(token):
    return "".join(_ESCAPES.get(char, char) for char in token)


def _unescape(line):
    chars, i = [], 0
    while i < len(line):
        pair = line[i : i + 2]
        if pair in _UNESCAPES:
            chars.append(_UNESCAPES[pair])
            i += 2
        else:
            chars.append(line[i])
            i += 1
    return "".join(chars)


def save_vocabulary(vocabulary, path):
    """Writes a vocabulary (list of tokens, index = id) to a text file.

    A WordPiece vocabulary also gets `tokenizer.json` (Hugging Face's
    format) in the same folder.

    Example:

    >>> save_vocabulary(prepared.vocabulary, "runs/lm/vocabulary.txt")
    """
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(_escape(str(token)) + "\n" for token in vocabulary)
    from keras_zoo.data import subword

    if subword.is_wordpiece(vocabulary):
        subword.save(vocabulary, os.path.join(os.path.dirname(os.path.abspath(path)),
                                              TOKENIZER_FILE))


def load_vocabulary(path):
    """Reads a vocabulary written by `save_vocabulary`; returns a list."""
    with open(path, encoding="utf-8") as file:
        return [_unescape(line.rstrip("\n")) for line in file]
