"""Convolutional image classifiers: a simple convnet and the CIFAR ResNets."""

import keras

from keras_zoo.errors import InvalidArgumentError, is_integer
from keras_zoo.models.dense import check_classifier, check_shape
from keras_zoo.models.layers import ShortcutA
from keras_zoo.models.registry import register_model


@register_model(
    family="cnn",
    task="image_classification",
    dataset="mnist",
    reference="keras-io, 'Simple MNIST convnet' (fchollet, 2015)",
    tiny=dict(filters=(4, 8)),
)
def simple_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    filters=(32, 64),
    kernel_size=3,
    padding="auto",
    dropout=0.5,
    classifier_activation="softmax",
):
    """Small convnet: Conv-ReLU-MaxPool blocks, Dropout, Dense head.

    The keras-io 'Simple MNIST convnet' by default: two 3x3 conv blocks of
    32 and 64 filters with `padding="valid"` (28 -> 26 -> 13 -> 11 -> 5),
    dropout 0.5, 34,826 parameters on 28x28x1, softmax head. Departures:
    none (`classifier_activation=None` gives logits). The default
    `padding="auto"` is that valid padding unless it would leave nothing of
    the image, then `"same"`: so 8x8 digits get 8 -> 4 -> 2 (the `digits`
    recipe passes `padding="same"` outright).

    Args:
        input_shape: image shape `(H, W, C)`.
        num_classes: number of classes.
        filters: filters of each Conv2D block; each block halves the size.
        kernel_size: size of the square convolution kernels.
        padding: `"valid"` (the keras-io example), `"same"`, or `"auto"`
            (valid unless the image is too small for it, then same).
        dropout: dropout rate before the head.
        classifier_activation: `"softmax"` (default, as keras.applications)
            for float32 class probabilities, or `None` for float32 logits.

    Returns:
        A Functional `keras.Model` named `"simple_cnn"`: `(B, H, W, C)` floats to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = simple_cnn()  # MNIST-sized: (28, 28, 1) -> 10 class probabilities
    >>> small = simple_cnn(input_shape=(8, 8, 1), num_classes=10)  # digits: "same" padding
    """
    input_shape = check_shape(input_shape, rank=3)
    check_classifier(num_classes, dropout, classifier_activation)
    if not filters or any(not is_integer(f) or f < 1 for f in filters):
        raise InvalidArgumentError(
            f"`filters` must be a non-empty tuple of positive ints. Received: filters={filters!r}"
        )
    if padding not in ("same", "valid", "auto"):
        raise InvalidArgumentError(
            f"`padding` must be 'same', 'valid' or 'auto'. Received: padding={padding!r}"
        )

    def final_size(padding):
        size = min(input_shape[:2])
        for _ in filters:
            size = (size if padding == "same" else size - kernel_size + 1) // 2
        return size

    if padding == "auto":
        padding = "valid" if final_size("valid") >= 1 else "same"
    if final_size(padding) < 1:
        raise InvalidArgumentError(
            f"Images of {input_shape[0]}x{input_shape[1]} are too small for {len(filters)} "
            f"conv/pool blocks with padding={padding!r}; use padding='same', fewer filters "
            f"or larger images. Received: input_shape={input_shape}"
        )

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            width, kernel_size, padding=padding, activation="relu", name=f"block{i}_conv"
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)  # halves H and W
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name="simple_cnn")


def apply_basic_block(x, filters, stride, name, weight_decay=0.0, shortcut="A"):
    """Residual basic block: two 3x3 conv-BN layers and a shortcut.

    The shortcut is the identity, or when the block changes the shape,
    He et al.'s option A (subsampled identity with zero-padded channels, no
    parameters; their CIFAR experiments) or option B (a 1x1 conv + BN
    projection).

    Args:
        x: input tensor `(B, H, W, C)`.
        filters: output channels.
        stride: stride of the first conv (2 halves H and W).
        name: prefix of the layer names, e.g. `"stage2_block1"`.
        weight_decay: L2 weight decay of the conv kernels (see
            `_cifar_resnet`).
        shortcut: `"A"` or `"B"`.

    Returns:
        The output tensor `(B, H / stride, W / stride, filters)`.
    """
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def conv_bn(y, kernel_size, stride, conv_name, bn_name):
        y = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=f"{name}_{conv_name}",
        )(y)
        return keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, name=f"{name}_{bn_name}"
        )(y)

    residual = x
    reshaped = stride != 1 or x.shape[-1] != filters
    if reshaped and shortcut == "A":
        residual = ShortcutA(stride, filters - x.shape[-1], name=f"{name}_shortcut")(x)
    elif reshaped:
        if stride != 1:
            # Subsample, then a 1x1 conv: the same as a strided 1x1 conv, whose
            # gradient crashes TensorFlow 2.21's oneDNN CPU kernels on odd batch
            # sizes (a segmentation fault with batch 3, 5, 7...).
            residual = keras.layers.MaxPooling2D(
                1, strides=stride, padding="same", name=f"{name}_shortcut_pool"
            )(x)  # (B, H / stride, W / stride, C)
        residual = conv_bn(residual, 1, 1, "shortcut_conv", "shortcut_bn")
    y = conv_bn(x, 3, stride, "conv1", "bn1")
    y = keras.layers.Activation("relu", name=f"{name}_relu1")(y)
    y = conv_bn(y, 3, 1, "conv2", "bn2")
    y = keras.layers.Add(name=f"{name}_add")([residual, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def _cifar_resnet(
    depth, name, input_shape, num_classes, width, dropout, weight_decay, classifier_activation,
    shortcut="A",
):
    """Builds a CIFAR ResNet of `depth = 6n + 2` layers (He et al. 2015, 4.2).

    A 3x3 stem conv, three stages of `n` basic blocks with `width`, `2 width`
    and `4 width` filters (the second and third start with stride 2), global
    average pooling and a Dense head; option-A shortcuts by default, as in
    the paper's CIFAR experiments. `weight_decay` is the paper's decay
    (gradient `+= weight_decay * w`), i.e. an L2 penalty of `weight_decay / 2`;
    0 by default because the `cifar10` training recipe applies it (1e-4).
    Departures from the paper: none known.
    """
    if shortcut not in ("A", "B"):
        raise InvalidArgumentError(
            f"`shortcut` must be 'A' (zero-padded identity) or 'B' (1x1 projection). "
            f"Received: shortcut={shortcut!r}")
    if not is_integer(depth) or depth < 8 or (depth - 2) % 6:
        raise InvalidArgumentError(
            "A CIFAR ResNet has depth 6n + 2 (8, 14, 20, 32, 44, 56, 110...). "
            f"Received: depth={depth!r}"
        )
    input_shape = check_shape(input_shape, rank=3)
    check_classifier(num_classes, dropout, classifier_activation)
    if min(input_shape[:2]) < 4:
        raise InvalidArgumentError(
            "Images must be at least 4x4: two stages halve the feature map. "
            f"Received: input_shape={input_shape}"
        )
    if not is_integer(width) or width < 1:
        raise InvalidArgumentError(f"`width` must be a positive int. Received: width={width!r}")
    if weight_decay < 0:
        raise InvalidArgumentError(
            f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay!r}"
        )
    blocks_per_stage = (depth - 2) // 6
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = keras.layers.Conv2D(
        width,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        name="stem_conv",
    )(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)  # (B, H, W, width)
    for stage in range(3):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            x = apply_basic_block(
                x,
                width * 2**stage,
                stride,
                name=f"stage{stage + 1}_block{block + 1}",
                weight_decay=weight_decay,
                shortcut=shortcut,
            )
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)  # (B, 4 width)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation=classifier_activation,
        kernel_regularizer=regularizer,
        dtype="float32",
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name=name)


_RESNET_REFERENCE = "He et al. 2015, Deep Residual Learning, arXiv:1512.03385 (CIFAR, option A)"


@register_model(
    family="cnn",
    task="image_classification",
    dataset="cifar10",
    reference=_RESNET_REFERENCE,
    tiny=dict(width=4),
)
def resnet20(
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    dropout=0.0,
    weight_decay=0.0,
    classifier_activation="softmax",
    shortcut="A",
):
    """ResNet-20 for small images (CIFAR-10 recipe of He et al.).

    Args:
        input_shape: image shape `(H, W, C)`, at least 4x4.
        num_classes: number of classes.
        width: filters of the first stage (16 in the paper); the next
            stages use 2x and 4x.
        dropout: dropout rate before the head (0 in the paper).
        weight_decay: an L2 weight decay on conv and Dense kernels built
            into the model (0: the `cifar10` recipe applies the paper's 1e-4
            when training).
        shortcut: `"A"` (the paper's CIFAR choice: zero-padded identity) or
            `"B"` (1x1 projections).
        classifier_activation: `"softmax"` (default, as keras.applications)
            for float32 class probabilities, or `None` for float32 logits.

    Returns:
        A Functional `keras.Model` named `"resnet20"`: `(B, H, W, C)` floats to
        `(B, num_classes)` float32 class probabilities (logits with
        `classifier_activation=None`).

    Example:

    >>> model = resnet20(input_shape=(28, 28, 1), width=8)
    """
    return _cifar_resnet(
        20, "resnet20", input_shape, num_classes, width, dropout, weight_decay,
        classifier_activation, shortcut,
    )


@register_model(
    family="cnn",
    task="image_classification",
    dataset="cifar10",
    reference=_RESNET_REFERENCE,
    tiny=dict(width=4),
)
def resnet32(
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    dropout=0.0,
    weight_decay=0.0,
    classifier_activation="softmax",
    shortcut="A",
):
    """ResNet-32 for small images (CIFAR-10 recipe of He et al.).

    Same arguments as `resnet20`; five basic blocks per stage.
    """
    return _cifar_resnet(
        32, "resnet32", input_shape, num_classes, width, dropout, weight_decay,
        classifier_activation, shortcut,
    )


@register_model(
    family="cnn",
    task="image_classification",
    dataset="cifar10",
    reference=_RESNET_REFERENCE,
    tiny=dict(width=4),
)
def resnet56(
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    dropout=0.0,
    weight_decay=0.0,
    classifier_activation="softmax",
    shortcut="A",
):
    """ResNet-56 for small images (CIFAR-10 recipe of He et al.).

    Same arguments as `resnet20`; nine basic blocks per stage.
    """
    return _cifar_resnet(
        56, "resnet56", input_shape, num_classes, width, dropout, weight_decay,
        classifier_activation, shortcut,
    )
