"""Datasets by name: entries, offline tfds builders and input pipelines.

- `entries.py`: `DatasetEntry` per dataset (source, kind, splits, preprocessing), `DatasetSpec`.
- `pipeline.py`: tfds examples to batched `tf.data.Dataset`s; `prepare`, `load_dataset`.
- `offline.py`: tfds builders that need no download (`digits`, `tiny_corpus`, ...).
- `catalogue.py`: entries derived from any tfds catalogue builder's info.
- `sources.py`: the user's data (folders, arrays, `tf.data`) and `resolve`.
- `folders.py`: checks of tfds data folders (paths, metadata, whole records).
- `masking.py`: masked-language-model targets.
- `vocabulary.py`: vocabularies saved as `vocabulary.txt`.
- `subword.py`: WordPiece subword tokens (Hugging Face `tokenizers`), trained offline.

Every dataset yields batches `(x, y)` in the format of its kind:

- "image": x float32 (B, H, W, C) in [0, 1]; y int32 (B,).
  With `images_only=True` (GANs): x alone.
- "text": x int32 (B, sequence_length) token ids, 0 = padding, 1 = OOV;
  y int32 (B,).
- "seq2seq": x int32 (B, sequence_length); y int32 (B, output_length).
- "lm": x int32 (B, sequence_length); y int32 (B, sequence_length),
  x shifted by one token.

Importing this package registers the offline tfds builders (`digits`,
`addition`, `half_sums`, `tiny_corpus`, `stdlib_docstrings`), so
`tfds.load("digits")` works without network.

```python
from keras_zoo import data

data.list_datasets()
spec = data.dataset_spec("digits")      # input_shape, num_classes, defaults
prepared = data.prepare("digits")       # spec, train, validation, test
```
"""

from keras_zoo.data.entries import DATASETS, KINDS, DatasetEntry, DatasetSpec
from keras_zoo.data.offline import (
    Addition,
    Digits,
    HalfSums,
    StdlibDocstrings,
    TinyCorpus,
)
from keras_zoo.data.pipeline import (
    PreparedData,
    check_compatible,
    dataset_spec,
    image_shape,
    image_size_for,
    is_character_level,
    list_datasets,
    load_dataset,
    prepare,
)
from keras_zoo.data.sources import resolve
from keras_zoo.data.vocabulary import load_vocabulary, save_vocabulary

__all__ = [
    "KINDS",
    "DATASETS",
    "Addition",
    "DatasetSpec",
    "Digits",
    "HalfSums",
    "PreparedData",
    "DatasetEntry",
    "StdlibDocstrings",
    "TinyCorpus",
    "check_compatible",
    "dataset_spec",
    "image_shape",
    "image_size_for",
    "resolve",
    "is_character_level",
    "list_datasets",
    "load_dataset",
    "load_vocabulary",
    "prepare",
    "save_vocabulary",
]
