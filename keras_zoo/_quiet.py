"""Keeps TensorFlow's known, harmless native notices off the user's terminal.

TensorFlow 2.21 logs through absl from C++ straight to file descriptor 2, and
`TF_CPP_MIN_LOG_LEVEL` no longer stops all of it. `filtered_stderr()` drops
exactly the notices listed in `KNOWN_NOTICES`, each matched by its source
file and line and the start of its message, and passes every other line
through as it is written: an unknown line, whatever its level, could be a real
error (a CUDA failure, an out-of-memory, a kernel error).
"""

import contextlib
import functools
import os
import re
import sys
import threading

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
)

_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR$"
    rb"|To enable the following instructions: [A-Z0-9_ ]+, in other operations, rebuild "
    rb"TensorFlow with the appropriate compiler flags\.$"
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

    def keep(self, line):
        """False for a known harmless notice (`line` is bytes, with or without newline)."""
        line = line.rstrip(b"\r\n")
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
