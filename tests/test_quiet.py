"""TensorFlow's native notices are kept off stderr; everything else passes."""

import os
import subprocess
import sys

_SCRIPT = r"""
import os
import keras_zoo  # noqa: F401  (its import is filtered too)
from keras_zoo._quiet import filtered_stderr

noise = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1795481369.012668   11288 port.cc:153] oneDNN custom operations are on.\n",
    b"E0000 00:00:1795480468.242354   20209 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n",
    b"E0000 00:00:1795483672.119633    5725 node_def_util.cc:682] NodeDef mentions attribute x\n",
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
