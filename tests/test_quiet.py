"""TensorFlow's native notices are kept off stderr; everything else passes."""

import argparse
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = r"""
import os
import keras_zoo  # noqa: F401  (its import is filtered too)
from keras_zoo._quiet import filtered_stderr

noise = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1795481369.012668   11288 port.cc:153] oneDNN custom operations are on.\n",
    b"I0000 00:00:1796168716.223705   29450 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.\n",
    b"E0000 00:00:1795480468.242354   20209 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
    b"E0000 00:00:1795483672.119633    5725 node_def_util.cc:682] NodeDef mentions attribute "
    b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>\n",
]
with filtered_stderr():
    for line in noise:
        os.write(2, line)
    os.write(2, b"E0000 00:00:1.0 1 other.cc:1] a real error\n")
    os.write(2, b"plain message\n")
"""


def _stderr(env_extra, argv=()):
    env = {**os.environ, **env_extra}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", _SCRIPT, *argv], capture_output=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stderr.decode()


def test_native_notices_filtered_and_the_rest_kept():
    err = _stderr({})
    assert err.splitlines() == ["E0000 00:00:1.0 1 other.cc:1] a real error", "plain message"]


def test_verbose_shows_everything():
    err = _stderr({}, argv=["--verbose"])
    assert "oneDNN custom operations" in err and "cuInit" in err and "plain message" in err


# Every notice seen in `train gru_classifier --dataset half_sums`, `evaluate`, `train dcgan`
# and `lstm_seq2seq` on this machine (TensorFlow 2.21 CPU, AMD EPYC without AVX-512 bool ops).
SEEN = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796168716.220500   29450 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796168716.223705   29450 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "I0000 00:00:1796168717.140795   29450 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796168747.975523   29450 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796168761.522218   31136 tf_record_dataset_op.cc:396] The default buffer size "
    "is 262144, which is overridden by the user specified `buffer_size` of 8388608",
    "E0000 00:00:1796168778.719165   29450 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; ...>",
    "E0000 00:00:1796168795.180324   29450 util.cc:131] oneDNN supports DT_BOOL only on platforms "
    "with AVX-512. Falling back to the default Eigen-based implementation if present.",
    "E0000 00:00:1796169010.180324   29450 meta_optimizer.cc:967] remapper failed: "
    "INVALID_ARGUMENT: Mutation::Apply error: fanout 'gradient_tape/discriminator/x' exist for "
    "missing node 'discriminator/y'.",
    # A damaged tfds folder (tests/test_data_dir.py): the error itself is raised and reported.
    "W0000 00:00:1796214447.038118   29591 local_rendezvous.cc:412] Local rendezvous is aborting "
    "with status: DATA_LOSS: truncated record at 31422' failed with Read less bytes than requested",
    "W0000 00:00:1796216056.909278   21425 local_rendezvous.cc:412] Local rendezvous is aborting "
    "with status: NOT_FOUND: /data/digits/1.0.0/digits-test.tfrecord-00000-of-00001; No such file "
    "or directory",
    "W0000 00:00:1796216120.468146   21951 local_rendezvous.cc:412] Local rendezvous is aborting "
    "with status: FAILED_PRECONDITION: Input dataset was expected to contain 360 elements but "
    "contained only 0 elements.",
    "W0000 00:00:1796214447.032855   29591 cache_dataset_ops.cc:912] The calling iterator did not "
    "fully read the dataset being cached. In order to avoid unexpected truncation of the dataset, "
    "the partially cached contents of the dataset  will be discarded. This can happen if you have "
    "an input pipeline similar to `dataset.cache().take(k).repeat()`.",
    "W0000 00:00:1796648015.046950   10885 root_dataset.cc:364] Optimization loop failed: "
    "CANCELLED: Operation was cancelled",
    # XLA's first compiled function (`generate` with its key/value cache).
    "I0000 00:00:1796603217.483320   21644 service.cc:153] XLA service 0x55974bf6e380 "
    "initialized for platform Host (this does not guarantee that XLA will be used). Devices:",
    "I0000 00:00:1796603217.483345   21644 service.cc:161]   StreamExecutor [0]: Host, Default "
    "Version (Driver: 0.0.0; Runtime: 0.0.0; Toolkit: 0.0.0; DNN: 0.0.0)",
    "I0000 00:00:1796603217.605641   21644 dump_mlir_util.cc:269] disabling MLIR crash "
    "reproducer, set env var `MLIR_CRASH_REPRODUCER_DIRECTORY` to enable.",
    "I0000 00:00:1796603223.086246   21644 device_compiler.h:208] Compiled cluster using XLA!  "
    "This line is logged at most once for the lifetime of the process.",
    # The LiteRT converter and interpreter (`export --format litert`).
    "W0000 00:00:1796603296.039296   22879 tf_tfl_flatbuffer_helpers.cc:364] Ignored "
    "output_format.",
    "W0000 00:00:1796603296.039366   22879 tf_tfl_flatbuffer_helpers.cc:367] Ignored "
    "drop_control_dependency.",
    "I0000 00:00:1796603296.040435   22879 reader.cc:83] Reading SavedModel from: /tmp/tmphgxubld4",
    "I0000 00:00:1796603296.041064   22879 reader.cc:52] Reading meta graph with tags { serve }",
    "I0000 00:00:1796603296.041080   22879 reader.cc:147] Reading SavedModel debug info (if "
    "present) from: /tmp/tmphgxubld4",
    "I0000 00:00:1796603296.048388   22879 mlir_graph_optimization_pass.cc:437] MLIR V1 "
    "optimization pass is not enabled",
    "I0000 00:00:1796603296.049328   22879 loader.cc:236] Restoring SavedModel bundle.",
    "I0000 00:00:1796603296.094197   22879 loader.cc:220] Running initialization op on "
    "SavedModel bundle at path: /tmp/tmphgxubld4",
    "I0000 00:00:1796603296.109889   22879 loader.cc:471] SavedModel load for tags { serve }; "
    "Status: success: OK. Took 69475 microseconds.",
    "E0000 00:00:1796603430.556614   24244 node_def_util.cc:682] NodeDef mentions attribute "
    "Truncate which is not in the op definition: Op<name=Identity; signature=input:T -> "
    "output:T; attr=T:type> This may be expected if your graph generating binary is newer  "
    "than this binary.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]

# The converter's warning about TensorFlow (Flex) ops: `export` reports it in one line.
FLEX_WARNING = [
    "W0000 00:00:1796603430.844165   24171 flatbuffer_export.cc:4237] TFLite interpreter needs "
    "to link Flex delegate in order to run the model since it contains the following Select "
    "TFop(s):",
    "Flex ops: FlexTensorListReserve, FlexTensorListSetItem, FlexTensorListStack",
    "Details:",
    "\ttf.TensorListReserve(tensor<2xi32>, tensor<i32>) -> (tensor<!tf_type.variant<tensor<?x8x"
    "f32>>>) : {device = \"\"}",
    "\ttf.TensorListStack(tensor<!tf_type.variant<tensor<?x8xf32>>>, tensor<2xi32>) -> (tensor<1"
    "x?x8xf32>) : {device = \"\", num_elements = 1 : i64}",
    "See instructions: https://www.tensorflow.org/lite/guide/ops_select",
]

# Lines that could be real errors: they must always pass.
REAL = [
    # CUDA: a driver present but failing, and errors from a GPU machine.
    "E0000 00:00:1.0 20209 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
    "E0000 00:00:1.0 20209 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",  # no "no driver" notice before it
    "E0000 00:00:1.0 1 cuda_dnn.cc:535] Could not create cudnn handle: CUDNN_STATUS_INTERNAL_ERROR",
    "E0000 00:00:1.0 1 cuda_blas.cc:190] failed to create cublas handle: CUBLAS_STATUS_NOT_INITIALIZED",
    "E0000 00:00:1.0 1 cuda_driver.cc:1160] failed to alloc 8589934592 bytes on host: CUDA_ERROR_OUT_OF_MEMORY",
    # Out of memory (a W line from the allocator) and an OOM error.
    "W0000 00:00:1.0 1 bfc_allocator.cc:501] Allocator (GPU_0_bfc) ran out of memory trying to "
    "allocate 2.00GiB (rounded to 2147483648) requested by op Conv2D",
    "W0000 00:00:1.0 1 op_kernel.cc:1857] OP_REQUIRES failed at conv_ops.cc:1234 : "
    "RESOURCE_EXHAUSTED: OOM when allocating tensor with shape[4096,64,28,28]",
    # Other error lines, including ones from the same files as known notices.
    "E0000 00:00:1.0 1 meta_optimizer.cc:967] layout failed: INVALID_ARGUMENT: Size of values 0 "
    "does not match size of permutation 4",
    "E0000 00:00:1.0 1 util.cc:131] something else went wrong",
    "E0000 00:00:1.0 1 node_def_util.cc:682] NodeDef mentions attribute foo which is not in the op",
    "E0000 00:00:1.0 1 port.cc:153] oneDNN failed to initialise",
    "F0000 00:00:1.0 1 logging.cc:1] Check failed: ok",
    "2026-11-24 10:00:00.000000: E tensorflow/core/common_runtime/executor.cc:1] Executor failed",
    # Other statuses the same rendezvous logs: out of memory, other failed preconditions.
    "W0000 00:00:1.0 1 local_rendezvous.cc:412] Local rendezvous is aborting with status: "
    "RESOURCE_EXHAUSTED: OOM when allocating tensor with shape[4096,4096]",
    "W0000 00:00:1.0 1 local_rendezvous.cc:412] Local rendezvous is aborting with status: "
    "FAILED_PRECONDITION: Could not find variable dense/kernel",
    "Traceback (most recent call last):",
    "To enable the following instructions: AVX2 FMA, rebuild it",
    "plain message about CUDA",
]


def test_known_notices_are_dropped():
    from keras_zoo._quiet import NoticeFilter

    notices = NoticeFilter()
    assert [line for line in SEEN if notices.keep(line.encode() + b"\n")] == []


def test_anything_that_could_be_an_error_passes():
    from keras_zoo._quiet import NoticeFilter

    assert [line for line in REAL if not NoticeFilter().keep(line.encode() + b"\n")] == []
    after_the_no_driver_notice = NoticeFilter()
    after_the_no_driver_notice.keep(SEEN[2].encode())
    assert all(after_the_no_driver_notice.keep(line.encode()) for line in REAL if "303" not in line)


def test_the_flex_warning_is_dropped_whole_and_nothing_after_it():
    from keras_zoo._quiet import NoticeFilter

    notices = NoticeFilter()
    assert [line for line in FLEX_WARNING if notices.keep(line.encode() + b"\n")] == []
    assert all(notices.keep(line.encode()) for line in FLEX_WARNING[1:] + REAL)
    alone = NoticeFilter()  # its lines without its first one are not the warning
    assert all(alone.keep(line.encode()) for line in FLEX_WARNING[1:])
    cut_short = NoticeFilter()
    cut_short.keep(FLEX_WARNING[0].encode())
    assert cut_short.keep(b"error: a line of keras-zoo")


def test_nested_filters_share_the_no_driver_notice(monkeypatch):
    """The CLI's filter sees TensorFlow's start-up, `fit`'s nested one the cuInit line."""
    from keras_zoo._quiet import NoticeFilter

    monkeypatch.setattr(NoticeFilter, "_process_saw_no_driver", False)  # a fresh process
    outer, inner = NoticeFilter(process_wide=True), NoticeFilter(process_wide=True)
    assert inner.keep(SEEN[5].encode())  # no driver notice seen yet: it passes
    assert not outer.keep(SEEN[2].encode())
    assert not inner.keep(SEEN[5].encode())


# Issue 21: every command starts and ends the same way (`cli.commands.main`), so none prints
# a native notice: a cheap invocation of each, on one trained run folder.

# Lines of TensorFlow's native logging (absl's prefix and its start-up lines), LiteRT's.
NATIVE_NOTICE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\] "
                           r"|WARNING: All log messages before absl::InitializeLog"
                           r"|To enable the following instructions: "
                           r"|INFO: Created TensorFlow Lite )")


def _run(*argv):
    # oneDNN on, as on a CPU with AVX-512: with it TensorFlow also logs, for a GRU's mask,
    # `oneDNN supports DT_BOOL only on platforms with AVX-512` (seen on this AMD EPYC too,
    # 2026-12-03), which the filter's match above drops.
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1",
           "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "keras_zoo.cli", *argv], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run folder for the commands that read one; `train` is checked on its output."""
    folder = tmp_path_factory.mktemp("every_command")
    run = str(folder / "mlp")
    proc = _run("train", "mlp", "--dataset", "digits", "--epochs", "1", "--steps-per-epoch", "2",
                "--arg", "hidden_units=(8,)", "--seed", "0", "--output", run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), "uint8")).save(folder / "digit.png")  # for `predict`
    return {"run": run, "dir": str(folder), "train": proc}


# command -> its cheap invocation ({run} and {dir} from the fixture).
EVERY_COMMAND = {
    "list": ["list", "--family", "dense"],
    "info": ["info", "mlp"],
    "datasets": ["datasets"],
    "recipe": ["recipe", "mlp", "--dataset", "digits"],
    "train": None,  # the fixture's run
    "evaluate": ["evaluate", "{run}"],
    "generate": ["generate", "gpt_mini", "--weights", "tiny_corpus", "--prompt", "The ",
                 "--length", "20", "--seed", "0"],  # XLA's notices, on TensorFlow
    "weights": ["weights", "gpt_mini"],
    "publish": ["publish", "{run}", "{dir}/published"],
    "export": ["export", "{run}", "--format", "litert", "--out", "{dir}/mlp.tflite"],  # converter
    "predict": ["predict", "{run}", "{dir}/digit.png", "--top", "2"],
    "doctor": ["doctor"],
    "tune": ["tune", "mlp", "--dataset", "digits", "--trials", "1", "--epochs", "1",
             "--arg", "hidden_units=(8,)", "--seed", "0", "--no-refit",
             "--output", "{dir}/tune"],
}


def test_every_command_is_covered():
    from keras_zoo.cli import commands

    parser = commands.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(EVERY_COMMAND)


@pytest.mark.parametrize("command", sorted(EVERY_COMMAND))
def test_every_command_prints_no_native_notice(trained, command):
    if EVERY_COMMAND[command] is None:
        proc = trained["train"]
    else:
        proc = _run(*[arg.format(**trained) for arg in EVERY_COMMAND[command]])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()  # it did its work
    assert [line for line in proc.stderr.splitlines() if NATIVE_NOTICE.match(line)] == []


def test_verbose_shows_the_native_notices_every_command_hides():
    proc = _run(*EVERY_COMMAND["generate"], "--verbose")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cpu_feature_guard.cc" in proc.stderr  # TensorFlow's start-up
    assert [line for line in proc.stderr.splitlines() if NATIVE_NOTICE.match(line)]
