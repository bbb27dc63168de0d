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
