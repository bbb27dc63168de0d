"""The CPU's instruction-set flags, and the TensorFlow setting they decide at import.

Imports nothing heavy: `keras_zoo/__init__.py` calls `default_onednn()` before
anything imports TensorFlow, which reads `TF_ENABLE_ONEDNN_OPTS` once, at import.
"""

import os
import sys


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The `flags` (x86) or `Features` (Arm) of `/proc/cpuinfo`; empty where there is
    no such file (macOS, Windows)."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def onednn_wanted(flags):
    """Whether to turn TensorFlow's oneDNN kernels on: on an x86 CPU with AVX2 and
    without AVX-512, where TensorFlow 2.21 leaves them off (`IsMklEnabled()` False on
    an AVX2-only AMD EPYC; it turns them on itself where AVX-512 is). Without them
    its own Conv2DBackpropInput took 80-130 ms a call on the digits DCGAN's small
    maps: a training step 566 ms off, 97 ms on (5.9x; 11.1x in an adjacent pair;
    `scripts/dcgan_profile.py`, 2026-12-07, docs/performance.md)."""
    return "avx2" in flags and "avx512f" not in flags


def default_onednn(cpuinfo="/proc/cpuinfo"):
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` where `onednn_wanted`, unless the user set it or
    TensorFlow is already imported (then it is too late: TensorFlow read it). Returns
    the value set, or None."""
    if "TF_ENABLE_ONEDNN_OPTS" in os.environ or "tensorflow" in sys.modules:
        return None
    if not onednn_wanted(cpu_flags(cpuinfo)):
        return None
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return "1"
