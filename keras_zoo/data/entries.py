"""Dataset entries: what the zoo knows about each dataset, as data.

A `DatasetEntry` says where the examples come from (a tfds builder), which
features are the input and the target, which splits train, validate and
test, and how text is turned into token ids. How a model is fitted on the
data (batch size, epochs, optimizer, augmentation) is a training recipe,
`keras_zoo.recipes`. The pipeline in `keras_zoo.data.pipeline` reads
recipes; it never branches on a name.
"""

import dataclasses
import string

KINDS = ("image", "features", "text", "seq2seq", "lm")

# What each kind of data is, in words, for error messages.
KIND_DESCRIPTIONS = {
    "image": "images",
    "features": "feature vectors",
    "text": "token ids (text)",
    "seq2seq": "token-id sequence pairs (seq2seq)",
    "lm": "token-id windows for language modelling (lm)",
}

# The zoo's tokenisation of text it has no entry of its own for (tfds catalogue text,
# the user's folders and arrays), as imdb_reviews': lower-cased words without
# punctuation, a 20,000-token vocabulary adapted on the training split, the first
# 200 tokens of each text kept.
GENERIC_TEXT = {"standardize": "lower_and_strip_punctuation", "max_tokens": 20_000,
                "sequence_length": 200, "keep_tokens": "first"}

# Characters of the tiny corpus: printable ASCII and the newline. Anything
# else maps to the OOV id 1.
CORPUS_CHARACTERS = tuple(string.printable[:95]) + ("\n",)

# WordPiece tokens of the stdlib corpus, shared by the pretraining corpus and the labelled
# docstrings' subword views: 4,096 tokens (BERT: 30,522 on 3.3G words; this corpus has
# about 0.46M words, 3.0M characters), lower-cased (see keras_zoo.data.subword).
CORPUS_WORDPIECE = dict(split="wordpiece", max_tokens=4096, vocabulary_from="stdlib_corpus")
# The splits and windows of stdlib_corpus (offline.StdlibCorpus), shared by its views.
CORPUS_VIEW = dict(kind="lm", source="offline (ships with Python: the standard library's prose)",
                   train_split="train", validation_split="validation", test_split="test",
                   x_key="text", y_key=None, sequence_length=128)


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """How to load, prepare and fit one dataset.

    Attributes:
        name: the zoo's dataset name; the tfds builder's too unless `builder`.
        kind: the data format produced, one of `KINDS`.
        source: where the data comes from, e.g. `"tfds"`.
        description: one or two sentences, said to users.
        train_split, validation_split, test_split: tfds split strings;
            validation never reads the test split.
        x_key, y_key: the tfds features holding the input and the target.
        shuffle_buffer: examples held by the training shuffle buffer.
        max_tokens: vocabulary size cap when the vocabulary is adapted.
        vocabulary: a fixed token list (no adapt); `None` adapts on train.
        split: how text is cut into tokens, `"whitespace"`, `"character"` or
            `"wordpiece"` (subword tokens, `keras_zoo.data.subword`: a
            WordPiece vocabulary of `max_tokens` trained on the training
            split of `vocabulary_from`).
        standardize: `TextVectorization` standardisation, `None` keeps text.
        sequence_length: input length in tokens (text, seq2seq, lm).
        train_window_stride: language models: training windows start every
            this many tokens (overlapping windows, nanoGPT samples random
            offsets); None for back-to-back windows. Validation and test
            windows never overlap.
        output_length: target length in tokens (seq2seq).
        keep_tokens: which tokens of a longer text are kept, `"first"` or
            `"last"` (keras `pad_sequences`' default truncation, which the
            keras-io IMDB examples use). Padding always follows the text.
        builder: the tfds builder read, when it is not `name`: several
            views (splits, targets) of one builder, e.g. `stdlib_docstrings`
            and `stdlib_docstrings_text`.
        vocabulary_from: subword data: the dataset whose training split the
            WordPiece vocabulary is trained on, so that several views share
            one tokenizer (e.g. `stdlib_corpus` for pretraining and the
            labelled docstrings for fine-tuning); None: this dataset's.
        token_ids: the inputs are token ids already (the user's int
            arrays), all below this count (the vocabulary size); None: text
            is turned into ids by the zoo.
        reader: for the user's own data (`keras_zoo.data.sources`): the
            object read instead of a tfds builder (`info.features`,
            `info.splits`, `as_dataset(split=...)`); None for tfds data.
        origin: where the user's data came from, as recorded in the run's
            `config.json` (path, file count, fingerprint, carve); None for
            tfds data.
    """

    name: str
    kind: str
    source: str
    description: str
    train_split: str
    validation_split: str
    test_split: str
    x_key: str = "image"
    y_key: str = "label"
    shuffle_buffer: int = 10_000
    max_tokens: int = None
    vocabulary: tuple = None
    split: str = "whitespace"
    standardize: str = None
    sequence_length: int = None
    output_length: int = None
    train_window_stride: int = None
    keep_tokens: str = "first"
    builder: str = None
    vocabulary_from: str = None
    token_ids: int = None
    reader: object = dataclasses.field(default=None, compare=False, repr=False)
    origin: dict = None

    @property
    def builder_name(self):
        """The tfds builder this dataset reads."""
        return self.builder or self.name

    @property
    def curated(self):
        """Whether this is one of the zoo's own entries (`DATASETS`), with its own recipes."""
        return DATASETS.get(self.name) is self


DATASETS = {
    recipe.name: recipe
    for recipe in (
        DatasetEntry(
            name="mnist",
            kind="image",
            source="tfds",
            description="MNIST handwritten digits, 28x28 grey, 10 classes; "
            "validation is the last 10% of the train split.",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
        ),
        DatasetEntry(
            name="fashion_mnist",
            kind="image",
            source="tfds",
            description="Fashion-MNIST clothing images, 28x28 grey, 10 classes; "
            "validation is the last 10% of the train split.",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
        ),
        DatasetEntry(
            name="cifar10",
            kind="image",
            source="tfds",
            description="CIFAR-10 colour images, 32x32, 10 classes; validation "
            "is the last 10% of the train split (45k/5k, as He et al. 2015).",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
        ),
        DatasetEntry(
            name="cifar100",
            kind="image",
            source="tfds",
            description="CIFAR-100 colour images, 32x32, 100 fine classes; "
            "validation is the last 10% of the train split.",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
        ),
        DatasetEntry(
            name="imdb_reviews",
            kind="text",
            source="tfds",
            description="IMDB movie reviews, positive or negative; words "
            "lower-cased, 20000-word vocabulary adapted on the training split, "
            "the last 200 tokens of each review kept (as keras-io's "
            "pad_sequences), shorter ones padded; validation is the last 10% "
            "of the train split.",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
            x_key="text",
            shuffle_buffer=25_000,
            max_tokens=20_000,
            standardize="lower_and_strip_punctuation",
            sequence_length=200,
            keep_tokens="last",
        ),
        DatasetEntry(
            name="digits",
            kind="image",
            source="offline (ships with scikit-learn)",
            description="UCI handwritten digits bundled with scikit-learn: 1797 "
            "8x8 grey images, 10 classes, stratified 80/20 train/test split; "
            "validation is the last 10% of the train split (144 images).",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
        ),
        DatasetEntry(
            name="addition",
            kind="seq2seq",
            source="generated",
            description="Sums of two numbers of up to 3 digits, as characters "
            "('123+45' -> '168', padded with id 0), after the keras-io addition "
            "example; 50000/5000/5000 train/validation/test, no question shared "
            "between splits.",
            train_split="train",
            validation_split="validation",
            test_split="test",
            x_key="question",
            y_key="answer",
            vocabulary=tuple("0123456789+"),
            split="character",
            sequence_length=7,
            output_length=4,
        ),
        DatasetEntry(
            name="half_sums",
            kind="text",
            source="generated",
            description="Sequences of 20 digits; is the sum of the first 10 "
            "larger than the sum of the last 10? Balanced classes (chance is "
            "50%). A bag of words cannot tell (51.7%), but the task is linear "
            "in the positions: a logistic regression on the 20 digits gets 100% "
            "(scripts/sequence_baselines.py). 20000/2000/2000 train/validation/test.",
            train_split="train",
            validation_split="validation",
            test_split="test",
            x_key="text",
            vocabulary=tuple("0123456789"),
            sequence_length=20,
        ),
        DatasetEntry(
            name="tiny_corpus",
            kind="lm",
            source="offline (ships with Python: pydoc_data.topics)",
            description="Python's own documentation topics (about 460k "
            "characters of English), character tokens (printable ASCII and "
            "newline), windows of 128; 10% of the documents are the test "
            "split; validation is the last 10% of the training documents.",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
            x_key="text",
            y_key=None,
            vocabulary=CORPUS_CHARACTERS,
            split="character",
            sequence_length=128,
            train_window_stride=32,
        ),
        # Three views of one builder (offline.StdlibDocstrings); every token id is a
        # character of CORPUS_CHARACTERS, so a bert_mini pretrained on the text view
        # reads the classification views with the same ids.
        DatasetEntry(
            name="stdlib_docstrings",
            kind="text",
            source="offline (ships with Python: the standard library's sources)",
            description="Docstrings of 8 standard-library packages (asyncio, email, http, "
            "importlib, logging, multiprocessing, unittest, xml; about 1,500, 40+ "
            "characters), read with ast; the label is the package (8 classes, the "
            "largest 14.6%). Character tokens, the first 128 kept; 20% of the docstrings, "
            "by a hash of their qualified names, are the test split; validation is the "
            "last 10% of the training docstrings.",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
            x_key="text",
            vocabulary=CORPUS_CHARACTERS,
            split="character",
            sequence_length=128,
        ),
        DatasetEntry(
            name="stdlib_docstrings_10pct",
            kind="text",
            source="offline (ships with Python: the standard library's sources)",
            description="stdlib_docstrings with a tenth of the training docstrings "
            "labelled (about 120, a fixed tfds slice): train on train[:8%], validate on "
            "train[8%:10%]; the same test split. For fine-tuning against training from "
            "scratch (scripts/pretraining_pays.py).",
            train_split="train[:8%]",
            validation_split="train[8%:10%]",
            test_split="test",
            x_key="text",
            vocabulary=CORPUS_CHARACTERS,
            split="character",
            sequence_length=128,
            builder="stdlib_docstrings",
        ),
        DatasetEntry(
            name="stdlib_docstrings_text",
            kind="lm",
            source="offline (ships with Python: the standard library's sources)",
            description="The training docstrings of stdlib_docstrings as unlabelled text, "
            "for pretraining: character windows of 128 (training windows every 64 "
            "characters), train/validation/test the first 80%, next 10% and last 10% of "
            "the training docstrings; the classification test split is never read.",
            train_split="train[:80%]",
            validation_split="train[80%:90%]",
            test_split="train[90%:]",
            x_key="text",
            y_key=None,
            vocabulary=CORPUS_CHARACTERS,
            split="character",
            sequence_length=128,
            train_window_stride=64,
            builder="stdlib_docstrings",
        ),
        # The unlabelled corpus (offline.StdlibCorpus) and the labelled docstrings in its
        # WordPiece tokens: a bert_mini pretrained on the corpus reads the docstring views
        # with the same ids. The corpus holds no validation or test text of the views above.
        DatasetEntry(
            name="stdlib_corpus",
            description="Unlabelled prose shipped with Python (every docstring and comment "
            "of the standard library's sources, the pydoc topics, IDLE's news and help), "
            "without any validation or test text of stdlib_docstrings and tiny_corpus; "
            "WordPiece tokens (4,096, trained once on its training split and shipped), "
            "windows of 128 "
            "(training windows every 64 tokens); 3% of the documents validate, 3% test.",
            train_window_stride=64,
            **CORPUS_VIEW,
            **CORPUS_WORDPIECE,
        ),
        DatasetEntry(
            name="stdlib_corpus_chars",
            description="stdlib_corpus (same documents and splits) in tiny_corpus's "
            "character tokens (printable ASCII and newline, anything else the OOV id), "
            "windows of 128 (training windows every 32 characters, as tiny_corpus): a "
            "gpt_mini pretrained on it reads tiny_corpus with the same ids.",
            vocabulary=CORPUS_CHARACTERS,
            split="character",
            train_window_stride=32,
            builder="stdlib_corpus",
            **CORPUS_VIEW,
        ),
        DatasetEntry(
            name="stdlib_docstrings_wordpiece",
            kind="text",
            source="offline (ships with Python: the standard library's sources)",
            description="stdlib_docstrings (same splits and labels) in the WordPiece tokens "
            "of stdlib_corpus, the first 128 kept (about 500 characters: most docstrings whole, "
            "where the character view reads 128).",
            train_split="train[:90%]",
            validation_split="train[90%:]",
            test_split="test",
            x_key="text",
            sequence_length=128,
            builder="stdlib_docstrings",
            **CORPUS_WORDPIECE,
        ),
        DatasetEntry(
            name="stdlib_docstrings_10pct_wordpiece",
            kind="text",
            source="offline (ships with Python: the standard library's sources)",
            description="stdlib_docstrings_10pct (a tenth of the labels: train[:8%], "
            "validation train[8%:10%], the same test split) in the WordPiece tokens of "
            "stdlib_corpus, the first 128 kept.",
            train_split="train[:8%]",
            validation_split="train[8%:10%]",
            test_split="test",
            x_key="text",
            sequence_length=128,
            builder="stdlib_docstrings",
            **CORPUS_WORDPIECE,
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a model needs to know about a dataset, and the recipe defaults.

    Attributes:
        name: dataset name.
        kind: data format, one of `KINDS` (see `keras_zoo.data`).
        input_shape: shape of one image (image kinds), else `None`.
        num_classes: number of classes (classification), else `None`.
        vocab_size: number of token ids including 0 (padding) and 1 (OOV).
        sequence_length: input length in tokens.
        output_length: target length in tokens (seq2seq).
        train_split, validation_split, test_split: tfds split strings.
        batch_size: default batch size.
        epochs: default number of epochs.
        description: what the data is and how it is split.
        source: where the data comes from.
        class_names: the names of the classes, index = class id, when the
            data names them (a tfds `ClassLabel`, a folder's sub-folders,
            string labels); else None.
    """

    name: str
    kind: str
    input_shape: tuple = None
    num_classes: int = None
    vocab_size: int = None
    sequence_length: int = None
    output_length: int = None
    train_split: str = "train"
    validation_split: str = "test"
    test_split: str = "test"
    batch_size: int = 32
    epochs: int = 1
    description: str = ""
    source: str = "tfds"
    class_names: tuple = None

    _MODEL_ARGS = (
        "input_shape",
        "num_classes",
        "vocab_size",
        "sequence_length",
        "output_length",
    )

    def model_args(self):
        """Returns the model builder arguments this dataset decides.

        Only the non-`None` ones among `input_shape`, `num_classes`,
        `vocab_size`, `sequence_length` and `output_length`.

        Example:

        >>> dataset_spec("digits").model_args()
        {'input_shape': (8, 8, 1), 'num_classes': 10}
        """
        values = {key: getattr(self, key) for key in self._MODEL_ARGS}
        return {key: value for key, value in values.items() if value is not None}

    def to_dict(self):
        """Returns the spec as a JSON-ready dict."""
        result = dataclasses.asdict(self)
        for key in ("input_shape", "class_names"):
            if result[key] is not None:
                result[key] = list(result[key])
        return result
