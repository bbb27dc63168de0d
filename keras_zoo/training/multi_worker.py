"""Training under `tf.distribute.MultiWorkerMirroredStrategy`, where Keras 3
`model.fit` fails (keras-team/keras#20585).

`fit` here is a `strategy.run` training loop over the same Keras model,
optimizer, loss and metrics, driving the same callbacks as `model.fit`
(progress bar, `History`, the run folder's callbacks). Every worker runs the
same program; only the chief writes the run folder (`training.fit` gives the
other workers a temporary folder, deleted at the end). On a resume the chief
restores the `BackupAndRestore` state and broadcasts weights, optimizer state
and epoch to every worker, so the workers need no shared file system.

```shell
# on each machine, with its own index (0 is the chief):
TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
            "task": {"type": "worker", "index": 0}}' \\
    keras-zoo train simple_cnn --dataset digits --strategy multi_worker --output runs/cnn
```
"""

import keras
import numpy as np
import tensorflow as tf

from keras_zoo import distribute
from keras_zoo.errors import InvalidArgumentError


def fit(model, train, *, strategy, epochs, steps_per_epoch=None, validation_data=None,
        callbacks=None, verbose=2, shuffle=False):
    """Trains a compiled model like `model.fit`, under a multi-worker strategy.

    Args:
        model: a `keras.Model` built and compiled in `strategy.scope()`.
        train: a `tf.data.Dataset` of `(x, y)` batches of the GLOBAL batch
            size (every worker builds the same one; it is sharded by DATA).
        strategy: the `tf.distribute.MultiWorkerMirroredStrategy`.
        epochs: number of epochs.
        steps_per_epoch: batches per epoch; None for one pass (the dataset's
            length must be known).
        validation_data: a dataset evaluated at the end of each epoch
            (`val_` metrics), or None.
        callbacks: `keras.callbacks.Callback`s, called as by `model.fit`.
        verbose: 0, 1 (progress bar) or 2 (one line per epoch).
        shuffle: must be False, as for `model.fit` on a dataset (the
            zoo's pipelines shuffle).

    Returns:
        The `keras.callbacks.History`.
    """
    if shuffle:
        raise InvalidArgumentError("Shuffle the dataset itself. Received: shuffle=True")
    steps = steps_per_epoch or _length(train)
    loop = _Loop(model, strategy)
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        list(callbacks or []) + [history], add_progbar=verbose != 0, verbose=verbose,
        epochs=epochs, steps=steps, model=model)
    train_iterator = None
    dist_train = strategy.experimental_distribute_dataset(
        distribute.with_input_options(train, strategy))
    dist_validation = None
    if validation_data is not None:
        dist_validation = strategy.experimental_distribute_dataset(
            distribute.with_input_options(validation_data, strategy))
        validation_steps = _length(validation_data)

    model.stop_training = False
    model._initial_epoch = None
    callback_list.on_train_begin()  # BackupAndRestore restores the chief here
    initial_epoch = loop.broadcast_from_chief(model._initial_epoch or 0)
    logs = {}
    for epoch in range(initial_epoch, epochs):
        loop.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        if train_iterator is None or not steps_per_epoch:
            train_iterator = iter(dist_train)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            logs = loop.train_step(next(train_iterator))
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        logs = loop.results()
        if dist_validation is not None:
            logs.update({"val_" + k: v for k, v in
                         loop.evaluate(dist_validation, validation_steps).items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


def evaluate(model, dataset, *, strategy, return_dict=True, verbose=0):
    """Evaluates like `model.evaluate(dataset, return_dict=True)` on every worker.

    The dataset is sharded over the workers; metrics are summed over all of
    them, so every example counts once. `return_dict` and `verbose` are
    accepted for parity with `model.evaluate` (always a dict, silent).
    """
    loop = _Loop(model, strategy)
    return loop.evaluate(strategy.experimental_distribute_dataset(
        distribute.with_input_options(dataset, strategy)), _length(dataset))


def _length(dataset):
    length = int(dataset.cardinality())
    if length < 0:
        raise InvalidArgumentError(
            "Multi-worker training needs datasets of known length (every worker must run "
            "the same number of steps); pass steps_per_epoch with a repeated dataset. "
            f"Received: a dataset of cardinality {length}"
        )
    return length


class _Loop:
    """The replica functions: a training step and an evaluation step."""

    def __init__(self, model, strategy):
        self.model = model
        self.strategy = strategy
        with strategy.scope():
            self.loss = keras.metrics.Mean(name="loss")
            self.metrics = _compiled_metrics(model)
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        self.train_step = tf.function(self._train_step)
        self._test_step = tf.function(self._evaluate_step)

    def _per_example_loss(self, y, y_pred):
        loss = self.model.loss
        if isinstance(loss, keras.losses.Loss):
            values = loss.call(y, y_pred)  # unreduced
        else:
            values = keras.losses.get(loss)(y, y_pred)
        values = tf.cast(values, tf.float32)
        if values.shape.rank > 1:  # e.g. per token: one value per example
            values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
        return values

    def _replica_step(self, x, y, training):
        global_batch = tf.shape(y)[0] * self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=training)
            per_example = self._per_example_loss(y, y_pred)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if training and self.model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
        if training:
            variables = self.model.trainable_variables
            grads = tape.gradient(loss, variables)
            self.model.optimizer.apply_gradients(zip(grads, variables))
        self.loss.update_state(per_example)
        for metric in self.metrics:
            metric.update_state(y, y_pred)

    def _train_step(self, batch):
        x, y = batch
        self.strategy.run(self._replica_step, args=(x, y, True))
        return self._results()

    def _evaluate_step(self, batch):
        x, y = batch
        self.strategy.run(self._replica_step, args=(x, y, False))

    def _results(self):
        return {m.name: m.result() for m in [self.loss] + self.metrics}

    def results(self):
        return {k: float(v) for k, v in self._results().items()}

    def reset_metrics(self):
        for metric in [self.loss] + self.metrics:
            metric.reset_state()

    def evaluate(self, dist_dataset, steps):
        self.reset_metrics()
        iterator = iter(dist_dataset)
        for _ in range(steps):
            self._test_step(next(iterator))
        return self.results()

    def broadcast_from_chief(self, initial_epoch):
        """Gives every worker the chief's weights, optimizer state and epoch.

        A sum over replicas where every replica but the chief's first one
        contributes zeros.
        """
        variables = self.model.variables + self.model.optimizer.variables
        chief = distribute.is_chief(self.strategy)

        def replica_values():  # every variable and the epoch, in one flat vector
            first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
            keep = tf.cast(tf.logical_and(first, chief), tf.float64)
            values = [tf.reshape(tf.cast(v.value, tf.float64), [-1]) for v in variables]
            values.append(tf.constant([float(initial_epoch)], tf.float64))
            return tf.concat(values, axis=0) * keep

        summed = self.strategy.reduce(
            tf.distribute.ReduceOp.SUM, self.strategy.run(tf.function(replica_values)), axis=None)
        sizes = [int(np.prod(v.shape)) for v in variables] + [1]
        parts = tf.split(summed, sizes)
        for variable, value in zip(variables, parts[:-1]):
            variable.assign(tf.reshape(tf.cast(value, variable.dtype), variable.shape))
        return int(np.round(float(parts[-1][0])))


def _compiled_metrics(model):
    """Fresh copies of the metrics the model was compiled with (from its
    compile config, so `"accuracy"` strings and objects alike)."""
    config = model.get_compile_config() or {}
    metrics = []
    listed = []
    for entry in (config.get("metrics"), config.get("weighted_metrics")):
        entry = entry or []
        listed += list(entry.values()) if isinstance(entry, dict) else list(entry)
    for item in listed:
        if isinstance(item, str) and item in ("accuracy", "acc"):
            # What Keras picks for integer labels and class scores.
            metric = keras.metrics.SparseCategoricalAccuracy(name=item)
        else:
            metric = keras.metrics.get(item)
        if isinstance(metric, keras.metrics.Metric):
            metric = type(metric).from_config(metric.get_config())
        else:
            metric = keras.metrics.MeanMetricWrapper(metric, name=metric.__name__)
        metrics.append(metric)
    return metrics
