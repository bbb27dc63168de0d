import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

# Quiet TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Each pytest-xdist worker gets its share of the cores for TensorFlow's two thread
# pools (and so does every subprocess, which inherits it): `-n 2` on 2 cores, 1 thread
# each. With the default (a pool per core in each worker, spinning while it waits for
# work) the workers took the cores from each other: 4 learning checks under `-n 2`
# took 164-178 CPU s and 102-111 s wall with the defaults, 136-141 CPU s and 87-88 s
# with one thread each (2 adjacent pairs, 2-core AVX2 AMD EPYC, 2026-12-07). JAX's XLA
# CPU pool, tried the same way (--xla_cpu_multi_thread_eigen=false), gained nothing and
# is left as it is.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    _threads = max(1, (_cores or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(_threads))
# keras_zoo before any test module imports TensorFlow, as a user imports it: it turns
# oneDNN on where TensorFlow leaves it off (keras_zoo/_cpu.py); the workers and every
# subprocess inherit the setting.
import keras_zoo  # noqa: E402,F401
# One GAN judge for the whole session, shared by the workers: the first that
# needs it fits it, another one waits for its lock (keras_zoo.training.gan_metrics).
os.environ.setdefault("KERAS_ZOO_TEST_JUDGE_CACHE", tempfile.mkdtemp(prefix="keras_zoo_judge_"))

# The offline datasets (digits, addition, half_sums, tiny_corpus, stdlib_docstrings)
# of a pytest-xdist session are prepared once, by the controller, into one fresh
# folder that every process reads through TFDS_DATA_DIR: the workers, and the CLI
# and notebook subprocesses, which inherit it. The controller prepares them in a
# subprocess while the workers start and collect; each worker waits for them at the
# end of its collection. Then the folder is read-only: its write bits are removed,
# and as root, who ignores them, the session fails if anything under it changed. A
# test that prepares, damages or writes tfds data uses a folder of its own
# (`data_dir=`, or TFDS_DATA_DIR in a subprocess's environment).
# A TFDS_DATA_DIR set by the user is used as it is: the controller prepares the
# offline datasets missing there, and nothing is made read-only.
# Without xdist (`-p no:xdist`, `-n 0`) the one process prepares what its tests
# use, on first use, into a fresh folder (or the user's).
_SHARED = "KERAS_ZOO_TEST_TFDS_DIR"  # the session's shared folder
_READY = "KERAS_ZOO_TEST_TFDS_READY"  # a file that appears once it is prepared: empty, or why not
_PREPARE = r"""
import sys
import tensorflow_datasets as tfds
from keras_zoo import data  # registers the offline tfds builders
names = sorted({v.name for v in vars(data).values()
                if isinstance(v, type) and issubclass(v, tfds.core.DatasetBuilder)})
config = tfds.download.DownloadConfig(try_download_gcs=False)
for name in names:
    builder = tfds.builder(name, data_dir=sys.argv[1])
    if not builder.is_prepared():
        builder.download_and_prepare(download_config=config)
print(" ".join(names))
"""
_state = {}


def _listing(folder):
    """Every path under `folder` with its size and modification time."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            found[os.path.relpath(path, folder)] = (info.st_size, info.st_mtime_ns)
    return found


def _set_writable(folder, writable):
    for root, dirs, files in os.walk(folder):
        for path in [root] + [os.path.join(root, name) for name in files]:
            mode = os.lstat(path).st_mode
            os.chmod(path, mode | stat.S_IWUSR if writable
                     else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _prepare(folder, shared, ready):
    """Prepares every offline dataset in `folder` (in a subprocess: the controller
    stays without TensorFlow); then, if `shared`, makes it read-only. Writes `ready`."""
    start = time.time()
    error = ""
    try:
        done = subprocess.run([sys.executable, "-c", _PREPARE, folder], check=False,
                              capture_output=True, text=True,
                              env={**os.environ, "TFDS_DATA_DIR": folder})
        if done.returncode:
            error = (f"preparing the offline datasets in {folder} failed:\n"
                     f"{done.stdout[-2000:]}{done.stderr[-4000:]}")
        else:
            _state["summary"] = (
                f"offline datasets {done.stdout.splitlines()[-1]} prepared once in "
                f"{time.time() - start:.1f} s into {folder}"
                + (", shared read-only by the workers" if shared else ""))
            if shared:
                _set_writable(folder, False)
                _state["listing"] = _listing(folder)
    except Exception as e:  # noqa: BLE001 - reported to the workers
        error = f"preparing the offline datasets in {folder} failed: {e!r}"
    with open(ready + ".part", "w") as f:
        f.write(error)
    os.replace(ready + ".part", ready)  # appears whole


# pytest-xdist's default `--dist load` hands tests out one by one, round robin at
# first: the tests of one module-scoped fixture land on both workers, and each worker
# runs the fixture (the JAX subprocesses of minutes ran twice). So a plain `-n 2`
# keeps the tests that share such a fixture together: each worker writes, after its
# collection, which group each of its tests is in (`_shared_fixture_groups`) into a
# folder named by this variable, and the controller's scheduler (`_GroupScheduling`) hands
# out each group as one unit, to one worker, and every other test alone, in the
# collection's order. (xdist's own `--dist loadgroup` renames test ids, which
# pytest 9.2's ids ignore.)
_GROUPS = "KERAS_ZOO_TEST_XDIST_GROUPS"


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # TFDS_DATA_DIR, the ready file and the groups folder come from the controller
    if getattr(config.option, "dist", "no") == "load" and not os.environ.get(_GROUPS):
        _state["groups"] = tempfile.mkdtemp(prefix="keras_zoo_xdist_groups_")
        os.environ[_GROUPS] = _state["groups"]
        config.pluginmanager.register(_GroupScheduling(), "keras_zoo_group_scheduling")
    if os.environ.get(_SHARED):
        return
    if getattr(config.option, "dist", "no") == "no":  # one process
        if not os.environ.get("TFDS_DATA_DIR"):
            os.environ["TFDS_DATA_DIR"] = tempfile.mkdtemp(prefix="keras_zoo_tfds_")
        return
    folder = os.environ.get("TFDS_DATA_DIR")
    shared = not folder
    if shared:
        folder = _state["shared"] = tempfile.mkdtemp(prefix="keras_zoo_tfds_")
    _state["ready_dir"] = tempfile.mkdtemp(prefix="keras_zoo_tfds_ready_")
    ready = os.path.join(_state["ready_dir"], "ready")
    os.environ.update({"TFDS_DATA_DIR": folder, _SHARED: folder, _READY: ready})
    _state["thread"] = threading.Thread(target=_prepare, args=(folder, shared, ready),
                                        daemon=True)
    _state["thread"].start()


def _wait_for_datasets():
    """In a worker: waits until the controller has prepared the offline datasets."""
    ready = os.environ.get(_READY)
    if not ready:
        return
    while not os.path.exists(ready):
        time.sleep(0.2)
    with open(ready) as f:
        error = f.read()
    if error:
        raise RuntimeError(error)


def pytest_sessionfinish(session):
    """Fails the session if the shared dataset folder changed: a test wrote into it
    (root ignores its read-only bits) instead of a folder of its own."""
    if "thread" not in _state:
        return
    _state["thread"].join()
    if "listing" not in _state:
        return
    before, after = _state["listing"], _listing(_state["shared"])
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        _state["changed"] = changed
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if "summary" in _state:
        terminalreporter.write_line(_state["summary"])
    if _state.get("changed"):
        terminalreporter.write_line(
            f"ERROR: tests changed the shared read-only dataset folder {_state['shared']} "
            f"(use a folder of your own: data_dir=, or TFDS_DATA_DIR in a subprocess's "
            f"environment): {', '.join(_state['changed'][:10])}", red=True)


def pytest_unconfigure(config):
    if "groups" in _state:
        shutil.rmtree(_state["groups"], ignore_errors=True)
    if "thread" in _state:
        _state["thread"].join()
        shutil.rmtree(_state["ready_dir"], ignore_errors=True)
    if "shared" in _state:
        _set_writable(_state["shared"], True)
        shutil.rmtree(_state["shared"], ignore_errors=True)


def _shared_fixture_groups(item):
    """The groups of the module-, class- or session-scoped fixtures of the test tree
    that `item` uses: one per test module (its fixtures together), one per fixture
    of a conftest or helpers. Function-scoped and pytest's own fixtures make none."""
    groups = set()
    for name in item.fixturenames:
        for fixturedef in item._fixtureinfo.name2fixturedefs.get(name, ()):
            if fixturedef.scope == "function" or not fixturedef.baseid:
                continue
            module = fixturedef.baseid.split("::")[0]
            groups.add(module if module.endswith(".py") else f"{module}::{name}")
    return groups


def pytest_collection_modifyitems(config, items):
    """Runs the slow tests first, then those that share an expensive fixture: pytest-
    xdist hands tests out in this order, each group as one unit and then the rest to
    whichever worker is free, so the minutes-long learning checks and fixtures start
    at once, side by side, and the short tests fill in around them instead of a long
    one starting last on one worker while the other sits idle.
    `@pytest.mark.slow(minutes=N)` puts the longest first."""
    groups = {item: "+".join(sorted(_shared_fixture_groups(item))) for item in items}

    def order(item):
        slow = item.get_closest_marker("slow")
        return (0, -slow.kwargs.get("minutes", 1)) if slow else (1 if groups[item] else 2, 0)

    items.sort(key=order)
    folder = os.environ.get(_GROUPS)
    worker = getattr(config, "workerinput", {}).get("workerid")
    if folder and worker:  # read by the controller's scheduler, once every worker collected
        path = os.path.join(folder, f"{worker}.json")
        with open(path + ".part", "w") as f:
            json.dump({item.nodeid: groups[item] for item in items if groups[item]}, f)
        os.replace(path + ".part", path)
    _wait_for_datasets()  # the workers collect while the controller prepares them


class _GroupScheduling:
    """Registered by the controller: makes its scheduler."""

    def pytest_xdist_make_scheduler(self, config, log):
        from xdist.scheduler.loadscope import LoadScopeScheduling

        class Scheduler(LoadScopeScheduling):
            """xdist's `loadscope` with a unit per group of the workers' files, and a
            unit per test for the rest; the units in the collection's order."""

            def __init__(self, config, log):
                super().__init__(config, log)
                config.option.loadscopereorder = False
                self.groups = None

            def _split_scope(self, nodeid):
                if self.groups is None:  # every worker has collected: its file is there
                    self.groups = {}
                    for name in os.listdir(_state["groups"]):
                        if name.endswith(".json"):
                            with open(os.path.join(_state["groups"], name)) as f:
                                self.groups.update(json.load(f))
                group = self.groups.get(nodeid)
                return "group " + group if group else nodeid

        return Scheduler(config, log)
