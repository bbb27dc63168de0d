"""Dense (fully connected) models."""

import keras

from keras_zoo.errors import InvalidArgumentError, is_integer
from keras_zoo.models.registry import register_model


def check_shape(input_shape, name="input_shape", rank=None):
    """Checks a shape of positive ints (of `rank` entries, if given)."""
    if (
        not isinstance(input_shape, (tuple, list))
        or (rank is not None and len(input_shape) != rank)
        or not input_shape
        or any(not is_integer(d) or d < 1 for d in input_shape)
    ):
        size = f"{rank} " if rank else ""
        raise InvalidArgumentError(
            f"`{name}` must be a tuple of {size}positive ints. Received: {name}={input_shape!r}"
        )
    return tuple(input_shape)


def check_classifier(num_classes, dropout, classifier_activation):
    """Checks the head arguments shared by every classifier of the zoo."""
    if not is_integer(num_classes) or num_classes < 2:
        raise InvalidArgumentError(
            f"`num_classes` must be an int >= 2. Received: num_classes={num_classes!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise InvalidArgumentError(
            f"`dropout` must be in [0, 1). Received: dropout={dropout!r}"
        )
    if classifier_activation not in (None, "softmax"):
        raise InvalidArgumentError(
            "`classifier_activation` must be None (logits) or 'softmax'. "
            f"Received: classifier_activation={classifier_activation!r}"
        )


@register_model(
    family="dense",
    task="classification",
    inputs=("features", "image"),
    dataset="digits",
    reference="Keras examples/mnist_mlp.py (Keras 2: two Dense(512) + Dropout(0.2), "
    "98.40% on MNIST); Rumelhart et al. 1986",
    tiny=dict(hidden_units=(8,)),
)
def mlp(
    input_shape=(8, 8, 1),
    num_classes=10,
    hidden_units=(512, 512),
    dropout=0.2,
    activation="relu",
    classifier_activation="softmax",
):
    """Multilayer perceptron: flattens the input, then Dense layers.

    Keras's classic `examples/mnist_mlp.py` by default: two ReLU layers of
    512 units, each followed by Dropout(0.2), softmax head. Departures:
    none in the model (`classifier_activation=None` gives logits); the example's
    RMSprop is the training recipe's business (see `kz.recipe`).

    Args:
        input_shape: shape of one example, features `(D,)` or an image
            `(H, W, C)`; it is flattened.
        num_classes: number of classes.
        hidden_units: width of each hidden Dense layer, first to last.
        dropout: dropout rate after each hidden layer (0 for none).
        activation: activation of the hidden layers.
        classifier_activation: `"softmax"` (default, as keras.applications)
            for float32 class probabilities, or `None` for float32 logits.

    Returns:
        A Functional `keras.Model` named `"mlp"`: `(B, *input_shape)` floats to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = mlp(input_shape=(64,), num_classes=3, hidden_units=(32,))
    """
    input_shape = check_shape(input_shape)
    check_classifier(num_classes, dropout, classifier_activation)
    if not hidden_units or any(
        not is_integer(u) or u < 1 for u in hidden_units
    ):
        raise InvalidArgumentError(
            "`hidden_units` must be a non-empty tuple of positive ints. "
            f"Received: hidden_units={hidden_units!r}"
        )

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)  # (B, D)
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"dense{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name="mlp")
