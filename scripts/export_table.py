"""Measures which registered model exports to which format, and whether it serves.

For every registered model (its tiny test variant) and format, exports it with
`kz.export`, runs the result in its own runtime (`tf.saved_model.load`,
`tf.lite.Interpreter`, `onnxruntime`) on raw inputs and compares with Keras.
Prints the export table of docs/weights-and-export.md.

    python scripts/export_table.py                 # add tf2onnx, onnx, onnxruntime for ONNX
"""

import argparse
import tempfile

import keras_zoo as kz
from keras_zoo.export import serving_model


def raw_inputs(name, model, seed=0):
    import numpy as np

    serving = serving_model(model)
    spec = serving.inputs[0]
    rng = np.random.default_rng(seed)
    shape = (2,) + tuple(spec.shape[1:])
    if "int" in str(spec.dtype):
        vocab = kz.model_info(name).tiny.get("vocab_size") or kz.model_info(name).defaults["vocab_size"]
        return serving, rng.integers(1, vocab, size=shape).astype("int32")
    if spec.name == "pixels":
        return serving, rng.uniform(0, 255, size=shape).astype("float32")
    return serving, rng.standard_normal(shape).astype("float32")


def run_exported(fmt, path, x):
    import numpy as np

    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)  # keep the reference (else "variables deleted")
        return np.asarray(loaded.serve(x))
    if fmt == "litert":
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=path)
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    import onnxruntime

    session = onnxruntime.InferenceSession(path)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def measure(name, fmt, folder):
    import numpy as np

    model = kz.create_model(name, **kz.model_info(name).tiny)
    serving, x = raw_inputs(name, model)
    expected = np.asarray(serving(x, training=False))
    path = f"{folder}/{name}.{fmt}" + {"savedmodel": "", "litert": ".tflite", "onnx": ".onnx"}[fmt]
    try:
        kz.export(model, path, format=fmt)
    except kz.ZooError as e:
        return "no", _reason(str(e))
    try:
        got = run_exported(fmt, path, x)
    except Exception as e:  # noqa: BLE001  the runtime's refusal is the finding
        return "no", f"converts, does not run: {_reason(str(e))}"
    diff = float(np.max(np.abs(got - expected)))
    return ("yes" if diff < 1e-3 * max(1.0, float(np.max(np.abs(expected)))) else "wrong"), \
        f"max abs diff {diff:.1e}"


def _reason(text):
    for key, reason in (("Flex", "needs SELECT_TF_OPS (Flex) ops the pip interpreter lacks"),
                        ("tf2onnx", "tf2onnx not installed"), ("Erf", "exact GELU (Erf)")):
        if key in text:
            return reason
    return " ".join(text.split())[:120]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="savedmodel,litert,onnx")
    parser.add_argument("--models", default="*")
    args = parser.parse_args(argv)
    formats = args.formats.split(",")
    print("| model | " + " | ".join(formats) + " |")
    print("|---|" + "---|" * len(formats))
    with tempfile.TemporaryDirectory() as folder:
        for name in kz.list_models(args.models):
            cells = []
            for fmt in formats:
                verdict, detail = measure(name, fmt, folder)
                cells.append(f"{verdict} ({detail})")
            print(f"| `{name}` | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
