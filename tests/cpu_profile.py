"""Where the suite's CPU goes: a pytest plugin, loaded on demand.

    python -m pytest -n 2 -p tests.cpu_profile
    python tests/cpu_profile.py 30        # the summary again, with the 30 costliest tests

Records, for every test, its wall seconds, the CPU seconds of its own process and of the
subprocesses it waited for (`getrusage`), and how many Python subprocesses it started,
one JSON line per test in `$KERAS_ZOO_CPU_PROFILE` (default `/tmp/keras_zoo_cpu_profile`,
a file per xdist worker, emptied when a session starts). On 2 cores the suite's wall
time is about its CPU seconds over 2, so the CPU figures say what a change saves; the
wall times of one run swing with what the other worker runs beside it.
"""

import collections
import glob
import json
import os
import resource
import subprocess
import sys
import time

import pytest

FOLDER = os.environ.get("KERAS_ZOO_CPU_PROFILE", "/tmp/keras_zoo_cpu_profile")
_started = [0]
_popen_init = subprocess.Popen.__init__


def _counting_init(self, args, *rest, **kwargs):
    first = args[0] if isinstance(args, (list, tuple)) and args else str(args).split(" ")[0]
    if "python" in os.path.basename(str(first)):
        _started[0] += 1
    _popen_init(self, args, *rest, **kwargs)


def _cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def pytest_configure(config):
    subprocess.Popen.__init__ = _counting_init
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        os.makedirs(FOLDER, exist_ok=True)
        for path in glob.glob(os.path.join(FOLDER, "*.jsonl")):
            os.remove(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    started, start = _started[0], time.time()
    yield
    record = {"id": item.nodeid, "wall": round(time.time() - start, 2),
              "cpu": round(_cpu(resource.RUSAGE_SELF) - own, 2),
              "children_cpu": round(_cpu(resource.RUSAGE_CHILDREN) - children, 2),
              "processes": _started[0] - started}
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(FOLDER, f"{worker}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def summary(top=25):
    """The totals, the CPU seconds per test file and the `top` costliest tests."""
    records = [json.loads(line) for path in glob.glob(os.path.join(FOLDER, "*.jsonl"))
               for line in open(path)]
    cost = {r["id"]: r["cpu"] + r["children_cpu"] for r in records}
    files, processes = collections.Counter(), collections.Counter()
    for r in records:
        files[r["id"].split("::")[0]] += cost[r["id"]]
        processes[r["id"].split("::")[0]] += r["processes"]
    lines = [f"{len(records)} tests: {sum(cost.values()):.0f} CPU s, "
             f"{sum(processes.values())} Python subprocesses", "CPU s  processes  file"]
    lines += [f"{c:6.0f}  {processes[f]:9d}  {f}" for f, c in files.most_common(15)]
    lines += ["CPU s   wall s  processes  test"]
    lines += [f"{cost[r['id']]:6.1f}  {r['wall']:7.1f}  {r['processes']:9d}  {r['id']}"
              for r in sorted(records, key=lambda r: -cost[r["id"]])[:top]]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter, config):
    if not hasattr(config, "workerinput"):
        terminalreporter.write_line(f"CPU profile ({FOLDER}):\n" + summary())


if __name__ == "__main__":
    print(summary(int(sys.argv[1]) if len(sys.argv) > 1 else 25))
