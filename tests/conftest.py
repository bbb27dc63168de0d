import os
import tempfile

# Quiet TensorFlow, and keep every prepared tfds dataset of a test session in
# a fresh folder (also for the CLI and notebook subprocesses, which inherit it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One folder per process: pytest-xdist workers inherit the controller's
# environment, and would otherwise prepare the same dataset into one folder at once.
if os.environ.get("TFDS_DATA_DIR", "") == os.environ.get("KERAS_ZOO_TEST_TFDS_DIR", ""):
    os.environ["TFDS_DATA_DIR"] = tempfile.mkdtemp(prefix="keras_zoo_tfds_")
    os.environ["KERAS_ZOO_TEST_TFDS_DIR"] = os.environ["TFDS_DATA_DIR"]
# One GAN judge for the whole session, shared by the workers: the first that
# needs it fits it, another one waits for its lock (keras_zoo.gan_metrics).
os.environ.setdefault("KERAS_ZOO_TEST_JUDGE_CACHE", tempfile.mkdtemp(prefix="keras_zoo_judge_"))


def pytest_collection_modifyitems(config, items):
    """Runs the slow tests first: pytest-xdist hands tests out in this order, round
    robin at first and then to whichever worker is free, so the minutes-long learning
    checks start at once, side by side, and the short tests fill in around them
    instead of a long one starting last on one worker while the other sits idle.
    `@pytest.mark.slow(minutes=N)` puts the longest first."""
    def order(item):
        slow = item.get_closest_marker("slow")
        return (0, -slow.kwargs.get("minutes", 1)) if slow else (1, 0)

    items.sort(key=order)
