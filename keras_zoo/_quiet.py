"""Keeps TensorFlow's native start-up notices off the user's terminal.

TensorFlow 2.21 logs through absl from C++ (oneDNN notices, "Could not find
cuda drivers", "failed call to cuInit") straight to file descriptor 2, and
`TF_CPP_MIN_LOG_LEVEL` no longer stops all of them. `filtered_stderr()`
passes everything else through, line by line, as it is written.
"""

import contextlib
import functools
import os
import re
import sys
import threading

# absl's native log prefix ("I0000 00:00:1795.. 1234 port.cc:153] ..."), its
# pre-initialisation banner, the CUDA probe errors of a machine with no GPU, and
# tf.data's "NodeDef mentions attribute ... may be expected" notice.
_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
    rb"|E\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*(cuInit|CUDA|cuda)"
    rb"|E\d{4} [\d:.]+\s+\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute"
    rb"|To enable the following instructions: .*rebuild TensorFlow)"
)


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

    def pump():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not _NOISE.match(line):
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
