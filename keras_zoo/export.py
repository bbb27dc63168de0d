"""Export a zoo model for serving: SavedModel, LiteRT or ONNX, on `keras.Model.export`.

The exported function takes what a client has, not what the zoo's pipeline
makes of it: images as float32 pixel values in 0..255 (the pipeline's
`x / 255` is folded into the graph), token ids as int32 (0 = padding, 1 =
unknown; the ids of the run's `vocabulary.txt`), noise for a GAN's
generator, whose images come out in 0..255. LoRA factors are merged first.

```python
import keras_zoo as kz

kz.export("runs/cnn", "served/cnn")                   # a SavedModel folder
kz.export("runs/cnn", "cnn.tflite", format="litert")
```

```python
import tensorflow as tf
loaded = tf.saved_model.load("served/cnn")             # no keras-zoo needed
probabilities = loaded.serve(images_0_255)  # a classifier's softmax head
```
"""

import os

from keras_zoo._quiet import quiet_native_logs
from keras_zoo.errors import InvalidArgumentError, ZooError

# keras-zoo format name -> `keras.Model.export` format name.
FORMATS = {"savedmodel": "tf_saved_model", "litert": "litert", "onnx": "onnx"}


class ExportError(ZooError, RuntimeError):
    """A model that does not convert to the asked format (the converter's reason attached)."""


def serving_model(model, *, raw_images=None):
    """A model that reads raw inputs: `model` with the pipeline's scaling folded in.

    Args:
        model: a zoo `keras.Model` (a DCGAN exports its generator).
        raw_images: whether the model reads images scaled by the pipeline
            (x / 255); None infers it: a float input of rank 4 `(B, H, W, C)`.

    Returns:
        A Functional `keras.Model` in float32, LoRA merged.
    """
    import keras

    from keras_zoo import weights
    from keras_zoo.distribute.precision import float32_copy

    model = float32_copy(model)  # mixed precision stays inside training (LiteRT needs float32)
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        generator = model.generator
        noise = keras.Input(generator.input_shape[1:], name="noise", dtype="float32")
        images = generator(noise)  # tanh, in [-1, 1]
        images = keras.layers.Rescaling(127.5, offset=127.5, name="to_pixels",
                                         dtype="float32")(images)  # (B, H, W, C) in 0..255
        return keras.Model(noise, images, name=f"{model.name}_generator")
    model = weights.merge_lora(model)
    if len(model.inputs) != 1:
        return model
    spec = model.inputs[0]
    if raw_images is None:
        raw_images = "float" in str(spec.dtype) and len(spec.shape) == 4
    if not raw_images:
        return model
    pixels = keras.Input(spec.shape[1:], name="pixels", dtype="float32")  # 0..255
    scaled = keras.layers.Rescaling(1.0 / 255.0, name="scale", dtype="float32")(pixels)
    return keras.Model(pixels, model(scaled), name=model.name)


def _call_once(model):
    """Calls `model` on one zero example: Keras's ONNX export refuses a never-called model."""
    import numpy as np

    sample = [np.zeros((1,) + tuple(d or 1 for d in x.shape[1:]), dtype=str(x.dtype))
              for x in model.inputs]
    model(sample[0] if len(sample) == 1 else sample, training=False)


@quiet_native_logs
def export(model_or_run, path, format="savedmodel", *, raw_images=None, verbose=False):
    """Exports a model for serving through `keras.Model.export`.

    Args:
        model_or_run: a `keras.Model`, a run folder or a `.keras` file.
        path: the output: a folder for `"savedmodel"`, a `.tflite` file for
            `"litert"`, an `.onnx` file for `"onnx"`.
        format: `"savedmodel"`, `"litert"` or `"onnx"` (needs `tf2onnx`:
            `pip install "keras-zoo[onnx]"`).
        raw_images: see `serving_model`; a run's dataset decides it.
        verbose: let Keras print what it exports.

    Returns:
        `path`.

    Raises:
        ExportError: the converter failed (its reason is in the message), or
            a LiteRT file does not run in the LiteRT interpreter (it is
            removed: an LSTM's TensorFlow ops).
        InvalidArgumentError: an unknown format, or an output path that
            cannot take it (a file for savedmodel, a folder for a file format).

    Example:

    >>> export("runs/cnn", "served/cnn")
    """
    import keras

    from keras_zoo import data, runs

    if format not in FORMATS:
        raise InvalidArgumentError(
            f"`format` must be one of {', '.join(FORMATS)}. Received: format={format!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"`path` must be a file or folder path. Received: path={path!r}")
    path = os.fspath(path)
    _check_output_path(path, format)
    if isinstance(model_or_run, keras.Model):
        model = model_or_run
    else:
        model = runs.load_model(model_or_run)
        run_dir = runs.run_dir_of(model_or_run)
        if raw_images is None and run_dir is not None:
            dataset = runs.read_json(os.path.join(run_dir, runs.CONFIG)).get("dataset")
            if dataset in data.DATASETS:
                raw_images = data.DATASETS[dataset].kind == "image"
    if format == "onnx":
        import importlib.util

        if importlib.util.find_spec("tf2onnx") is None:
            raise ExportError(
                "ONNX export needs tf2onnx, which is not installed: "
                "pip install 'keras-zoo[onnx]' (tf2onnx and onnx). Received: format='onnx'")
    serving = serving_model(model, raw_images=raw_images)
    _call_once(serving)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    try:
        serving.export(path, format=FORMATS[format], verbose=verbose)
    except Exception as e:  # noqa: BLE001  converters raise anything; the reason is kept
        text = " ".join(str(e).split())
        raise ExportError(
            f"{model.name} does not convert to {format}: {type(e).__name__}: {text[:600]}"
            f"{' ...' if len(text) > 600 else ''} (see the README's export table). "
            f"Received: format={format!r}") from e
    if format == "litert":
        _check_litert_file(path, model.name)
    return path


# The words a user gives the output path in: the API's argument, the CLI's option.
_PATH_NAMES = "`path` (CLI: --out)"


def _check_output_path(path, format):
    """Refuses an output path that cannot take the format, before anything is converted."""
    if format == "savedmodel" and os.path.exists(path) and not os.path.isdir(path):
        raise InvalidArgumentError(
            f"{_PATH_NAMES} must be a folder for savedmodel; {path} is a file. Give a folder "
            f"path (created if needed), or choose --format litert or onnx for one file. "
            f"Received: path={path!r}")
    if format != "savedmodel" and os.path.isdir(path):
        raise InvalidArgumentError(
            f"{_PATH_NAMES} must be a file for {format}; {path} is a folder. Give a file path, "
            f"e.g. {os.path.join(path, 'model.tflite' if format == 'litert' else 'model.onnx')}"
            f". Received: path={path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InvalidArgumentError(
            f"{_PATH_NAMES} is below {parent}, which is a file, not a folder. "
            f"Received: path={path!r}")


def _litert_interpreter(path):
    """The LiteRT interpreter of `path`: ai_edge_litert's if installed, else TensorFlow's."""
    import warnings

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
        warnings.simplefilter("ignore")
        return Interpreter(model_path=path)


def _check_litert_file(path, name):
    """Runs the `.tflite` file once on zeros in the LiteRT interpreter; removes it if it cannot.

    The converter falls back to TensorFlow ops (SELECT_TF_OPS, "Flex") for
    what LiteRT lacks, such as an LSTM's or GRU's loop, and writes a file
    that only an interpreter linked with the Flex delegate runs: not the pip
    packages' (`ai_edge_litert`, `tf.lite`). A file that does not run here is
    no export.

    Raises:
        ExportError: the interpreter cannot load or run the file.
    """
    import re

    import numpy as np

    try:
        interpreter = _litert_interpreter(path)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except Exception as e:  # noqa: BLE001  the interpreter raises RuntimeError, ValueError, ...
        try:
            os.remove(path)
        except OSError:
            pass
        text = " ".join(str(e).split())
        flex = sorted(set(re.findall(r"\bFlex\w+", text)))
        if flex or "Select TensorFlow op" in text:
            ops = f" ({', '.join(flex)})" if flex else ""
            raise ExportError(
                f"{name} does not run as LiteRT: its file needs TensorFlow ops{ops} "
                f"(SELECT_TF_OPS, as an LSTM's or GRU's loop does), which the LiteRT interpreter "
                f"of the pip packages cannot run, so no file was kept. Export it as savedmodel "
                f"(--format savedmodel) instead. Received: format='litert'") from None
        raise ExportError(
            f"{name} converted to LiteRT, but the LiteRT interpreter cannot run the file "
            f"({type(e).__name__}: {text[:400]}), so no file was kept; export it as savedmodel "
            f"instead. Received: format='litert'") from None
