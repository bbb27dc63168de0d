"""Untrusted `.keras` and `.weights.h5` files are checked before they are opened.

The bombs are small on disk but declare (and, for the real ones, expand to)
gigabytes. The CLI rows run in a child process whose address space is capped
a little above what it had after importing TensorFlow, so a regression that
reads a bomb fails at once with a MemoryError instead of taking the machine
down; the same child reports its peak memory.
"""

import json
import os
import re
import struct
import subprocess
import sys
import zipfile
import zlib

import h5py
import keras
import numpy as np
import pytest

import keras_zoo as kz
from keras_zoo.runs import archive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")
GiB = 1 << 30
CHUNK = 64 << 20


# --- zip files written by hand, so members can declare what they like -------


def _deflated_run(byte, size):
    """`size` copies of `byte`, raw-deflated, built from one compressed 64 MiB block.

    A full flush makes each block independent of the previous ones, so the
    same bytes repeat; compressing 3 GB would take half a minute.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(byte * CHUNK) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    piece = byte * CHUNK
    for _ in range(size // CHUNK):
        crc = zlib.crc32(piece, crc)
    return [block] * (size // CHUNK), crc, compressor


def write_zip(path, members):
    """Writes a zip; `members` are `(name, stored_bytes, method, declared_size, crc)`."""
    with open(path, "wb") as f:
        central = []
        for name, data, method, size, crc in members:
            offset = f.tell()
            raw = name.encode()
            header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc,
                                 len(data), size, len(raw), 0)
            f.write(header + raw + data)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method,
                                       0, 0, crc, len(data), size, len(raw), 0, 0, 0, 0, 0,
                                       offset) + raw)
        start = f.tell()
        blob = b"".join(central)
        f.write(blob)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                            len(blob), start, 0))


def stored(name, data):
    return (name, data, zipfile.ZIP_STORED, len(data), zlib.crc32(data))


def tiny_mlp():
    return kz.create_model("mlp", input_shape=(8, 8, 1), num_classes=10, hidden_units=(8,))


def keras_members(model):
    """The members of `model` saved as a `.keras` file, as `stored` tuples."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"kz-members-{os.getpid()}.keras")
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    os.remove(path)
    return members


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    model = tiny_mlp()
    parts = keras_members(model)
    files = {"model": model}

    good = d / "good.keras"
    write_zip(good, [stored(n, b) for n, b in parts.items()])
    files["good"] = good

    # 3 GB of zeros in the weights member (2.9 MB on disk).
    size = 45 * CHUNK
    blocks, crc, compressor = _deflated_run(b"\0", size)
    data = b"".join(blocks) + compressor.flush()
    files["weights_bomb"] = d / "weights_bomb.keras"
    write_zip(files["weights_bomb"], [stored("metadata.json", parts["metadata.json"]),
                                      stored("config.json", parts["config.json"]),
                                      ("model.weights.h5", data, zipfile.ZIP_DEFLATED, size, crc)])

    # 2 GiB of spaces, then the valid JSON config.
    size = 32 * CHUNK
    blocks, crc, compressor = _deflated_run(b" ", size)
    tail = parts["config.json"]
    data = b"".join(blocks) + compressor.compress(tail) + compressor.flush()
    crc = zlib.crc32(tail, crc)
    files["config_bomb"] = d / "config_bomb.keras"
    write_zip(files["config_bomb"], [stored("metadata.json", parts["metadata.json"]),
                                     ("config.json", data, zipfile.ZIP_DEFLATED,
                                      size + len(tail), crc),
                                     stored("model.weights.h5", parts["model.weights.h5"])])

    # A weights member of random bytes, stored (ratio 1), far larger than the
    # tiny model can need.
    noise = np.random.default_rng(0).bytes(6 << 20)
    files["oversized"] = d / "oversized.keras"
    write_zip(files["oversized"], [stored("metadata.json", parts["metadata.json"]),
                                   stored("config.json", parts["config.json"]),
                                   stored("model.weights.h5", noise)])

    # A config declaring 70 MiB (ratio 70; the 1 MiB stored is a lie, never read).
    files["config_declared"] = d / "config_declared.keras"
    write_zip(files["config_declared"], [stored("metadata.json", parts["metadata.json"]),
                                         ("config.json", b" " * (1 << 20), zipfile.ZIP_STORED,
                                          70 << 20, 0),
                                         stored("model.weights.h5", parts["model.weights.h5"])])

    # An HDF5 weights file whose one chunked, compressed array declares 800 MB.
    h5_path = d / "h5_bomb.weights.h5"
    with h5py.File(h5_path, "w") as h5:
        h5.create_dataset("vars/0", shape=(200_000_000,), dtype="float32",
                          chunks=(1 << 20,), compression="gzip")
    files["h5_bomb"] = h5_path
    files["h5_in_keras"] = d / "h5_in_keras.keras"
    write_zip(files["h5_in_keras"], [stored("metadata.json", parts["metadata.json"]),
                                     stored("config.json", parts["config.json"]),
                                     stored("model.weights.h5", h5_path.read_bytes())])

    # A config describing 110 billion parameters (440 GB), tiny weights.
    with keras.StatelessScope(initialize_variables=False):
        inputs = keras.Input((100_000,), name="x")
        hidden = keras.layers.Dense(100_000, name="wide")(inputs)
        huge = keras.Model(inputs, keras.layers.Dense(1_000_000, name="wider")(hidden))
        huge_config = json.dumps(keras.saving.serialize_keras_object(huge)).encode()
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("uninitialized_variables", [])
    files["huge_config"] = d / "huge_config.keras"
    write_zip(files["huge_config"], [stored("metadata.json", parts["metadata.json"]),
                                     stored("config.json", huge_config),
                                     stored("model.weights.h5", parts["model.weights.h5"])])

    for bad in ("../../x", "/etc/keras_zoo_x"):
        key = "dotdot" if bad.startswith("..") else "absolute"
        files[key] = d / f"{key}.keras"
        write_zip(files[key], [stored(n, b) for n, b in parts.items()] + [stored(bad, b"x")])
    files["duplicate"] = d / "duplicate.keras"
    write_zip(files["duplicate"], [stored(n, b) for n, b in parts.items()]
              + [stored("config.json", parts["config.json"])])
    return files


# --- the check itself --------------------------------------------------------


def test_files_saved_by_the_zoo_pass_and_load(bombs):
    archive.check_keras_archive(bombs["good"])
    model = kz.load_model(bombs["good"])
    assert model.count_params() == bombs["model"].count_params()


@pytest.mark.parametrize("key, match", [
    ("weights_bomb", r"member 'model\.weights\.h5' declares 2\.8 GiB but stores 2\.\d MiB "
                     r"\(over 100x; a decompression bomb\)"),
    ("config_bomb", r"member 'config\.json' declares 2\.0 GiB but stores .*over 100x"),
    ("oversized", r"model\.weights\.h5 declares 6\.0 MiB, but the model in config\.json has "
                  r"610 parameters in 4 variables \(at most 1\.\d MiB of weights\)"),
    ("config_declared", r"config\.json holds more than 64\.0 MiB \(declared 70\.0 MiB\)"),
    ("h5_in_keras", r"the arrays in model\.weights\.h5 declare 762\.9 MiB, over what the model "
                    r"can need \(1\.\d MiB\)"),
    ("huge_config", r"config\.json describes a model of 110,001,100,000 parameters .*over the "
                    r"limit\. If you trust the file .*KERAS_ZOO_MAX_MODEL_BYTES"),
    ("dotdot", r"member '\.\./\.\./x' points outside the archive"),
    ("absolute", r"member '/etc/keras_zoo_x' points outside the archive"),
    ("duplicate", r"member 'config\.json' appears twice"),
])
def test_unsafe_archives_are_refused_with_one_line(bombs, key, match):
    with pytest.raises(kz.InvalidArgumentError, match=match) as info:
        kz.load_model(bombs[key])
    assert "\n" not in str(info.value) and str(bombs[key]) in str(info.value)


# One per family (BatchNorm's extra variables, attention, recurrent cells).
@pytest.mark.parametrize("name", ["simple_cnn", "resnet20", "gpt_mini", "bilstm_classifier"])
def test_every_model_saved_after_training_passes(name, tmp_path):
    from keras_zoo import training
    from tests.helpers import sample_batch, tiny_model

    model = tiny_model(name)
    training.compile_model(model, kz.model_info(name).task)
    x, y = sample_batch(name, model, batch_size=2)
    model.fit(x, y, epochs=1, verbose=0)  # with Adam's slots in the file
    path = tmp_path / "m.keras"
    model.save(path)
    archive.check_keras_archive(path)
    with zipfile.ZipFile(path) as zf:
        size = zf.getinfo("model.weights.h5").file_size
    assert size < archive.weights_limit(*archive.model_size(model)) / 2


def test_a_trained_dcgan_passes(tmp_path):
    from tests.helpers import tiny_model

    model = tiny_model("dcgan")
    model.compile()
    images = np.random.default_rng(0).random((4,) + tuple(model.discriminator.inputs[0].shape[1:]))
    model.fit(images.astype("float32"), epochs=1, batch_size=2, verbose=0)
    model.save(tmp_path / "gan.keras")
    archive.check_keras_archive(tmp_path / "gan.keras")
    assert kz.load_model(tmp_path / "gan.keras").count_params() == model.count_params()


def test_the_absolute_limit_is_an_argument_and_an_environment_variable(bombs, monkeypatch):
    with pytest.raises(kz.InvalidArgumentError, match=r"in all, over the limit\. If you trust"):
        archive.check_keras_archive(bombs["good"], max_bytes=10_000)
    monkeypatch.setenv(archive.MAX_BYTES_ENV, "10K")
    with pytest.raises(kz.InvalidArgumentError, match=r"raise the limit \(10\.0 KiB\) with "
                                                      r"KERAS_ZOO_MAX_MODEL_BYTES"):
        kz.load_model(bombs["good"])
    monkeypatch.setenv(archive.MAX_BYTES_ENV, "1T")
    archive.check_keras_archive(bombs["good"])
    assert archive.max_model_bytes() == 1 << 40
    monkeypatch.setenv(archive.MAX_BYTES_ENV, "lots")
    with pytest.raises(kz.InvalidArgumentError, match=r"Received: KERAS_ZOO_MAX_MODEL_BYTES='lots'"):
        archive.check_keras_archive(bombs["good"])


def test_the_config_estimate_is_exact_and_allocates_nothing():
    for name in ("resnet20", "transformer_classifier", "lstm_seq2seq"):
        model = kz.create_model(name)
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        assert archive.config_model_size(config) == archive.model_size(model)
    from keras.src.backend.common import global_state

    assert not global_state.get_global_attribute("uninitialized_variables")


def test_weights_files_are_checked_against_the_model_and_the_limit(bombs, tmp_path):
    model = bombs["model"]
    good = tmp_path / "good.weights.h5"
    model.save_weights(good)
    archive.check_weights_file(good, model=model)
    with pytest.raises(kz.InvalidArgumentError, match=r"the arrays in h5_bomb\.weights\.h5 "
                                                      r"declare 762\.9 MiB"):
        archive.check_weights_file(bombs["h5_bomb"], model=model)
    with pytest.raises(kz.InvalidArgumentError, match=r"the arrays .* declare 762\.9 MiB, over "
                                                      r"the limit \(1\.0 MiB\)"):
        archive.check_weights_file(bombs["h5_bomb"], max_bytes=1 << 20)
    big = tmp_path / "big.weights.h5"
    big.write_bytes(np.random.default_rng(0).bytes(3 << 20))
    with pytest.raises(kz.InvalidArgumentError, match=r"holds 3\.0 MiB, over what a model of "
                                                      r"610 parameters can need"):
        archive.check_weights_file(big, model=model)


# --- the CLI rows, in a child with its memory capped -------------------------

CHILD = r"""
import os, resource, sys
import tensorflow  # the large virtual reservations happen at import
import keras_zoo
from keras_zoo import cli

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

limit = vm_size() + int(os.environ["KZ_HEADROOM"])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    code = cli.main(sys.argv[1:])
finally:
    with open(os.environ["KZ_MAXRSS"], "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
sys.exit(code)
"""


def run_capped(tmp_path, *args, headroom):
    out = tmp_path / f"maxrss-{len(list(tmp_path.iterdir()))}"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               KZ_HEADROOM=str(headroom), KZ_MAXRSS=str(out))
    proc = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                          env=env, timeout=300)
    stderr = [line for line in proc.stderr.decode("utf-8", "replace").splitlines()
              if not NATIVE_LOG.match(line)]
    assert out.exists(), stderr[-5:]
    return proc.returncode, stderr, int(out.read_text())


@pytest.mark.slow
def test_cli_refuses_bombs_in_a_capped_process_within_200_mb_of_a_normal_evaluate(
        bombs, tmp_path):
    # A normal evaluate starts tf.data's thread pools (1 GiB of headroom is too little for them).
    code, stderr, normal = run_capped(tmp_path, "evaluate", bombs["good"], "--dataset", "digits",
                                      headroom=3 * GiB)
    assert code == 0, stderr
    for key in ("weights_bomb", "config_bomb"):
        # Without the check, reading the 2-3 GB member fails on the cap at once.
        code, stderr, peak = run_capped(tmp_path, "evaluate", bombs[key], "--dataset", "digits",
                                        headroom=1 * GiB)
        assert code == 2 and len(stderr) == 1, stderr
        assert stderr[0].startswith("error: Refused the file before loading it"), stderr
        assert peak <= normal + 200 * (1 << 20), (key, peak, normal)


def test_create_model_refuses_a_weights_file_declaring_huge_arrays(bombs, monkeypatch):
    monkeypatch.setenv(archive.MAX_BYTES_ENV, "100M")
    with pytest.raises(kz.InvalidArgumentError, match=r"the arrays in h5_bomb\.weights\.h5 "
                                                      r"declare 762\.9 MiB, over the limit"):
        kz.create_model("mlp", weights=str(bombs["h5_bomb"]))
