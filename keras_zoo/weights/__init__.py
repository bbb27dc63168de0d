"""Pretrained weights: entries and cache, loading into models, fine-tuning, publishing.

- `entries.py`: `WeightsEntry`, shipped and registered entries, the cache, `resolve`, `fetch`.
- `transfer.py`: `create_model(name, weights=...)`, headless backbones, encoders of other models.
- `fine_tuning.py`: freezing, LoRA, unfreezing, and the `Transfer` plan `fit` follows.
- `publish.py`: a finished run as a weights entry.
- `pretrained/`: the shipped weights (package data).
"""

from keras_zoo.weights.entries import (
    ENTRY_SUFFIX,
    EncoderSource,
    FREEZES,
    HEAD_NAMES,
    POOLINGS,
    PRETRAINED_DIR,
    Source,
    UNFREEZE_LEARNING_RATE,
    WEIGHTS_SUFFIX,
    WeightsEntry,
    cache_dir,
    entry_file,
    fetch,
    list_weights,
    register_encoder_source,
    register_weights,
    resolve,
    sha256_of,
    weights_entry,
)
from keras_zoo.weights.fine_tuning import (
    Transfer,
    enable_lora,
    freeze_backbone,
    merge_lora,
    plan_transfer,
    trainable_count,
    unfreeze_callback,
)
from keras_zoo.weights.publish import (
    publish,
)
from keras_zoo.weights.transfer import (
    check_vocabulary,
    create_model,
    cut_head,
    head_layer,
    load_into,
    merged_args,
)

__all__ = [
    "ENTRY_SUFFIX",
    "EncoderSource",
    "FREEZES",
    "HEAD_NAMES",
    "POOLINGS",
    "PRETRAINED_DIR",
    "Source",
    "Transfer",
    "UNFREEZE_LEARNING_RATE",
    "WEIGHTS_SUFFIX",
    "WeightsEntry",
    "cache_dir",
    "check_vocabulary",
    "create_model",
    "cut_head",
    "enable_lora",
    "entry_file",
    "fetch",
    "freeze_backbone",
    "head_layer",
    "list_weights",
    "load_into",
    "merge_lora",
    "merged_args",
    "plan_transfer",
    "publish",
    "register_encoder_source",
    "register_weights",
    "resolve",
    "sha256_of",
    "trainable_count",
    "unfreeze_callback",
    "weights_entry",
]
