"""`evaluate`: a model or run on a dataset split, every example counted."""

import os

import keras

from keras_zoo import data, runs
from keras_zoo._quiet import quiet_native_logs
from keras_zoo.data import masking
from keras_zoo.errors import check_positive_int
from keras_zoo.models import registry
from keras_zoo.runs import load_model, run_dir_of
from keras_zoo.training.compile import compile_model
from keras_zoo.training.plan import (
    check_dataset_name,
    check_shapes,
    for_evaluation,
    task_of,
)


@quiet_native_logs
def evaluate(model_or_path, dataset_or_name, *, split="test", batch_size=None, data_dir=None,
             safe_mode=True):
    """Evaluates a model on a dataset split, counting every example.

    Args:
        model_or_path: a `keras.Model`, a `.keras` file or a run folder. A
            run's `vocabulary.txt` is re-used so token ids match training.
        dataset_or_name: a dataset name.
        split: `"train"`, `"validation"` or `"test"`.
        batch_size: evaluation batch size; None for the recipe's.
        data_dir: tfds data folder.
        safe_mode: see `load_model`.

    Returns:
        `{metric: value}`, e.g. `{"accuracy": 0.98, "loss": 0.07}`; for a
        GAN, its samples judged by a classifier of the dataset (recognised
        fraction, per-class fractions, KID and real-vs-real KID; see
        `keras_zoo.training.gan_metrics.evaluate_gan`).

    Example:

    >>> evaluate("runs/cnn", "digits")
    """
    check_positive_int(batch_size, "batch_size", allow_none=True)
    dataset_name = check_dataset_name(dataset_or_name)
    vocabulary = None
    mask_rate = masking.MASK_RATE
    if isinstance(model_or_path, keras.Model):
        model = model_or_path
    else:
        model = load_model(model_or_path, safe_mode=safe_mode)
        run_dir = run_dir_of(model_or_path)
        vocabulary = runs.run_vocabulary(run_dir) if run_dir else None
        if run_dir and os.path.isfile(os.path.join(run_dir, runs.CONFIG)):  # the run's masks
            recipe = runs.read_json(os.path.join(run_dir, runs.CONFIG)).get("recipe") or {}
            mask_rate = recipe.get("mask_rate", mask_rate)
    spec = data.dataset_spec(dataset_name, data_dir=data_dir)
    task = task_of(model, spec)
    if task == "image_generation":  # samples judged by a classifier of the dataset
        from keras_zoo.training import gan_metrics

        return gan_metrics.evaluate_gan(model, dataset_name, split=split, data_dir=data_dir)
    if model.name in registry.list_models():
        data.check_compatible(registry.model_info(model.name), spec)
    check_shapes(model, spec)
    split = {"train": spec.train_split, "validation": spec.validation_split,
             "test": spec.test_split}.get(split, split)
    dataset = data.load_dataset(dataset_name, split, batch_size=batch_size or spec.batch_size,
                                shuffle=False, data_dir=data_dir, vocabulary=vocabulary)
    if task == masking.TASK:
        seed = masking.VALIDATION_SEED if split == spec.validation_split else masking.TEST_SEED
        dataset = masking.masked_lm(dataset, spec.vocab_size, seed=seed, training=False,
                                    rate=mask_rate)
    if not model.compiled:
        compile_model(model, task, character_level=data.is_character_level(dataset_name))
    results = model.evaluate(for_evaluation(dataset), return_dict=True, verbose=0)
    return {k: float(v) for k, v in results.items()}


