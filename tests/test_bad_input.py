"""The bad-input catalogue: every mistake gets one clear message and writes nothing.

Each row is a mistake a user can make through the API or the `keras-zoo`
command, and the message it must get. API rows must raise a `ZooError`
subclass; CLI rows (run in-process through `cli.main`, a few as real
subprocesses) must exit with code 2 and print exactly one line on stderr,
no traceback. For every row the files under the test's folder are the same
before and after, and the output folder was not created.
"""

import errno
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo import runs, training
from keras_zoo.cli import commands as cli
from keras_zoo.models.transformer import generate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"hidden_units": (8,)}
NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")


def fit(model="mlp", dataset="digits", **kwargs):
    return lambda f: kz.fit(model, dataset, **{"epochs": 1, "model_args": TINY,
                                               "output_dir": f["out"], "verbose": 0, **kwargs})


def at(key):
    return lambda f: f[key]


# (id, call, error class, message regex). `f` holds the prepared files (see `files`).
API_CASES = [
    ("unknown model", fit("resnet21"), kz.UnknownNameError,
     r"Unknown model 'resnet21'\. Did you mean: .*resnet20"),
    ("unknown dataset", fit(dataset="digitz"), kz.UnknownNameError,
     r"Unknown dataset 'digitz'\. Did you mean: digits"),
    ("text model on images", fit("gru_classifier"), kz.IncompatibleError,
     r"gru_classifier reads .* but digits provides .*Datasets that fit"),
    ("image model on text", fit("simple_cnn", "half_sums"), kz.IncompatibleError,
     r"simple_cnn reads .* but half_sums provides"),
    ("zero epochs", fit(epochs=0), kz.InvalidArgumentError,
     r"`epochs` must be a positive integer\. Received: epochs=0"),
    ("negative epochs", fit(epochs=-3), kz.InvalidArgumentError, r"Received: epochs=-3"),
    ("GAN recipe flips", fit("dcgan", model_args={"latent_dim": 8, "filters": 4},
                             recipe={"augment": ("flip",)}), kz.InvalidArgumentError,
     r"\['flip'\], which image_generation models do not apply; accepted: translate, cutout"),
    ("classifier recipe cuts out", fit(recipe={"augment": ("cutout",)}), kz.InvalidArgumentError,
     r"\['cutout'\], which classification models do not apply; accepted: flip, translate"),
    ("zero batch size", fit(batch_size=0), kz.InvalidArgumentError,
     r"positive integer\. Received: batch_size=0"),
    ("fractional batch size", fit(batch_size=2.5), kz.InvalidArgumentError,
     r"Received: batch_size=2\.5"),
    ("negative steps per epoch", fit(steps_per_epoch=-1), kz.InvalidArgumentError,
     r"Received: steps_per_epoch=-1"),
    ("unknown override", fit(model_args={"widht": 8}), kz.InvalidArgumentError,
     r"Model 'mlp' has no argument 'widht'\. Received: widht=8\. Accepted: .*hidden_units"),
    ("wrong override type", fit(model_args={"hidden_units": "big"}), kz.InvalidArgumentError,
     r"'hidden_units' of model 'mlp' must be a tuple\. Received: hidden_units='big'"),
    ("model_args not a dict", fit(model_args="width=8"), kz.InvalidArgumentError,
     r"must be a dict\. Received: model_args='width=8'"),
    ("unknown strategy", fit(strategy="gpus"), kz.UnknownNameError,
     r"Unknown strategy 'gpus'.*Accepted: .*mirrored"),
    ("strategy not available", fit(strategy="mirrored"), kz.InvalidArgumentError,
     r"needs at least 2 GPUs.*Received: strategy='mirrored'"),
    ("unknown precision", fit(precision="fp16"), kz.InvalidArgumentError,
     r"`precision` must be one of .*mixed_bfloat16.*Received: precision='fp16'"),
    ("negative seed", fit(seed=-1), kz.InvalidArgumentError, r"Received: seed=-1"),
    ("output path is a file", lambda f: fit(output_dir=f["file"])(f), kz.InvalidArgumentError,
     r"output path is a file.*Received: output_dir="),
    ("output path under a file", lambda f: fit(output_dir=os.path.join(f["file"], "run"))(f),
     kz.InvalidArgumentError, r"Cannot create the output folder: .* is a file"),
    ("output path not writable", fit(output_dir="/sys/keras_zoo_run"), kz.InvalidArgumentError,
     r"Cannot create the output folder: '/sys' is not writable"),
    ("folder holds another finished run", lambda f: fit(output_dir=f["finished"])(f),
     kz.InvalidArgumentError, r"holds a finished run with a different .*--overwrite"),
    ("tfds dataset not prepared, offline", fit("simple_cnn", "mnist", model_args=None),
     kz.DatasetNotAvailableError, r"Dataset 'mnist' is not prepared .*--data-dir"),
    ("misspelled split", lambda f: kz.load_dataset("digits", "tset"), kz.InvalidArgumentError,
     r"has no split 'tset'\. Received: split='tset'\. Available splits: .*test"),
    ("split slice out of range", lambda f: kz.load_dataset("digits", "test[:200%]"),
     kz.InvalidArgumentError,
     r"(?s)Cannot parse split 'test\[:200%\]'.*should be in \[-100, 100\].*Received: split="),
    ("evaluate on a misspelled split", lambda f: kz.evaluate(f["run"], "digits", split="tets"),
     kz.InvalidArgumentError, r"has no split 'tets'"),
    ("evaluate on an incompatible dataset", lambda f: kz.evaluate(f["run"], "half_sums"),
     kz.IncompatibleError, r"mlp reads .* but half_sums provides"),
    ("corrupt .keras file", lambda f: kz.load_model(f["corrupt"]), kz.InvalidArgumentError,
     r"Could not load the model file \(corrupt, or not saved by keras-zoo\).*Received: path="),
    ("truncated .keras file", lambda f: kz.load_model(f["truncated"]), kz.InvalidArgumentError,
     r"Could not load the model file"),
    (".keras file from another program", lambda f: kz.load_model(f["foreign"]),
     kz.InvalidArgumentError, r"Could not load the model file"),
    ("run folder without a model", lambda f: kz.load_model(f["no_model"]),
     kz.InvalidArgumentError, r"has no model\.keras .*Received: path="),
    ("model file with another extension", lambda f: kz.load_model(f["file"]),
     kz.InvalidArgumentError, r"must be a `\.keras` file"),
    ("batch size not divisible by the devices", "replicas", kz.InvalidArgumentError,
     r"must divide by the 8 data-parallel devices.*Received: batch_size=12"),
    # builder arguments checked against the dataset and this machine's memory
    ("unknown activation", fit(model_args={"activation": "os.system"}), kz.InvalidArgumentError,
     r"Unknown activation 'os\.system' .*Received: activation='os\.system'\. Accepted: .*relu"),
    ("input shape the dataset does not have", fit(model_args={"input_shape": (28, 28, 1)}),
     kz.IncompatibleError, r"Dataset 'digits' has input_shape=\(8, 8, 1\), but model 'mlp' was "
     r"given input_shape=\(28, 28, 1\)"),
    ("fewer classes than the dataset", fit(model_args={"num_classes": 3, **TINY}),
     kz.IncompatibleError, r"has 10 classes, but model 'mlp' was given num_classes=3"),
    ("weights too big for memory", fit(model_args={"hidden_units": (10**9,)}),
     kz.InvalidArgumentError, r"75,000,000,010 parameters: training needs about 1\.2 TB .*more "
     r"than this machine's .* of memory"),
    ("one batch too big for memory", fit(batch_size=100000000000), kz.InvalidArgumentError,
     r"One batch of 100,000,000,000 examples .* about 25\.6 TB .*Received: batch_size="),
    ("batch larger than the training split", fit(batch_size=5000), kz.InvalidArgumentError,
     r"Split 'train[^']*' of dataset 'digits' has \d+ examples, fewer than one batch of 5000"),
    ("empty split", lambda f: kz.load_dataset("digits", "test[:0]", batch_size=8),
     kz.InvalidArgumentError, r"Split 'test\[:0\]' of dataset 'digits' has no examples"),
    ("output path too long", lambda f: fit(output_dir=os.path.join(f["dir"], "a" * 300))(f),
     kz.InvalidArgumentError, r"The output path is too long: .* 300 characters"),
    # run-folder files validated when read
    ("resume: config.json empty", lambda f: fit(output_dir=f["config_empty"])(f),
     kz.DamagedRunFileError, r"config\.json is damaged: it is empty\. .*--overwrite"),
    ("resume: config.json garbage", lambda f: fit(output_dir=f["config_garbage"])(f),
     kz.DamagedRunFileError, r"config\.json is damaged: not valid JSON"),
    ("resume: config.json without dataset", lambda f: fit(output_dir=f["config_no_dataset"])(f),
     kz.DamagedRunFileError, r"config\.json is damaged: it has no 'dataset'"),
    ("resume: metrics.json garbage", lambda f: fit(output_dir=f["metrics_garbage"])(f),
     kz.DamagedRunFileError, r"metrics\.json is damaged: not valid JSON.*keras-zoo evaluate"),
    ("resume: metrics.json empty", lambda f: fit(output_dir=f["metrics_empty"])(f),
     kz.DamagedRunFileError, r"metrics\.json is damaged: it is empty"),
    ("resume: state.json garbage", lambda f: fit(output_dir=f["state_garbage"])(f),
     kz.DamagedRunFileError, r"state\.json is damaged: not valid JSON.*--overwrite"),
    ("resume: state.json truncated", lambda f: fit(output_dir=f["state_truncated"])(f),
     kz.DamagedRunFileError, r"state\.json is damaged: not valid JSON"),
    ("resume: state.json empty", lambda f: fit(output_dir=f["state_empty"])(f),
     kz.DamagedRunFileError, r"state\.json is damaged: it is empty"),
    ("resume: weights missing", lambda f: fit(output_dir=f["weights_missing"])(f),
     kz.DamagedRunFileError, r"its weights file epoch-1\.weights\.h5 is missing"),
    ("resume: weights zero bytes", lambda f: fit(output_dir=f["weights_empty"])(f),
     kz.DamagedRunFileError, r"epoch-1\.weights\.h5 is empty \(0 bytes\)"),
    ("resume: weights truncated", lambda f: fit(output_dir=f["weights_truncated"])(f),
     kz.DamagedRunFileError, r"epoch-1\.weights\.h5 is not readable"),
    ("another process trains into the folder", lambda f: fit(output_dir=f["locked"])(f),
     kz.RunFolderInUseError, r"is in use by another keras-zoo process \(pid \d+\)"),
    # integers are Python or NumPy integers, never bools or floats (issue 21)
    ("integral NumPy float as batch size", fit(batch_size=np.float64(32.0)),
     kz.InvalidArgumentError, r"positive integer\. Received: batch_size=np\.float64\(32\.0\)"),
    ("bool as epochs", fit(epochs=True), kz.InvalidArgumentError, r"Received: epochs=True"),
    ("NumPy bool as batch size", fit(batch_size=np.bool_(True)), kz.InvalidArgumentError,
     r"Received: batch_size=np\.True_"),
    # sampling options: one check each, NaN and infinities refused
    ("temperature NaN", lambda f: generate(f["lm"], [2], 4, temperature=float("nan")),
     kz.InvalidArgumentError, r"`temperature` must be a finite number >= 0\. Received: "
     r"temperature=nan"),
    ("temperature infinite", lambda f: generate(f["lm"], [2], 4, temperature=np.inf),
     kz.InvalidArgumentError, r"Received: temperature=inf"),
    ("top_p NaN", lambda f: generate(f["lm"], [2], 4, top_p=float("nan")),
     kz.InvalidArgumentError, r"`top_p` must be a finite number in \(0, 1\]\. Received: top_p=nan"),
    ("top_k above the vocabulary", lambda f: generate(f["lm"], [2], 4, top_k=10**6),
     kz.InvalidArgumentError, r"`top_k` must be an integer in \[1, 32\]\. Received: top_k=1000000"),
    ("top_k fractional", lambda f: generate(f["lm"], [2], 4, top_k=2.5), kz.InvalidArgumentError,
     r"Received: top_k=2\.5"),
    # export: the output path checked against the format; the file run before it is kept
    ("savedmodel export into a file", lambda f: kz.export(f["run"], f["file"]),
     kz.InvalidArgumentError, r"must be a folder for savedmodel; \S*notes\.txt is a file"),
    ("litert export into a folder", lambda f: kz.export(f["run"], f["dir"], format="litert"),
     kz.InvalidArgumentError, r"must be a file for litert; \S+ is a folder"),
    ("LSTM exported to LiteRT (TensorFlow ops)",
     lambda f: kz.export(f["lstm_run"], os.path.join(f["dir"], "lstm.tflite"), format="litert"),
     kz.ExportError, r"lstm_seq2seq does not run as LiteRT: its file needs TensorFlow ops "
     r"\(Flex\w+.*SELECT_TF_OPS.*pip packages cannot run, so no file was kept\. Export it as "
     r"savedmodel"),
    ("resume on another backend", lambda f: fit(output_dir=f["other_backend"])(f),
     kz.InvalidArgumentError, r"unfinished run trained on the (\w+) backend, and this process "
     r"runs \w+; resume it on \1 \(KERAS_BACKEND=\1\), pass overwrite=True"),
]

# A language model with its vocabulary, shipped in the package.
GENERATE = ["generate", "gpt_mini", "--weights", "tiny_corpus", "--prompt", "The "]

# (id, argv, message regex); {out}, {file}, ... are replaced by the prepared paths.
CLI_CASES = [
    ("train: unknown model", ["train", "resnet21", "--output", "{out}"],
     r"Unknown model 'resnet21'\. Did you mean: .*resnet20"),
    ("train: unknown dataset", ["train", "mlp", "--dataset", "digitz", "--output", "{out}"],
     r"Unknown dataset 'digitz'"),
    ("train: incompatible pair", ["train", "lstm_classifier", "--dataset", "digits",
                                  "--output", "{out}"], r"lstm_classifier reads"),
    ("train: zero epochs", ["train", "mlp", "--epochs", "0", "--output", "{out}"],
     r"Received: epochs=0"),
    ("train: negative batch size", ["train", "mlp", "--batch-size", "-4", "--output", "{out}"],
     r"Received: batch_size=-4"),
    ("train: epochs not a number", ["train", "mlp", "--epochs", "abc", "--output", "{out}"],
     r"argument --epochs: invalid int value: 'abc'"),
    ("train: override without value", ["train", "mlp", "--arg", "width", "--output", "{out}"],
     r"expected KEY=VALUE, got 'width'"),
    ("train: unknown override", ["train", "mlp", "--arg", "nope=1", "--output", "{out}"],
     r"has no argument 'nope'\. Received: nope=1"),
    ("train: wrong override type", ["train", "mlp", "--arg", "hidden_units=big",
                                    "--output", "{out}"], r"must be a tuple"),
    ("train: unknown strategy", ["train", "mlp", "--strategy", "gpus", "--output", "{out}"],
     r"Unknown strategy 'gpus'"),
    ("train: strategy not available", ["train", "mlp", "--strategy", "tpu", "--output", "{out}"],
     r"found no TPU.*Received: strategy='tpu'"),
    ("train: unknown precision", ["train", "mlp", "--precision", "half", "--output", "{out}"],
     r"Received: precision='half'"),
    ("train: output is a file", ["train", "mlp", "--epochs", "1", "--output", "{file}"],
     r"output path is a file"),
    ("train: into another finished run", ["train", "mlp", "--dataset", "digits", "--epochs", "1",
                                          "--output", "{finished}"], r"holds a finished run"),
    ("train: tfds dataset not prepared", ["train", "simple_cnn", "--dataset", "fashion_mnist",
                                          "--output", "{out}"], r"is not prepared"),
    ("train: neither name nor config", ["train", "--output", "{out}"],
     r"give a model name, or --config"),
    ("train: missing config", ["train", "--config", "{dir}/missing.json", "--output", "{out}"],
     r"Cannot read the run config \(No such file or directory\)"),
    ("train: config not JSON", ["train", "--config", "{file}", "--output", "{out}"],
     r"not valid JSON"),
    ("train: config of another program", ["train", "--config", "{other_json}",
                                          "--output", "{out}"], r"Not a keras-zoo run config"),
    ("evaluate: corrupt .keras", ["evaluate", "{corrupt}", "--dataset", "digits"],
     r"Could not load the model file"),
    ("evaluate: zip of another program", ["evaluate", "{foreign}", "--dataset", "digits"],
     r"Could not load the model file"),
    ("evaluate: run folder without a model", ["evaluate", "{no_model}"], r"has no model\.keras"),
    ("evaluate: misspelled split", ["evaluate", "{run}", "--split", "tset"],
     r"has no split 'tset'"),
    ("evaluate: split slice out of range", ["evaluate", "{run}", "--split", "test[:300%]"],
     r"Cannot parse split"),
    ("evaluate: .keras file outside a run", ["evaluate", "{run}/model.keras.copy"],
     r"No such model file"),
    ("generate: a classifier run", ["generate", "{run}"], r"is a classification model, which has nothing to generate"),
    ("generate: non-UTF-8 prompt", ["generate", "{run}", "--prompt", "caf\udce9"],
     r"not valid UTF-8.*Received: prompt='caf\\udce9'"),
    ("generate: zero images", ["generate", "{run}", "--num", "0"], r"Received: --num=0"),
    ("train: unknown activation", ["train", "mlp", "--arg", "activation=os.system",
                                   "--output", "{out}"], r"Unknown activation 'os\.system'"),
    ("train: input shape the dataset lacks", ["train", "mlp", "--arg", "input_shape=(28,28,1)",
                                              "--output", "{out}"], r"has input_shape=\(8, 8, 1\)"),
    ("train: fewer classes", ["train", "mlp", "--arg", "num_classes=3", "--output", "{out}"],
     r"has 10 classes, but model 'mlp' was given num_classes=3"),
    ("train: width as an expression", ["train", "mlp", "--arg", "hidden_units=(10**9,)",
                                       "--output", "{out}"],
     r"argument --arg: hidden_units=\(10\*\*9,\) is not a Python literal .*"
     r"1000000000 for 10\*\*9"),
    ("train: width too big", ["train", "mlp", "--arg", "hidden_units=(1000000000,)",
                              "--output", "{out}"], r"parameters: training needs about 1\.2 TB"),
    ("train: batch too big", ["train", "mlp", "--batch-size", "100000000000", "--output", "{out}"],
     r"One batch of 100,000,000,000 examples"),
    ("train: batch above the split", ["train", "mlp", "--batch-size", "5000", "--epochs", "1",
                                      "--output", "{out}"], r"fewer than one batch of 5000"),
    ("train: output path too long", ["train", "mlp", "--output", "{dir}/" + "a" * 300],
     r"The output path is too long"),
    ("train: damaged config.json", ["train", "mlp", "--output", "{config_garbage}"],
     r"config\.json is damaged: not valid JSON.*--overwrite"),
    ("train: config.json without dataset", ["train", "mlp", "--output", "{config_no_dataset}"],
     r"config\.json is damaged: it has no 'dataset'"),
    ("train: damaged metrics.json", ["train", "mlp", "--output", "{metrics_garbage}"],
     r"metrics\.json is damaged"),
    ("train: damaged state.json", ["train", "mlp", "--output", "{state_truncated}"],
     r"state\.json is damaged"),
    ("train: weights zero bytes", ["train", "mlp", "--output", "{weights_empty}"],
     r"epoch-1\.weights\.h5 is empty"),
    ("train: weights truncated", ["train", "mlp", "--output", "{weights_truncated}"],
     r"epoch-1\.weights\.h5 is not readable"),
    ("train: recipe value as an expression", ["train", "mlp", "--recipe", "learning_rate=1/1000",
                                              "--output", "{out}"],
     r"argument --recipe: learning_rate=1/1000 is not a Python literal"),
    ("train: folder in use", ["train", "mlp", "--output", "{locked}"],
     r"is in use by another keras-zoo process \(pid \d+\)"),
    ("evaluate: empty config.json", ["evaluate", "{config_empty}"],
     r"config\.json is damaged: it is empty.*--dataset"),
    ("evaluate: config.json without dataset", ["evaluate", "{config_no_dataset}"],
     r"config\.json is damaged: it has no 'dataset'"),
    ("info: unknown model", ["info", "vitt"], r"Unknown model 'vitt'\. Did you mean: vit"),
    ("list: unknown family", ["list", "--family", "cnns"], r"Unknown family 'cnns'"),
    # issue 21: sampling options, export paths and formats, a resume on another backend
    ("generate: NaN temperature", GENERATE + ["--temperature", "nan"],
     r"`temperature` must be a finite number >= 0\. Received: temperature=nan"),
    ("generate: infinite temperature", GENERATE + ["--temperature", "inf"],
     r"Received: temperature=inf"),
    ("generate: negative temperature", GENERATE + ["--temperature", "-1"],
     r"Received: temperature=-1\.0"),
    ("generate: NaN top-p", GENERATE + ["--top-p", "nan"],
     r"`top_p` must be a finite number in \(0, 1\]\. Received: top_p=nan"),
    ("generate: zero top-k", GENERATE + ["--top-k", "0"],
     r"`top_k` must be an integer in \[1, \d+\]\. Received: top_k=0"),
    ("export: savedmodel into a file", ["export", "{run}", "--out", "{file}"],
     r"\(CLI: --out\) must be a folder for savedmodel; \S*notes\.txt is a file"),
    ("export: litert into a folder", ["export", "{run}", "--format", "litert", "--out", "{dir}"],
     r"must be a file for litert; \S+ is a folder"),
    ("export: LSTM to LiteRT", ["export", "{lstm_run}", "--format", "litert",
                                "--out", "{dir}/lstm.tflite"],
     r"needs TensorFlow ops \(Flex\w+.*SELECT_TF_OPS.*--format savedmodel"),
    ("train: resume on another backend", ["train", "mlp", "--output", "{other_backend}"],
     r"unfinished run trained on the \w+ backend, and this process runs \w+"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad files and folders, made once, in a folder the cases must leave unchanged."""
    root = tmp_path_factory.mktemp("bad")
    f = {"dir": str(root), "out": str(root / "out")}
    f["file"] = str(root / "notes.txt")
    (root / "notes.txt").write_text("not a folder, not JSON\n")
    model = kz.create_model("mlp", input_shape=(8, 8, 1), num_classes=10, **TINY)
    training.compile_model(model, "classification")
    run = root / "run"
    run.mkdir()
    model.save(str(run / "model.keras"))
    runs.write_json(str(run / "config.json"), {"model": "mlp", "dataset": "digits"})
    f["run"] = str(run)
    finished = root / "finished"
    finished.mkdir()
    runs.write_json(str(finished / "config.json"),
                    {"model": "simple_cnn", "dataset": "digits", "epochs": 5})
    runs.write_json(str(finished / "metrics.json"), {"accuracy": 0.9})
    f["finished"] = str(finished)
    data = (run / "model.keras").read_bytes()
    f["corrupt"] = str(root / "corrupt.keras")
    (root / "corrupt.keras").write_bytes(b"\x00garbage, not a zip file" * 10)
    f["truncated"] = str(root / "truncated.keras")
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    f["foreign"] = str(root / "foreign.keras")
    with zipfile.ZipFile(f["foreign"], "w") as z:
        z.writestr("README.txt", "a zip written by another program")
    no_model = root / "no_model"
    no_model.mkdir()
    runs.write_json(str(no_model / "config.json"), {"model": "mlp", "dataset": "digits"})
    f["no_model"] = str(no_model)
    f["other_json"] = str(root / "package.json")
    (root / "package.json").write_text(json.dumps({"name": "left-pad", "version": "1.3.0"}))
    # Run folders with one damaged file each (a resume of mlp on digits).
    config = {"model": "mlp", "dataset": "digits", "model_args": TINY, "epochs": 1}
    weights = root / "good.weights.h5"
    model.save_weights(str(weights))
    state = json.dumps({"epochs": 1, "weights": "epoch-1.weights.h5", "history": {"0": {}}})
    damaged = {
        "config_empty": {"config.json": b""},
        "config_garbage": {"config.json": b"\x00\x01 not json"},
        "config_no_dataset": {"config.json": b'{"model": "mlp"}'},
        "metrics_garbage": {"metrics.json": b'{"accuracy": 0.9'},
        "metrics_empty": {"metrics.json": b""},
        "state_garbage": {"backup/state.json": b"garbage"},
        "state_truncated": {"backup/state.json": state[:20].encode()},
        "state_empty": {"backup/state.json": b""},
        "weights_missing": {"backup/state.json": state.encode()},
        "weights_empty": {"backup/state.json": state.encode(), "backup/epoch-1.weights.h5": b""},
        "weights_truncated": {"backup/state.json": state.encode(),
                              "backup/epoch-1.weights.h5": weights.read_bytes()[:3000]},
    }
    for name, contents in damaged.items():
        folder = root / name
        (folder / "backup").mkdir(parents=True)
        (folder / "model.keras").write_bytes(data)
        contents = {"config.json": json.dumps(config).encode(), **contents}
        for file, content in contents.items():
            (folder / file).write_bytes(content)
        f[name] = str(folder)
    f["locked"] = str(root / "locked")
    # A language model (vocabulary of 32) and an LSTM run, whose LiteRT file needs Flex ops.
    f["lm"] = kz.create_model("gpt_mini", vocab_size=32, sequence_length=8, embed_dim=8,
                              num_heads=2, ff_dim=8, num_layers=1)
    lstm = root / "lstm_run"
    lstm.mkdir()
    kz.create_model("lstm_seq2seq", embedding_dim=4, units=8).save(str(lstm / "model.keras"))
    runs.write_json(str(lstm / "config.json"), {"model": "lstm_seq2seq", "dataset": "addition"})
    f["lstm_run"] = str(lstm)
    # A run stopped on another Keras backend (its config.json says so; no metrics.json).
    other = root / "other_backend"
    kz.fit("mlp", "digits", epochs=1, steps_per_epoch=2, model_args=TINY, output_dir=str(other),
           verbose=0)
    (other / "metrics.json").unlink()
    config = json.loads((other / "config.json").read_text())
    config["versions"]["backend"] = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    (other / "config.json").write_text(json.dumps(config))
    f["other_backend"] = str(other)
    return f


@pytest.fixture(scope="module", autouse=True)
def lock_holder(files):
    """Another process holding the run folder `files["locked"]` (one writer at a time)."""
    os.makedirs(files["locked"])
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from keras_zoo import runs; "
         "runs.lock_run_dir(sys.argv[1]); print(flush=True); time.sleep(600)", files["locked"]],
        stdout=subprocess.PIPE, env=env)
    holder.stdout.readline()
    yield holder
    holder.kill()
    holder.wait()


def snapshot(folder):
    """Every file under `folder` with its size and modification time."""
    found = {}
    for where, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(where, name)
            stat = os.stat(path)
            found[os.path.relpath(path, folder)] = (stat.st_size, stat.st_mtime_ns)
    return found


def substitute(argv, f):
    return [arg.format(**f) if "{" in arg else arg for arg in argv]


@pytest.mark.parametrize("call, error, match",
                         [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input(files, monkeypatch, call, error, match):
    if call == "replicas":  # as under JAX data parallelism over 8 devices
        from keras_zoo.training import plan

        monkeypatch.setattr(plan, "batch_multiple", lambda strategy=None: 8)
        call = fit(batch_size=12)
    before = snapshot(files["dir"])
    with pytest.raises(error, match=match) as info:
        call(files)
    assert isinstance(info.value, kz.ZooError)
    assert snapshot(files["dir"]) == before
    assert not os.path.exists(files["out"])
    assert not os.path.exists("/sys/keras_zoo_run")


@pytest.mark.parametrize("argv, match", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(files, capsys, argv, match):
    before = snapshot(files["dir"])
    assert cli.main(substitute(argv, files)) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert re.search(match, captured.err), captured.err
    assert snapshot(files["dir"]) == before
    assert not os.path.exists(files["out"])


def test_catalogue_is_large_and_covers_the_api_and_the_cli():
    assert len(API_CASES) + len(CLI_CASES) >= 90
    assert len({c[0] for c in API_CASES + CLI_CASES}) == len(API_CASES) + len(CLI_CASES)


# A few as a user would meet them: a real process, native logs filtered.


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "keras_zoo.cli", *args], capture_output=True,
                          env=env, timeout=300)
    stderr = [line for line in proc.stderr.decode("utf-8", "replace").splitlines()
              if not NATIVE_LOG.match(line)]
    return proc.returncode, stderr


def test_subprocess_non_utf8_prompt(files):
    code, stderr = run_cli("generate", files["run"], "--prompt", b"caf\xe9")
    assert code == 2 and len(stderr) == 1, stderr
    assert stderr[0].startswith("error: The prompt is not valid UTF-8"), stderr


def test_subprocess_corrupt_model_file(files):
    before = snapshot(files["dir"])
    code, stderr = run_cli("evaluate", files["truncated"], "--dataset", "digits")
    assert code == 2 and len(stderr) == 1, stderr
    assert "Could not load the model file" in stderr[0] and "Traceback" not in stderr[0]
    assert snapshot(files["dir"]) == before


def test_lambda_layers_are_the_only_unsafe_case_and_keras_agrees():
    # Guard for the message in `load_model`: Keras names safe_mode in its refusal.
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t + 1)(inputs))
    config = keras.saving.serialize_keras_object(model)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.deserialize_keras_object(config, safe_mode=True)


_TOO_SMALL = ["train", "gpt_mini", "--dataset", "tiny_corpus", "--batch-size", "100000",
              "--steps-per-epoch", "1", "--epochs", "1", "--output"]
_TOO_SMALL_LINE = (r"error: Split 'train[^']*' of dataset 'tiny_corpus' has \d+ windows of 129 "
                   r"tokens, fewer than one batch of 100000")


def test_data_too_small_for_one_window_is_one_line_on_tensorflow(tmp_path, capsys, monkeypatch):
    # A device memory large enough that the memory check passes and the data check speaks.
    monkeypatch.setenv("KERAS_ZOO_DEVICE_MEMORY", "100TiB")
    assert cli.main(_TOO_SMALL + [str(tmp_path / "run")]) == 2
    stderr = capsys.readouterr().err.splitlines()
    assert len(stderr) == 1 and re.match(_TOO_SMALL_LINE, stderr[0]), stderr
    assert not os.path.exists(tmp_path / "run")


def test_data_too_small_for_one_window_is_one_line_on_jax(tmp_path):
    # Under JAX this was a bare StopIteration (exit 1); on TensorFlow a warning and no step.
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               KERAS_BACKEND="jax", KERAS_ZOO_DEVICE_MEMORY="100TiB")
    proc = subprocess.run([sys.executable, "-m", "keras_zoo.cli"] + _TOO_SMALL
                          + [str(tmp_path / "run")], capture_output=True, env=env, timeout=600)
    stderr = [line for line in proc.stderr.decode("utf-8", "replace").splitlines()
              if not NATIVE_LOG.match(line)]
    assert proc.returncode == 2 and len(stderr) == 1, stderr
    assert re.match(_TOO_SMALL_LINE, stderr[0]), stderr
    assert not os.path.exists(tmp_path / "run")


# Issue 21: what a user may pass is taken, wherever it is taken.


def test_numpy_integers_and_paths_are_taken_wherever_ints_and_paths_are(tmp_path):
    data_dir = pathlib.Path(os.environ["TFDS_DATA_DIR"])  # conftest's, prepared once
    out = tmp_path / "run"
    result = kz.fit("mlp", "digits", epochs=np.int64(1), batch_size=np.int64(32),
                    steps_per_epoch=np.int32(2), seed=np.int64(3), model_args=TINY,
                    output_dir=out, data_dir=data_dir, verbose=0)
    config = json.loads((out / "config.json").read_text())
    assert (config["batch_size"], config["epochs"], config["seed"]) == (32, 1, 3)
    assert result.model is not None and os.path.isfile(out / "model.keras")
    metrics = kz.evaluate(out, "digits", batch_size=np.int64(16), data_dir=data_dir)
    assert set(metrics) == {"accuracy", "loss"}
    batch = next(iter(kz.load_dataset("digits", "test", batch_size=np.int64(8),
                                      seed=np.int64(1), data_dir=data_dir)))
    assert batch[0].shape[0] == 8
    assert kz.load_model(out).name == "mlp"
    assert kz.export(out, tmp_path / "served") == str(tmp_path / "served")
    assert (tmp_path / "served" / "saved_model.pb").is_file()
    lm = kz.create_model("gpt_mini", vocab_size=32, sequence_length=8, embed_dim=8, num_heads=2,
                         ff_dim=8, num_layers=1)
    ids = generate(lm, np.array([2, 3]), np.int64(3), temperature=np.float32(0.5),
                   top_k=np.int64(4), top_p=np.float64(0.9), seed=0)
    assert ids.shape == (5,)


def test_run_folder_made_unwritable_mid_run_is_exit_2_naming_the_path(tmp_path, capsys,
                                                                       monkeypatch):
    # As root `chmod a-w` does not stop a write: every write of the run folder after its
    # first checkpoint fails as on a folder made read-only (chmod a-w, chattr +i) instead.
    from keras_zoo.runs import folder

    out = tmp_path / "run"
    argv = ["train", "mlp", "--dataset", "digits", "--epochs", "3", "--steps-per-epoch", "2",
            "--arg", "hidden_units=(8,)", "--seed", "0", "--output", str(out)]
    real = folder._fsync

    def unwritable_after_epoch_1(path):
        if (out / "backup" / "state.json").exists() and str(path).startswith(str(out)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        real(path)

    with monkeypatch.context() as patch:
        patch.setattr(folder, "_fsync", unwritable_after_epoch_1)
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.match(rf"error: Could not write {re.escape(str(out))}/\S+: Permission denied\. "
                    r"What was saved before is intact; make the folder writable .*chmod u\+w.* "
                    r"run the same command again to resume", err), err
    assert runs.read_state(str(out))["epochs"] == 1
    assert cli.main(argv) == 0  # writable again: the run resumes


def test_a_permission_error_from_a_library_is_exit_2_naming_the_path(capsys, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), "/x/run/logs/events.out")

    monkeypatch.setattr(kz, "fit", denied)
    assert cli.main(["train", "mlp", "--dataset", "digits", "--output", "/x/run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: Permission denied on /x/run/logs/events.out "), err
    assert "chmod u+w" in err and "internal error" not in err


def _raw_stderr(argv, **env_changes):
    """Exit code and every stderr line of a real `keras-zoo` process, as a user sees them."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run([sys.executable, "-m", "keras_zoo.cli", *argv], capture_output=True,
                          env=env, timeout=300)
    return proc.returncode, proc.stderr.decode("utf-8", "replace").splitlines()


def test_subprocess_lstm_to_litert_is_one_line_and_no_file(files):
    out = os.path.join(files["dir"], "lstm.tflite")
    code, stderr = _raw_stderr(["export", files["lstm_run"], "--format", "litert", "--out", out])
    assert code == 2 and len(stderr) == 1, stderr  # the converter's Flex warning filtered
    assert "SELECT_TF_OPS" in stderr[0] and "--format savedmodel" in stderr[0], stderr
    assert not os.path.exists(out)


def test_subprocess_home_not_writable_is_one_line(tmp_path):
    # HOME a file: matplotlib can make no config folder there (even as root).
    home = tmp_path / "home"
    home.write_text("")
    code, stderr = _raw_stderr(["train", "mlp", "--epochs", "0", "--output", str(tmp_path / "r")],
                               HOME=str(home), XDG_CONFIG_HOME=None, XDG_CACHE_HOME=None,
                               MPLCONFIGDIR=None)
    assert code == 2 and stderr == ["error: `epochs` must be a positive integer. Received: "
                                    "epochs=0"], stderr
