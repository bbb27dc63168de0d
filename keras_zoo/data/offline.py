"""tfds builders for datasets that need no download.

Each class is a real `tfds.core.GeneratorBasedBuilder`, registered with tfds
when this module is imported, so `tfds.load("digits")` works offline once
`keras_zoo` is imported. Generation is deterministic: fixed seeds, and the
examples come from data installed with Python or scikit-learn, or from
arithmetic.
"""

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

_VERSION = tfds.core.Version("1.0.0")
_RELEASE_NOTES = {"1.0.0": "Initial release."}
_SEED = 20240611
# Set on each builder: tfds's own lookup of a builder's source file imports
# `importlib_resources`, a package Python >= 3.9 does not need (tfds 4.9.10).
_CODE_PATH = epath.Path(__file__)


class Digits(tfds.core.GeneratorBasedBuilder):
    """UCI handwritten digits as bundled by scikit-learn (8x8, 10 classes)."""

    name = "digits"
    VERSION = _VERSION
    RELEASE_NOTES = _RELEASE_NOTES
    code_path = _CODE_PATH

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "1797 8x8 grey images of handwritten digits (UCI ML hand-written "
                "digits, test set), as shipped with scikit-learn. Pixel counts "
                "0..16 are scaled to 0..255. Stratified 80/20 train/test split."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        indices = np.arange(len(images))
        train, test = train_test_split(
            indices, test_size=0.2, stratify=digits.target, random_state=0
        )
        return {
            "train": self._generate_examples(images, digits.target, train),
            "test": self._generate_examples(images, digits.target, test),
        }

    def _generate_examples(self, images, labels, indices):
        for index in indices:
            yield int(index), {"image": images[index][..., None], "label": int(labels[index])}


def addition_questions(num_examples, seed=_SEED, max_digits=3):
    """Returns distinct `(a, b)` pairs, no pair repeated in either order.

    Each number first draws its digit count (1 to `max_digits`), then a
    value with that many digits, as in the keras-io addition example.
    """
    rng = np.random.default_rng(seed)
    seen = set()
    pairs = []
    while len(pairs) < num_examples:
        digits = rng.integers(1, max_digits + 1, size=2)
        low = np.where(digits == 1, 0, 10 ** (digits - 1))
        a, b = (int(v) for v in rng.integers(low, 10**digits))
        if (min(a, b), max(a, b)) not in seen:
            seen.add((min(a, b), max(a, b)))
            pairs.append((a, b))
    return pairs


class Addition(tfds.core.GeneratorBasedBuilder):
    """Generated additions of numbers of up to 3 digits, as text."""

    name = "addition"
    VERSION = _VERSION
    RELEASE_NOTES = _RELEASE_NOTES
    code_path = _CODE_PATH
    SPLIT_SIZES = {"train": 50_000, "validation": 5_000, "test": 5_000}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Questions 'a+b' with a, b of 1 to 3 digits and their answers "
                "'a+b' as text (keras-io 'Sequence to sequence learning for "
                "performing number addition'). No question, in either order, "
                "appears in two splits."
            ),
            features=tfds.features.FeaturesDict(
                {"question": tfds.features.Text(), "answer": tfds.features.Text()}
            ),
            supervised_keys=("question", "answer"),
            homepage="https://keras.io/examples/nlp/addition_rnn/",
        )

    def _split_generators(self, dl_manager):
        pairs = addition_questions(sum(self.SPLIT_SIZES.values()))
        splits, start = {}, 0
        for split, size in self.SPLIT_SIZES.items():
            splits[split] = self._generate_examples(pairs[start : start + size])
            start += size
        return splits

    def _generate_examples(self, pairs):
        for index, (a, b) in enumerate(pairs):
            yield index, {"question": f"{a}+{b}", "answer": str(a + b)}


class HalfSums(tfds.core.GeneratorBasedBuilder):
    """Generated digit sequences: is the first half's sum the larger?"""

    name = "half_sums"
    VERSION = _VERSION
    RELEASE_NOTES = _RELEASE_NOTES
    code_path = _CODE_PATH
    SPLIT_SIZES = {"train": 20_000, "validation": 2_000, "test": 2_000}
    LENGTH = 20

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "20 random digits separated by spaces; label 1 when the sum of "
                "the first 10 is larger than the sum of the last 10, else 0. "
                "Ties are left out and classes are exactly balanced."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(
                        names=["second_half_larger", "first_half_larger"]
                    ),
                }
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        rng = np.random.default_rng(_SEED + 1)
        splits = {}
        for split, size in self.SPLIT_SIZES.items():
            splits[split] = self._generate_examples(half_sums_examples(rng, size, self.LENGTH))
        return splits

    def _generate_examples(self, examples):
        sequences, labels = examples
        for index, (sequence, label) in enumerate(zip(sequences, labels)):
            yield index, {"text": " ".join(map(str, sequence)), "label": int(label)}


def half_sums_examples(rng, num_examples, length):
    """Returns `(sequences, labels)`, labels alternating 0, 1, 0, ..."""
    half = length // 2
    sequences = rng.integers(0, 10, size=(2 * num_examples + 100, length))
    difference = sequences[:, :half].sum(1) - sequences[:, half:].sum(1)
    sequences = sequences[difference != 0][:num_examples]
    labels = np.arange(num_examples) % 2
    wrong = (sequences[:, :half].sum(1) > sequences[:, half:].sum(1)) != labels
    # Swapping the halves flips the answer, so each label is exactly half.
    sequences[wrong] = np.roll(sequences[wrong], half, axis=1)
    return sequences, labels


# Typographic characters of the corpus and their ASCII spelling.
_ASCII = str.maketrans({"’": "'", "‘": "'", "”": '"', "“": '"', "—": "-", "–": "-", "…": "..."})


class TinyCorpus(tfds.core.GeneratorBasedBuilder):
    """Python's documentation topics as a small character-level corpus."""

    name = "tiny_corpus"
    VERSION = _VERSION
    RELEASE_NOTES = _RELEASE_NOTES
    code_path = _CODE_PATH

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "The documentation topics shipped with Python "
                "(`pydoc_data.topics.topics`, the text of `help('if')` and "
                "friends), one document per topic, typographic quotes and "
                "dashes spelled in ASCII. 10% of the documents (chosen with a "
                "fixed seed) form the test split. The text depends on the "
                "Python version."
            ),
            features=tfds.features.FeaturesDict(
                {"title": tfds.features.Text(), "text": tfds.features.Text()}
            ),
            homepage="https://docs.python.org/3/library/pydoc.html",
        )

    def _split_generators(self, dl_manager):
        from pydoc_data.topics import topics

        titles = sorted(topics)
        order = np.random.default_rng(_SEED).permutation(len(titles))
        num_test = max(1, len(titles) // 10)
        test = sorted(titles[i] for i in order[:num_test])
        train = sorted(titles[i] for i in order[num_test:])
        return {
            "train": self._generate_examples(topics, train),
            "test": self._generate_examples(topics, test),
        }

    def _generate_examples(self, topics, titles):
        for title in titles:
            yield title, {"title": title, "text": topics[title].translate(_ASCII)}


BUILDERS = {builder.name: builder for builder in (Digits, Addition, HalfSums, TinyCorpus)}
