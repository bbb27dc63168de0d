"""DCGAN: a generator and a discriminator trained adversarially by `fit()`.

```python
model = dcgan(input_shape=(28, 28, 1))
model.compile()                      # Adam(2e-4, beta_1=0.5) for both nets
model.fit(images)                    # images only, floats in [0, 1]
samples = sample_images(model, 16, seed=0)   # (16, 28, 28, 1) in [0, 1]
```

The train step is written once (`DCGAN._adversarial_step`); only the way it
takes gradients depends on the backend: a `tf.GradientTape` on TensorFlow,
`jax.value_and_grad` over pure functions on JAX, where the whole step runs in
a `keras.StatelessScope` that holds the state `fit()` passes in.
"""


import keras
import numpy as np
from keras import ops

from keras_zoo.errors import InvalidArgumentError, is_integer
from keras_zoo.models.dense import check_shape
from keras_zoo.models.registry import register_model

# Radford et al., section 4: every weight from N(0, 0.02); the authors' code
# (Newmu/dcgan_code) draws batch-norm gains from N(1, 0.02) and sets biases to 0.
_INIT = keras.initializers.RandomNormal(stddev=0.02)
_GAMMA_INIT = keras.initializers.RandomNormal(mean=1.0, stddev=0.02)
_MAX_UPSAMPLINGS = 4  # 4x4 -> 64x64 as in the paper
_MIN_STEPS = 2  # so that the discriminator has a batch-normalised layer
DIFF_AUGMENTATIONS = ("translate", "cutout")


def _num_upsamplings(input_shape):
    """How often the generator doubles its start map (the discriminator halves).

    Halves the sides while they are even and the map stays at least 4x4 (the
    paper's start), at most 4 times. Images too small for two such steps
    (8x8) are halved down to 1x1 (three steps for 8x8), so that each network
    has several layers and the discriminator batch-normalised ones.
    """

    def count(smallest):
        counts = []
        for side in input_shape[:2]:
            steps = 0
            while side % 2 == 0 and side // 2 >= smallest and steps < _MAX_UPSAMPLINGS:
                side //= 2
                steps += 1
            counts.append(steps)
        return min(counts)

    steps = count(4)
    if steps == 0:  # not even one halving to 4x4: refused by `dcgan`
        return 0
    return steps if steps >= _MIN_STEPS else max(steps, count(1))


def diff_augment(images, augment, translate, seed):
    """DiffAugment (Zhao et al. 2020): augmentations the discriminator sees on
    real and generated images alike, differentiable so the generator learns
    through them (and, seeing both augmented, does not learn to draw them).

    `"translate"`: each image shifted by up to `translate` pixels, the border
    filled with the background (-1), as the reference's `translation`
    (which fills 0). `"cutout"`: a square of half the side set to 0 (the
    reference's `cutout`, ratio 0.5). Both are gathers and masks, so the
    gradient flows to the generator.

    Args:
        images: `(B, H, W, C)` in [-1, 1].
        augment: names among `"translate"`, `"cutout"`.
        translate: the largest shift in pixels.
        seed: a `keras.random.SeedGenerator`.

    Returns:
        The augmented images, same shape.
    """
    batch = ops.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if "translate" in augment and translate:
        padded = ops.pad(images, [[0, 0], [translate] * 2, [translate] * 2, [0, 0]],
                         constant_values=-1.0)
        shift = keras.random.randint((batch, 2), 0, 2 * translate + 1, seed=seed)

        def picker(size, offset):  # (B, size, size + 2t): row i reads padded row i + offset
            return ops.one_hot(ops.arange(size)[None, :] + offset[:, None], size + 2 * translate,
                               dtype=images.dtype)

        images = ops.einsum("bip,bpqc->biqc", picker(height, shift[:, 0]), padded)
        images = ops.einsum("bjq,biqc->bijc", picker(width, shift[:, 1]), images)
    if "cutout" in augment:
        size_h, size_w = (height + 1) // 2, (width + 1) // 2
        corner = keras.random.randint((batch, 2), 0, 1 << 30, seed=seed)
        top = corner[:, 0:1] % (height - size_h + 1)
        left = corner[:, 1:2] % (width - size_w + 1)
        rows, cols = ops.arange(height)[None, :], ops.arange(width)[None, :]
        inside_rows = ops.logical_and(rows >= top, rows < top + size_h)  # (B, H)
        inside_cols = ops.logical_and(cols >= left, cols < left + size_w)  # (B, W)
        inside = ops.logical_and(inside_rows[:, :, None], inside_cols[:, None, :])
        images = images * ops.cast(ops.logical_not(inside), images.dtype)[..., None]
    return images


def _batch_norm(name):
    return keras.layers.BatchNormalization(gamma_initializer=_GAMMA_INIT, name=name)


def build_generator(input_shape, latent_dim, filters):
    """DCGAN generator: noise `(B, latent_dim)` -> images `(B, H, W, C)` in [-1, 1].

    A projection (Dense) to a `(H / 2^n, W / 2^n, filters 2^(n-1))` map, then
    `n` stride-2 Conv2DTranspose layers halving the channels; BatchNorm and
    ReLU after every layer but the output, which is a tanh (Radford et al.).
    """
    n = _num_upsamplings(input_shape)
    height, width, channels = input_shape
    start = (height // 2**n, width // 2**n, filters * 2 ** (n - 1))
    noise = keras.Input(shape=(latent_dim,), name="noise")
    x = keras.layers.Dense(
        int(np.prod(start)), use_bias=False, kernel_initializer=_INIT, name="project"
    )(noise)
    x = keras.layers.Reshape(start, name="reshape")(x)  # (B, H / 2^n, W / 2^n, filters 2^(n-1))
    x = _batch_norm("project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for i in range(1, n):
        x = keras.layers.Conv2DTranspose(
            filters * 2 ** (n - 1 - i), 4, strides=2, padding="same", use_bias=False,
            kernel_initializer=_INIT, name=f"up{i}_conv",
        )(x)  # doubles H and W
        x = _batch_norm(f"up{i}_bn")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    images = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", activation="tanh",
        kernel_initializer=_INIT, dtype="float32", name="images",
    )(x)  # (B, H, W, C)
    return keras.Model(noise, images, name="generator")


def build_discriminator(input_shape, filters):
    """DCGAN discriminator: images in [-1, 1] -> one float32 logit per image.

    The generator mirrored: `n` stride-2 Conv2D layers doubling the channels
    from `filters`, each followed by BatchNorm (all but the first, which
    reads the images) and LeakyReLU(0.2); the last map, flattened, feeds
    one logit (Radford et al.).
    """
    n = _num_upsamplings(input_shape)
    images = keras.Input(shape=input_shape, name="images")
    x = images
    for i in range(n):
        x = keras.layers.Conv2D(
            filters * 2**i, 4, strides=2, padding="same", use_bias=i == 0,
            kernel_initializer=_INIT, name=f"down{i + 1}_conv",
        )(x)  # halves H and W
        if i > 0:
            x = _batch_norm(f"down{i + 1}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(1, kernel_initializer=_INIT, dtype="float32", name="logit")(x)
    return keras.Model(images, logits, name="discriminator")


class _OptimizerPair:
    """The two optimizers seen by `fit()` as one (`model.optimizer`).

    Keras reads `optimizer.variables` to carry optimizer state through
    the JAX train step, and callbacks (TensorBoard, LearningRateScheduler)
    recognise several optimizers by an `optimizers` attribute.
    """

    def __init__(self, model, d_optimizer, g_optimizer):
        self.optimizers = [d_optimizer, g_optimizer]
        self._networks = [model.discriminator, model.generator]

    @property
    def built(self):
        return all(o.built for o in self.optimizers)

    def build(self, variables=None):
        for optimizer, network in zip(self.optimizers, self._networks):
            if not optimizer.built:
                optimizer.build(network.trainable_variables)

    @property
    def variables(self):
        return self.optimizers[0].variables + self.optimizers[1].variables

    @property
    def iterations(self):
        return self.optimizers[1].iterations  # one generator update per step

    def finalize_variable_values(self):
        """Swaps in each network's weight average, where its optimizer keeps one."""
        for optimizer, network in zip(self.optimizers, self._networks):
            optimizer.finalize_variable_values(network.trainable_variables)


@keras.saving.register_keras_serializable(package="keras_zoo")
class DCGAN(keras.Model):
    """A GAN whose `fit()` trains the discriminator, then the generator.

    A Functional model `noise -> generator(noise)`: calling or predicting
    generates images in [-1, 1]. `fit()` takes images only (a dataset of
    image batches, or `(images, labels)` whose labels are ignored), with
    values in [0, 1]; the step maps them to [-1, 1]. Logs: `d_loss`, `g_loss`.

    Args:
        generator: model `(B, latent_dim)` -> `(B, H, W, C)`, tanh output.
        discriminator: model `(B, H, W, C)` -> `(B, 1)` logits.
        seed: seed of the noise drawn in the train step.
        name: model name.

    Example:

    >>> model = DCGAN(build_generator((8, 8, 1), 16, 8), build_discriminator((8, 8, 1), 8))
    >>> model.compile()
    """

    def __init__(self, generator, discriminator, seed=None, name="dcgan", **kwargs):
        noise = keras.Input(shape=generator.input_shape[1:], name="noise")
        super().__init__(inputs=noise, outputs=generator(noise), name=name, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = generator.input_shape[-1]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer="auto", g_optimizer="auto", loss="auto", label_smoothing=0.0,
                augment=(), translate=1, **kwargs):
        """Configures adversarial training.

        Args:
            d_optimizer: optimizer of the discriminator; `"auto"` is
                `Adam(2e-4, beta_1=0.5)` (Radford et al.).
            g_optimizer: optimizer of the generator; `"auto"` as above. One
                built with `use_ema=True` keeps an average of the generator's
                weights, swapped in at the end of `fit()` (as Keras does for
                a single optimizer).
            loss: loss of a logit against labels 1 (real) / 0 (fake);
                `"auto"` is `BinaryCrossentropy(from_logits=True)`.
            label_smoothing: one-sided label smoothing: the discriminator's
                real targets are `1 - label_smoothing`, the fake ones stay 0
                (Salimans et al. 2016, section 3.4).
            augment: DiffAugment (`diff_augment`) of every image the
                discriminator sees: names among `"translate"`, `"cutout"`.
            translate: the largest shift of `"translate"`, in pixels.
            **kwargs: passed to `keras.Model.compile` (e.g. `run_eagerly`,
                `jit_compile`, `steps_per_execution`).
        """
        if keras.backend.backend() not in ("tensorflow", "jax"):
            raise InvalidArgumentError(
                "DCGAN trains on the TensorFlow and JAX backends. "
                f"Received: KERAS_BACKEND={keras.backend.backend()!r}"
            )
        for key in ("optimizer", "metrics", "loss_weights", "weighted_metrics"):
            if key in kwargs:
                raise InvalidArgumentError(
                    f"DCGAN.compile takes d_optimizer, g_optimizer and loss, not {key!r}. "
                    f"Received: {key}={kwargs[key]!r}"
                )
        is_number = isinstance(label_smoothing, (int, float)) and not isinstance(
            label_smoothing, bool)
        if not is_number or not 0 <= label_smoothing < 1:
            raise InvalidArgumentError(
                "`label_smoothing` must be a number in [0, 1). "
                f"Received: label_smoothing={label_smoothing!r}"
            )
        augment = tuple(augment)
        unknown = sorted(set(augment) - set(DIFF_AUGMENTATIONS))
        if unknown:
            raise InvalidArgumentError(
                f"Unknown GAN augmentation {unknown}; accepted: {', '.join(DIFF_AUGMENTATIONS)}. "
                f"Received: augment={augment!r}")
        super().compile(**kwargs)
        self.label_smoothing = float(label_smoothing)
        self.augment, self.translate = augment, int(translate)
        if d_optimizer == "auto":
            d_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5, name="d_optimizer")
        if g_optimizer == "auto":
            g_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5, name="g_optimizer")
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        if loss == "auto":
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
        self.loss_fn = keras.losses.get(loss)
        self.optimizer = _OptimizerPair(self, self.d_optimizer, self.g_optimizer)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, *args):
        """One adversarial step: `(data)` on TensorFlow, `(state, data)` on JAX."""
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        return self._adversarial_step(*args, loss_and_grads=_tf_loss_and_grads)

    def _jax_train_step(self, state, data):
        refs = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.optimizer.variables,
            self.metrics_variables,
        )
        mapping = [(ref, value) for rs, vs in zip(refs, state) for ref, value in zip(rs, vs)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._adversarial_step(data, loss_and_grads=self._jax_loss_and_grads)
        state = tuple([scope.get_current_value(ref) for ref in rs] for rs in refs)
        return logs, state

    def _jax_loss_and_grads(self, variables, loss_fn):
        """`loss_fn()` and its gradient w.r.t. `variables`, by `jax.value_and_grad`.

        Runs inside the step's StatelessScope; the loss is made a pure
        function of `variables`, every other model variable (BatchNorm
        statistics, the noise seed) is passed in and its update assigned back.
        """
        import jax

        ids = {id(v) for v in variables}
        others = [v for v in self.variables if id(v) not in ids]

        def pure_loss(values):
            mapping = list(zip(variables, values)) + [(v, v.value) for v in others]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss = loss_fn()
            return loss, [scope.get_current_value(v) for v in others]

        (loss, updates), grads = jax.value_and_grad(pure_loss, has_aux=True)(
            [v.value for v in variables]
        )
        for variable, value in zip(others, updates):
            variable.assign(value)
        return loss, grads

    def _adversarial_step(self, data, loss_and_grads):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, "float32") * 2.0 - 1.0  # [0, 1] -> [-1, 1], the tanh range
        batch_size = ops.shape(real)[0]

        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(noise, training=True)

        def judged(images):
            if self.augment:
                images = diff_augment(images, self.augment, self.translate, self.seed_generator)
            return self.discriminator(images, training=True)

        def d_loss_fn():
            real_logits = judged(real)
            fake_logits = judged(fake)
            real_targets = ops.full_like(real_logits, 1.0 - self.label_smoothing)
            return self.loss_fn(real_targets, real_logits) + self.loss_fn(
                ops.zeros_like(fake_logits), fake_logits
            )

        d_loss, grads = loss_and_grads(self.discriminator.trainable_variables, d_loss_fn)
        self.d_optimizer.apply(grads, self.discriminator.trainable_variables)

        def g_loss_fn():
            noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
            logits = judged(self.generator(noise, training=True))
            return self.loss_fn(ops.ones_like(logits), logits)  # non-saturating loss

        g_loss, grads = loss_and_grads(self.generator.trainable_variables, g_loss_fn)
        self.g_optimizer.apply(grads, self.generator.trainable_variables)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, then the generator's weight average if one is kept.

        Keras swaps in an optimizer's moving average at the end of `fit`
        only for a single `keras.optimizers.Optimizer`, not this pair.
        """
        history = super().fit(*args, **kwargs)
        self.optimizer.finalize_variable_values()
        return history

    def get_config(self):
        return {
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "seed": self.seed,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "loss": keras.saving.serialize_keras_object(self.loss_fn),
            "label_smoothing": self.label_smoothing,
            "augment": list(self.augment),
            "translate": self.translate,
        }

    def compile_from_config(self, config):
        config = dict(config)
        plain = {key: config.pop(key) for key in ("label_smoothing", "augment", "translate")
                 if key in config}
        self.compile(**{k: keras.saving.deserialize_keras_object(v) for k, v in config.items()},
                     **plain)
        self.optimizer.build()  # so that saved optimizer state can be loaded


def _tf_loss_and_grads(variables, loss_fn):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
    return loss, tape.gradient(loss, variables)


@register_model(
    family="gan",
    task="image_generation",
    inputs=("image",),
    dataset="mnist",
    reference=(
        "Radford et al. 2015, DCGAN, arXiv:1511.06434; "
        "keras-io 'DCGAN to generate face images'"
    ),
    tiny=dict(latent_dim=8, filters=4),
)
def dcgan(input_shape=(28, 28, 1), latent_dim=100, filters=64):
    """Deep convolutional GAN (Radford et al. 2015) whose depth adapts to the image size.

    As in the paper's guidelines (section 3): no pooling (stride-2
    Conv2DTranspose layers in the generator, stride-2 Conv2D layers in the
    discriminator), batch normalization in the generator except its output
    layer and in the discriminator except its input layer, ReLU in the
    generator with a tanh output, LeakyReLU(0.2) in the discriminator, no
    hidden fully connected layer, weights from N(0, 0.02); `compile()`
    gives both networks Adam(2e-4, beta_1=0.5). The discriminator mirrors
    the generator: `filters` channels first, doubled at each halving.

    Where it departs from the paper, and why:

    - Depth adapts to the image size (the paper has 64x64 only: 4x4 to
      64x64 in 4 steps): the sides are halved while they stay at least
      4x4, at most 4 times, so 28x28 starts at 7x7 and 32x32 at 4x4. Images
      too small for two such steps (8x8) are halved down to 1x1: with a
      4x4 start, 8x8 digits had a one-layer discriminator of 2,113
      parameters against 132,353, no batch norm, and a loss at chance; a
      2x2 start (two layers each) reached 62 % recognised digits, 1x1
      (three layers) 74 % (`keras_zoo.training.gan_metrics`, seed 0). With defaults
      on 8x8, the generator has 683,777 parameters and the discriminator
      658,241.
    - 4x4 kernels (the authors' code: 5x5): divisible by the stride, so
      transposed convolutions overlap evenly (as the PyTorch DCGAN example
      and keras-io).
    - `filters=64` as in the PyTorch DCGAN example; the paper's figure 1
      uses 128 (1024 channels at 4x4).
    - The discriminator outputs a logit and the loss applies the sigmoid
      (`from_logits=True`), which is the paper's sigmoid output computed
      stably.
    - Batch-norm gains are drawn from N(1, 0.02), biases 0, as in the
      authors' code (Newmu/dcgan_code); Keras's momentum 0.99 and epsilon
      1e-3 for the statistics that sampling uses.
    - Not the keras-io example's changes: no label noise, no global max
      pooling, a tanh output rather than a sigmoid.

    Args:
        input_shape: image shape `(H, W, C)`; H and W must be even and at
            least 8 (they are halved at least once down to 4 or more).
        latent_dim: size of the noise vector (100 in the paper).
        filters: width; the last generator layer before the output and the
            first discriminator layer have `filters` channels, each
            resolution step doubles it.

    Returns:
        An uncompiled `DCGAN` named `"dcgan"`, with `.generator`,
        `.discriminator` and `.latent_dim`.

    Example:

    >>> model = dcgan(input_shape=(8, 8, 1), latent_dim=32, filters=16)
    >>> model.compile()
    >>> model.fit(images_in_0_1, epochs=1)
    """
    input_shape = check_shape(input_shape, rank=3)
    if _num_upsamplings(input_shape) < 1:
        raise InvalidArgumentError(
            "dcgan needs images whose height and width are even and at least 8 "
            "(e.g. 8, 28, 32, 64): the generator doubles a map of at least 4x4. "
            f"Received: input_shape={input_shape}"
        )
    for key, value in (("latent_dim", latent_dim), ("filters", filters)):
        if not is_integer(value) or value < 1:
            raise InvalidArgumentError(f"`{key}` must be a positive int. Received: {key}={value!r}")
    return DCGAN(
        build_generator(input_shape, latent_dim, filters),
        build_discriminator(input_shape, filters),
        name="dcgan",
    )


def sample_images(model, num, seed=None):
    """Generates images with a DCGAN (or a bare generator).

    Args:
        model: a `DCGAN`, or a generator model `(B, latent_dim)` -> images.
        num: number of images.
        seed: seed of the noise; the same seed gives the same images.

    Returns:
        float32 numpy array `(num, H, W, C)` with values in [0, 1].

    Example:

    >>> images = sample_images(model, 16, seed=0)
    """
    if not is_integer(num) or num < 1:
        raise InvalidArgumentError(f"`num` must be a positive int. Received: num={num!r}")
    generator = getattr(model, "generator", model)
    latent_dim = generator.input_shape[-1]
    noise = np.random.default_rng(seed).standard_normal((num, latent_dim)).astype("float32")
    # `predict_on_batch` reuses the compiled predict function without `predict`'s
    # per-call adapter and callbacks: 5 against 170 ms for the 64 images of a
    # SampleGrid on the digits recipe's generator (2-core AVX2 CPU, load 7).
    images = np.concatenate([np.asarray(generator.predict_on_batch(noise[i:i + 256]))
                             for i in range(0, num, 256)])
    return np.clip((images.astype("float32") + 1.0) / 2.0, 0.0, 1.0)
