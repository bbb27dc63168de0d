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
from keras_zoo.training.plan import check_shapes, for_evaluation, task_of


@quiet_native_logs
def evaluate(model_or_path, dataset_or_name, *, split="test", batch_size=None, data_dir=None,
             safe_mode=True):
    """Evaluates a model on a dataset split, counting every example.

    Args:
        model_or_path: a `keras.Model`, a `.keras` file or a run folder. A
            run's `vocabulary.txt` is re-used so token ids match training.
        dataset_or_name: a dataset name, a folder, `(x, y)` arrays or a
            `tf.data.Dataset` (as `fit` takes). The run's own data (the same
            fingerprint) is carved as in training; other data of the user's
            is all test data, its classes numbered as the run's.
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
    vocabulary, config = None, {}
    mask_rate = masking.MASK_RATE
    if isinstance(model_or_path, keras.Model):
        model = model_or_path
    else:
        model = load_model(model_or_path, safe_mode=safe_mode)
        run_dir = run_dir_of(model_or_path)
        vocabulary = runs.run_vocabulary(run_dir) if run_dir else None
        if run_dir and os.path.isfile(os.path.join(run_dir, runs.CONFIG)):  # the run's masks
            config = runs.read_json(os.path.join(run_dir, runs.CONFIG))
            mask_rate = (config.get("recipe") or {}).get("mask_rate", mask_rate)
    entry = _entry(dataset_or_name, data_dir, config)
    image_size = None
    if entry.kind == "image" and len(model.inputs[0].shape) == 4:  # the model's input size
        image_size = tuple(model.inputs[0].shape[1:3])
        if image_size == tuple(data.image_shape(entry, data_dir)[:2]):
            image_size = None
    spec = data.dataset_spec(entry, data_dir=data_dir, image_size=image_size)
    dataset_name = entry.name
    task = task_of(model, spec)
    if task == "image_generation":  # samples judged by a classifier of the dataset
        from keras_zoo.training import gan_metrics

        return gan_metrics.evaluate_gan(model, dataset_name, split=split, data_dir=data_dir)
    if model.name in registry.list_models():
        data.check_compatible(registry.model_info(model.name), spec)
    check_shapes(model, spec)
    split = {"train": spec.train_split, "validation": spec.validation_split,
             "test": spec.test_split}.get(split, split)
    dataset = data.load_dataset(entry, split, batch_size=batch_size or spec.batch_size,
                                shuffle=False, data_dir=data_dir, vocabulary=vocabulary,
                                image_size=image_size)
    if task == masking.TASK:
        seed = masking.VALIDATION_SEED if split == spec.validation_split else masking.TEST_SEED
        dataset = masking.masked_lm(dataset, spec.vocab_size, seed=seed, training=False,
                                    rate=mask_rate)
    if not model.compiled:
        compile_model(model, task, character_level=data.is_character_level(entry))
    results = model.evaluate(for_evaluation(dataset), return_dict=True, verbose=0)
    return {k: float(v) for k, v in results.items()}


def _entry(dataset, data_dir, config):
    """The data to evaluate on: a name; the run's own data carved as in training; new data.

    The user's data whose fingerprint is the run's is carved with the run's
    seed (its `test` split is the run's); other data is all test data, with
    the classes numbered by the run's class names.
    """
    if isinstance(dataset, str) and not data.sources.is_path(dataset):
        return data.resolve(dataset, data_dir=data_dir)
    record = config.get("data") or {}
    return data.resolve(dataset, evaluation=True, class_names=record.get("class_names"),
                        trained_on=record.get("origin"))
