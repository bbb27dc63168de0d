import os
import tempfile

# Quiet TensorFlow, and keep every prepared tfds dataset of a test session in
# a fresh folder (also for the CLI and notebook subprocesses, which inherit it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFDS_DATA_DIR", tempfile.mkdtemp(prefix="keras_zoo_tfds_"))
