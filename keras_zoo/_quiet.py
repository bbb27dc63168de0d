"""Keeps TensorFlow's known, harmless native notices off the user's terminal.

Also what every `keras-zoo` command does first (`quiet_python_logs`,
`private_matplotlib_dir`), so each one shows its output and at most one
error line.

TensorFlow 2.21 logs through absl from C++ straight to file descriptor 2, and
`TF_CPP_MIN_LOG_LEVEL` no longer stops all of it. `filtered_stderr()` drops
exactly the notices listed in `KNOWN_NOTICES`, each matched by its source
file and line and the start of its message, and passes every other line
through as it is written: an unknown line, whatever its level, could be a real
error (a CUDA failure, an out-of-memory, a kernel error).
"""

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings

# absl's native prefix: severity, date, time, thread id ("E0000 00:00:1795.. 1234 ").
_PREFIX = rb"[IWE]\d{4} [\d:.]+\s+\d+ "

# The notices TensorFlow 2.21 (CPU wheel) prints during zoo commands on a
# machine without a GPU, each harmless: (source file:line, message start).
KNOWN_NOTICES = (
    # Start-up banners.
    ("port.cc:153", "oneDNN custom operations are on."),
    ("cudart_stub.cc:31", "Could not find cuda drivers on your machine, GPU will not be used."),
    ("cpu_feature_guard.cc:227", "This TensorFlow binary is optimized to use available CPU "
                                 "instructions in performance-critical operations."),
    # tf.data: an attribute newer than the op registry (tfds's graphs), defaulted.
    ("node_def_util.cc:682", "NodeDef mentions attribute use_unbounded_threadpool which is not "
                             "in the op definition"),
    ("tf_record_dataset_op.cc:396", "The default buffer size is 262144, which is overridden by "
                                    "the user specified `buffer_size`"),
    # oneDNN has no bool kernels without AVX-512; TensorFlow uses its own (RNN masks).
    ("util.cc:131", "oneDNN supports DT_BOOL only on platforms with AVX-512. Falling back to "
                    "the default Eigen-based implementation if present."),
    # A grappler pass skips a graph it cannot rewrite (the DCGAN's train step); the
    # graph runs unoptimised by that pass, with the same results.
    ("meta_optimizer.cc:967", "remapper failed: INVALID_ARGUMENT: Mutation::Apply error: "),
    # A damaged tfds record file (truncated or corrupted, missing, fewer records than
    # its metadata counts): TensorFlow logs the failed read as it raises it, and the
    # zoo reports that error in one line naming the file (data/folders.py).
    ("local_rendezvous.cc:412", "Local rendezvous is aborting with status: DATA_LOSS: "),
    ("local_rendezvous.cc:412", "Local rendezvous is aborting with status: NOT_FOUND: "),
    ("local_rendezvous.cc:412", "Local rendezvous is aborting with status: FAILED_PRECONDITION: "
                                "Input dataset was expected to contain "),
    # tf.data drops a memory cache whose filling pass stopped early (the error above,
    # Ctrl-C); the zoo fills its caches whole before any other read (pipeline._filled_cache).
    ("cache_dataset_ops.cc:912", "The calling iterator did not fully read the dataset being "
                                 "cached. In order to avoid unexpected truncation of the "
                                 "dataset, the partially cached contents of the dataset  will "
                                 "be discarded."),
    # tf.data's background autotuning, cancelled as an iterator is dropped early (a race:
    # seen once in 1,054 tests, a command refusing an empty data folder, 2026-12-07).
    ("root_dataset.cc:364", "Optimization loop failed: CANCELLED: Operation was cancelled"),
    # XLA at its first compiled function (`generate`'s key/value-cache loop, jit_compile).
    ("service.cc:153", "XLA service 0x"),
    ("service.cc:161", "  StreamExecutor "),
    ("dump_mlir_util.cc:269", "disabling MLIR crash reproducer, set env var "
                              "`MLIR_CRASH_REPRODUCER_DIRECTORY` to enable."),
    ("device_compiler.h:208", "Compiled cluster using XLA!  This line is logged at most once "
                              "for the lifetime of the process."),
    # The LiteRT converter (`export --format litert`) reading the SavedModel Keras wrote.
    ("tf_tfl_flatbuffer_helpers.cc:364", "Ignored output_format."),
    ("tf_tfl_flatbuffer_helpers.cc:367", "Ignored drop_control_dependency."),
    ("reader.cc:83", "Reading SavedModel from: "),
    ("reader.cc:52", "Reading meta graph with tags { serve }"),
    ("reader.cc:147", "Reading SavedModel debug info (if present) from: "),
    ("mlir_graph_optimization_pass.cc:437", "MLIR V1 optimization pass is not enabled"),
    ("loader.cc:236", "Restoring SavedModel bundle."),
    ("loader.cc:220", "Running initialization op on SavedModel bundle at path: "),
    ("loader.cc:471", "SavedModel load for tags { serve }; Status: success: OK."),
    ("node_def_util.cc:682", "NodeDef mentions attribute Truncate which is not in the op "
                             "definition: Op<name=Identity;"),
)

# A converted model with TensorFlow (Flex) ops: a warning of several lines, the first
# prefixed, up to its link. `export` runs the file and reports this in one line itself.
_FLEX_START = re.compile(
    rb"^" + _PREFIX + rb"flatbuffer_export\.cc:\d+\] TFLite interpreter needs to link Flex "
    rb"delegate in order to run the model since it contains the following Select TFop\(s\):$")
_FLEX_BODY = re.compile(rb"^(Flex ops: [\w, ]*|Details:|\t.*)$")
_FLEX_END = re.compile(rb"^See instructions: https://www\.tensorflow\.org/lite/guide/ops_select$")

_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR$"
    rb"|To enable the following instructions: [A-Z0-9_ ]+, in other operations, rebuild "
    rb"TensorFlow with the appropriate compiler flags\.$"
    # The LiteRT interpreter (`export` runs the file it wrote once).
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"
    + b"".join(b"|" + _PREFIX + re.escape(where.encode()) + rb"\] " + re.escape(start.encode())
               for where, start in KNOWN_NOTICES)
    + rb")"
)

# The CUDA probe's failure, harmless only once TensorFlow has said there is no CUDA
# driver at all (cudart_stub.cc above); on a machine with a driver it passes.
_NO_DRIVER = re.compile(_PREFIX + rb"cudart_stub\.cc:31\] Could not find cuda drivers")
_CUINIT_WITHOUT_DRIVER = re.compile(
    rb"^" + _PREFIX + rb"cuda_platform\.cc:52\] failed call to cuInit: INTERNAL: CUDA error: "
    rb"Failed call to cuInit: UNKNOWN ERROR \(303\)$")


class NoticeFilter:
    """Decides line by line what reaches the terminal.

    Stateful: the cuInit failure is dropped only after the no-driver notice
    (`_NO_DRIVER`), seen by this filter or any filter of this process
    (`process_wide=True`, as `filtered_stderr` blocks nest: `fit` inside the CLI's).
    """

    _process_saw_no_driver = False

    def __init__(self, process_wide=False):
        self.process_wide = process_wide
        self.no_driver = False
        self.in_flex_warning = False

    def keep(self, line):
        """False for a known harmless notice (`line` is bytes, with or without newline)."""
        line = line.rstrip(b"\r\n")
        if self.in_flex_warning:
            if _FLEX_END.match(line):
                self.in_flex_warning = False
                return False
            if _FLEX_BODY.match(line):
                return False
            self.in_flex_warning = False  # another line: the warning was cut short
        if _FLEX_START.match(line):
            self.in_flex_warning = True
            return False
        if _NO_DRIVER.match(line):
            self.no_driver = True
            if self.process_wide:
                NoticeFilter._process_saw_no_driver = True
        if _NOISE.match(line):
            return False
        no_driver = self.no_driver or (self.process_wide and NoticeFilter._process_saw_no_driver)
        return not (no_driver and _CUINIT_WITHOUT_DRIVER.match(line))


def verbose_requested():
    """True if the user asked to see native logs."""
    return "--verbose" in sys.argv or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0"


@contextlib.contextmanager
def filtered_stderr():
    """Drops TensorFlow's native notices from fd 2 while the block runs."""
    if verbose_requested():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (e.g. some embedded runtimes)
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    notices = NoticeFilter(process_wide=True)

    def pump():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if notices.keep(line):
                    os.write(saved, line)

    thread = threading.Thread(target=pump, name="keras_zoo-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        thread.join(timeout=5)
        os.close(saved)


def quiet_native_logs(function):
    """Decorator: runs `function` under `filtered_stderr()`.

    For the public entry points that start TensorFlow's devices and input
    pipelines (`fit`, `evaluate`, `load_model`, `load_dataset`), so a
    notebook shows progress and results, not native notices.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with filtered_stderr():
            return function(*args, **kwargs)

    return wrapper


def quiet_python_logs():
    """Python warnings and the INFO/WARNING logs of TensorFlow, JAX, absl, h5py off (CLI start)."""
    warnings.filterwarnings("ignore")
    for name in ("absl", "tensorflow", "jax", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def _matplotlib_dirs():
    """Where matplotlib keeps its config and its font cache when MPLCONFIGDIR is not set."""
    try:
        home = os.path.expanduser("~")
    except (KeyError, RuntimeError):  # no HOME and no passwd entry
        home = None
    config = os.environ.get("XDG_CONFIG_HOME") or (home and os.path.join(home, ".config"))
    cache = os.environ.get("XDG_CACHE_HOME") or (home and os.path.join(home, ".cache"))
    return [base and os.path.join(base, "matplotlib") for base in (config, cache)]


def _writable_folder(path):
    """Whether matplotlib could make and write `path`, judged without creating anything."""
    if not path:
        return False
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def private_matplotlib_dir():
    """Gives matplotlib a private temporary folder when its own cannot be written.

    With HOME unwritable (or missing) matplotlib makes such a folder itself but
    logs two warnings first ("mkdir -p failed ...", "Matplotlib created a
    temporary cache directory ..."), which would come before a command's
    output or its one error line. Setting MPLCONFIGDIR before matplotlib is
    imported does what matplotlib would do, without the warnings, and keeps
    every other matplotlib message. The folder (mode 0700, from `mkdtemp`)
    is removed when the process exits. A user's MPLCONFIGDIR is kept.

    Returns:
        The folder made, or None (MPLCONFIGDIR set, or the default folders writable).
    """
    if os.environ.get("MPLCONFIGDIR") or all(map(_writable_folder, _matplotlib_dirs())):
        return None
    folder = tempfile.mkdtemp(prefix="keras_zoo-matplotlib-")
    os.environ["MPLCONFIGDIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
