"""tfds builders for datasets that need no download.

Each class is a real `tfds.core.GeneratorBasedBuilder`, registered with tfds
when this module is imported, so `tfds.load("digits")` works offline once
`keras_zoo` is imported. Generation is deterministic: fixed seeds, and the
examples come from data installed with Python or scikit-learn, or from
arithmetic.
"""

import re

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


# The packages of `stdlib_docstrings`, its labels: ones that ship in every CPython (no Tk, no
# IDLE, none removed by 3.13) and hold at least 120 docstrings of 40+ characters on 3.11.
STDLIB_PACKAGES = ("asyncio", "email", "http", "importlib", "logging", "multiprocessing",
                   "unittest", "xml")


def _stable_hash(text):
    """A 64-bit hash of `text` that is the same in every process (unlike `hash`)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def stdlib_docstrings(packages=STDLIB_PACKAGES, min_length=40, per_package=220, root=None):
    """Returns `[(qualified_name, package, docstring)]` read from Python's own sources.

    Parses (with `ast`, importing nothing) every `.py` file of each package
    under the standard library folder, tests left out (folders `test`,
    `tests`), and takes the docstrings of its modules, classes and
    functions that have at least `min_length` characters. A text found
    twice is kept once, and not at all when two packages share it. Each
    package keeps at most `per_package` docstrings, chosen by a hash of
    their qualified names, so the choice does not depend on file order.

    Args:
        packages: top-level package names, the labels.
        min_length: shortest docstring kept, in characters (after
            `inspect.cleandoc`, as `ast.get_docstring` returns it).
        per_package: most docstrings kept per package.
        root: the standard library folder; `None` for this Python's.

    Returns:
        A list sorted by qualified name, e.g. `("email.message.Message.get_payload",
        "email", "Return a reference to the payload...")`.
    """
    import ast
    import os
    import sysconfig

    root = root or sysconfig.get_paths()["stdlib"]
    found = {}  # text -> [(qualified name, package)]
    for package in packages:
        top = os.path.join(root, package)
        for folder, subfolders, files in os.walk(top):
            subfolders[:] = sorted(d for d in subfolders if d not in ("test", "tests", "__pycache__"))
            for file in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, file)
                module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                module = module.removesuffix(".__init__")
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read(), filename=path)
                for name, text in _docstrings(tree, module):
                    if len(text) >= min_length:
                        found.setdefault(text.translate(_ASCII), []).append((name, package))
    chosen, names = {}, set()
    for text, places in found.items():
        if len({package for _, package in places}) > 1:
            continue  # the same words under two labels
        name, package = min(places)
        while name in names:  # e.g. a property's getter and setter
            name += "'"
        names.add(name)
        chosen.setdefault(package, []).append((name, package, text))
    examples = []
    for package in packages:
        ranked = sorted(chosen.get(package, []), key=lambda e: _stable_hash("keep:" + e[0]))
        examples += ranked[:per_package]
    return sorted(examples)


def _docstrings(tree, module):
    """Yields `(qualified name, docstring)` of a module and the classes and functions in it."""
    import ast

    text = ast.get_docstring(tree)
    if text:
        yield module, text
    stack = [(module, node) for node in reversed(tree.body)]
    while stack:
        prefix, node = stack.pop()
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}.{node.name}"
            text = ast.get_docstring(node)
            if text:
                yield name, text
            stack += [(name, child) for child in reversed(node.body)]
        elif isinstance(node, (ast.If, ast.Try, ast.With)):  # definitions under `if sys.platform`
            children = node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            for handler in getattr(node, "handlers", []):
                children += handler.body
            stack += [(prefix, child) for child in reversed(children)]


def is_test_name(qualified_name, test_percent=20):
    """Whether a docstring belongs to `stdlib_docstrings`'s test split (a hash of its name)."""
    return _stable_hash("split:" + qualified_name) % 100 < test_percent


class StdlibDocstrings(tfds.core.GeneratorBasedBuilder):
    """Docstrings of 8 standard-library packages, labelled by package."""

    name = "stdlib_docstrings"
    VERSION = _VERSION
    RELEASE_NOTES = _RELEASE_NOTES
    code_path = _CODE_PATH

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Docstrings (40 characters or more) of the modules, classes and functions "
                f"of {len(STDLIB_PACKAGES)} packages of Python's standard library "
                f"({', '.join(STDLIB_PACKAGES)}), read with `ast` from the installed "
                "Python's sources (tests left out, nothing imported), at most 220 per "
                "package; the label is the package. A docstring is in the test split when "
                "a hash of its qualified name says so (20%), whatever the order of files. "
                "The text depends on the Python version."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "name": tfds.features.Text(),
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=list(STDLIB_PACKAGES)),
                }
            ),
            supervised_keys=("text", "label"),
            homepage="https://docs.python.org/3/library/",
        )

    def _split_generators(self, dl_manager):
        examples = stdlib_docstrings()
        return {
            "train": self._generate_examples([e for e in examples if not is_test_name(e[0])]),
            "test": self._generate_examples([e for e in examples if is_test_name(e[0])]),
        }

    def _generate_examples(self, examples):
        for name, package, text in examples:
            yield name, {"name": name, "text": text, "label": package}


# --- The unlabelled corpus: the prose that ships with Python. ----------------------------

# The offline builders whose validation and test texts the corpus must never hold.
HELD_OUT_BUILDERS = ("stdlib_docstrings", "tiny_corpus")
# A held-out text is in the corpus when one of its windows of this many characters (the
# whole text, when shorter) is in one of the corpus's pieces.
HELD_OUT_WINDOW = 64
# Prose files of the standard library besides its sources (when this Python ships them).
PROSE_FILES = ("LICENSE.txt", "email/architecture.rst", "distutils/README",
               "ctypes/macholib/README.ctypes", "idlelib/README.txt", "idlelib/NEWS.txt",
               "idlelib/NEWS2x.txt", "idlelib/HISTORY.txt", "idlelib/CREDITS.txt",
               "idlelib/extend.txt", "idlelib/TODO.txt", "idlelib/help.html")
_SKIPPED_FOLDERS = ("test", "tests", "idle_test", "__pycache__", "site-packages")


def held_out_texts(data_dir=None):
    """Every validation and test text of the zoo's datasets on `HELD_OUT_BUILDERS`.

    Read from the prepared tfds builders (prepared here if needed), through
    each `DatasetEntry`'s `validation_split` and `test_split` (tfds orders a
    split's examples by a hash of their keys, so its slices are known only
    from the prepared data): `stdlib_docstrings`' test docstrings and the
    validation and test slices of its three views, `tiny_corpus`'s test
    topics and validation slice.

    Returns:
        The sorted, distinct texts.
    """
    from keras_zoo.data.entries import DATASETS

    texts = set()
    for entry in DATASETS.values():
        if entry.builder_name not in HELD_OUT_BUILDERS:
            continue
        builder = tfds.builder(entry.builder_name, data_dir=data_dir)
        if not builder.is_prepared():
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(try_download_gcs=False))
        for split in (entry.validation_split, entry.test_split):
            for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
                texts.add(example[entry.x_key].decode("utf-8"))
    return sorted(texts)


class _HeldOut:
    """Finds pieces of text holding a window of a held-out text (`HELD_OUT_WINDOW` characters).

    Every 32-character stretch of each held-out text is indexed; a piece is
    looked up every 8 characters, so any common stretch of 39 characters or
    more is met (held-out texts have 40 or more), and only the held-out
    windows around what was met are then compared exactly.
    """

    GRAM, STRIDE = 32, 8

    def __init__(self, texts, window=HELD_OUT_WINDOW):
        self.texts, self.window = list(texts), window
        self.exact = set(self.texts)
        self.index = {}  # hash of a stretch -> [(held-out text, position)]
        for i, text in enumerate(self.texts):
            for start in range(len(text) - self.GRAM + 1):
                self.index.setdefault(hash(text[start:start + self.GRAM]), []).append((i, start))

    def holds(self, piece):
        """Whether `piece` holds a window of a held-out text (or one whole)."""
        if piece in self.exact:
            return True
        checked = set()
        for start in range(0, len(piece) - self.GRAM + 1, self.STRIDE):
            for i, position in self.index.get(hash(piece[start:start + self.GRAM]), ()):
                text = self.texts[i]
                if len(text) <= self.window:
                    windows = [0]
                else:
                    windows = range(max(0, position - (self.window - self.GRAM)),
                                    min(position, len(text) - self.window) + 1)
                for s in windows:
                    if (i, s) not in checked:
                        checked.add((i, s))
                        if text[s:s + self.window] in piece:
                            return True
        return False


def _comment_blocks(source):
    """`[(line, text)]`: runs of whole-line comments of a Python source, `#` removed.

    Shebangs, encoding lines and lines without a letter (rulers) are left
    out; a blank or code line ends a block.
    """
    import io
    import tokenize

    blocks, current, last = [], [], None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            row, col = token.start
            whole_line = not token.line[:col].strip()
            text = token.string.lstrip("#").strip()
            keep = (whole_line and any(c.isalpha() for c in text)
                    and not token.string.startswith("#!") and "-*- coding" not in text)
            if current and (not keep or row != last + 1):
                blocks.append(current)
                current = []
            if keep:
                current.append((row, text))
                last = row
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    if current:
        blocks.append(current)
    return [(block[0][0], "\n".join(text for _, text in block)) for block in blocks]


def _module_pieces(path, module):
    """The prose of one source file: its docstrings and comment blocks, in source order."""
    import ast

    with open(path, encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source, filename=path)
    lines = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node)
            if text:
                lines.setdefault(getattr(node, "lineno", 0), []).append(text)
    pieces = [(line, text) for line, texts in lines.items() for text in texts]
    pieces += _comment_blocks(source)
    return [text.translate(_ASCII) for _, text in sorted(pieces, key=lambda p: p[0])]


def _html_text(html):
    """The text of an HTML page, one paragraph per block element."""
    import html as html_lib

    html = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", html)
    html = re.sub(r"(?i)</?(p|div|h\d|li|dt|dd|pre|tr|br|section)\b[^>]*>", "\n\n", html)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", html))
    return "\n\n".join(re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text)
                       if p.strip())


def _paragraphs(text):
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def stdlib_corpus(held_out=(), root=None, packages=None, topics=True, prose=True):
    """Returns `[(name, text)]`: the prose that ships with this Python, held-out texts removed.

    Read without importing anything: the docstrings (`ast.get_docstring`, as
    `stdlib_docstrings`) and whole-line comments (`tokenize`) of every
    source file of the standard library, tests and `site-packages` left
    out, one document per file in source order; the documentation topics
    (`pydoc_data.topics`, the text of `help("if")`), one document per topic;
    and `PROSE_FILES` (licence, IDLE's news and help, ...). Typographic
    quotes and dashes are spelled in ASCII, as in `tiny_corpus`. A topic or
    file that is a held-out text (see `held_out_texts`) is left out whole; a
    piece (docstring, comment block, paragraph) seen before is kept once; one
    that holds a window of a held-out text (`HELD_OUT_WINDOW` characters) is
    left out, and a document still holding one across two pieces too.

    Args:
        held_out: texts whose windows must not appear.
        root: the standard library folder; None for this Python's.
        packages: read only these top-level modules and packages (tests);
            None reads all.
        topics: include `pydoc_data.topics`.
        prose: include `PROSE_FILES`.

    Returns:
        Documents sorted by name, e.g. `("email/message.py", "Basic message
        object for the email package..."), ("topic:if", ...)`.
    """
    import os
    import sysconfig

    root = root or sysconfig.get_paths()["stdlib"]
    documents = []  # (name, [pieces])
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in _SKIPPED_FOLDERS
                               and not d.startswith("config-"))
        relative = os.path.relpath(folder, root)
        top = relative.split(os.sep)[0]
        for file in sorted(f for f in files if f.endswith(".py")):
            if top == ".":
                if packages is not None and file[:-3] not in packages:
                    continue
            elif packages is not None and top not in packages:
                continue
            path = os.path.join(folder, file)
            name = os.path.relpath(path, root).replace(os.sep, "/")
            try:
                pieces = _module_pieces(path, name)
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue  # e.g. lib2to3's Python 2 examples
            documents.append((name, pieces))
    if topics:
        from pydoc_data.topics import topics as texts

        for title in sorted(texts):
            documents.append((f"topic:{title}", texts[title].translate(_ASCII)))
    if prose:
        for name in PROSE_FILES:
            path = os.path.join(root, name)
            if not os.path.isfile(path) or (
                    packages is not None and name.split("/")[0] not in packages):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            text = _html_text(text) if name.endswith(".html") else text
            documents.append((name, text.translate(_ASCII)))
    checker = _HeldOut(held_out)
    seen, corpus = set(), []
    for name, pieces in sorted(documents):
        if isinstance(pieces, str):  # a whole text (a topic, a file): held out as a whole?
            if pieces in checker.exact:
                continue
            pieces = _paragraphs(pieces)
        kept = []
        for piece in pieces:
            if piece in seen or checker.holds(piece):
                continue
            seen.add(piece)
            kept.append(piece)
        text = "\n\n".join(kept)
        if kept and not checker.holds(text):  # nor a window across two pieces
            corpus.append((name, text))
    return corpus


def corpus_split(name):
    """`"train"`, `"validation"` or `"test"`: a corpus document's split (a hash of its name)."""
    bucket = _stable_hash("corpus:" + name) % 100
    return "test" if bucket < 3 else "validation" if bucket < 6 else "train"


class StdlibCorpus(tfds.core.GeneratorBasedBuilder):
    """The prose that ships with Python, for pretraining: no validation or test text of the zoo."""

    name = "stdlib_corpus"
    VERSION = _VERSION
    RELEASE_NOTES = _RELEASE_NOTES
    code_path = _CODE_PATH

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Unlabelled English prose that ships with Python: every docstring and "
                "whole-line comment of the standard library's sources (tests left out), "
                "the documentation topics (pydoc_data.topics) and the prose files "
                "(licence, IDLE's news and help), one document per file or topic, read "
                "without importing anything. Every validation and test text of the zoo's "
                "stdlib_docstrings and tiny_corpus views is left out: no piece holds a "
                f"{HELD_OUT_WINDOW}-character window of one. 3% of the documents (by a "
                "hash of their names) are the validation split, 3% the test split. The "
                "text depends on the Python minor version."
            ),
            features=tfds.features.FeaturesDict(
                {"name": tfds.features.Text(), "text": tfds.features.Text()}
            ),
            homepage="https://docs.python.org/3/library/",
        )

    def _split_generators(self, dl_manager):
        documents = stdlib_corpus(held_out_texts(self.data_dir_root))
        return {split: self._generate_examples([d for d in documents if corpus_split(d[0]) == split])
                for split in ("train", "validation", "test")}

    def _generate_examples(self, documents):
        for name, text in documents:
            yield name, {"name": name, "text": text}


BUILDERS = {builder.name: builder
            for builder in (Digits, Addition, HalfSums, TinyCorpus, StdlibDocstrings,
                            StdlibCorpus)}
