"""JAX's persistent compilation cache, on by default in a per-user folder.

A process on the JAX backend compiles every train, evaluation and predict
step with XLA before the first batch runs; the persistent cache keeps those
programs on disk, so the next process that builds the same model skips the
compile (`jax.config.update("jax_compilation_cache_dir", ...)`, JAX's
"Persistent compilation cache" page). The zoo turns it on when it starts
work on JAX (`keras_zoo.distribute` is imported, see `enable`), never
imports JAX on the TensorFlow backend, and leaves the cache off, without
failing, when the folder cannot be written.

`KERAS_ZOO_JAX_CACHE`: unset -> `$XDG_CACHE_HOME/keras_zoo/jax` (else
`~/.cache/keras_zoo/jax`); `0`, `off`, `false`, `no` or empty -> off; any
other value -> that folder. A cache folder set already (JAX's own
`JAX_COMPILATION_CACHE_DIR`, or `jax.config`) is left as it is.
"""

import os

ENV = "KERAS_ZOO_JAX_CACHE"
_OFF = ("0", "off", "false", "no", "")

# What `enable` did in this process: {"dir": folder or None, "on": bool, "why": text}.
_STATE = {}


def cache_dir(environ=None):
    """The folder the zoo would cache in, or None when `KERAS_ZOO_JAX_CACHE` turns it off."""
    environ = os.environ if environ is None else environ
    if ENV in environ:
        value = environ[ENV].strip()
        if value.lower() in _OFF:
            return None
        return os.path.abspath(os.path.expanduser(value))
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "keras_zoo", "jax")


def _writable(folder):
    """None if `folder` exists (made if need be) and can be written, else why not."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        return f"cannot create {folder}: {e.strerror or e}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


def enable(backend=None):
    """Turns JAX's persistent compilation cache on, once per process; returns `state()`.

    Only on the JAX backend (`backend` None: Keras's); never raises: a folder
    that cannot be written leaves the cache off, and `state()["why"]` says why
    (`keras-zoo doctor` prints it).
    """
    if _STATE:
        return state()
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend != "jax":
        return {"dir": cache_dir(), "on": False, "why": f"the backend is {backend}, not jax"}
    try:
        import jax
    except ImportError:  # KERAS_BACKEND=jax without JAX: Keras itself fails first
        return {"dir": cache_dir(), "on": False, "why": "jax is not installed"}
    current = jax.config.jax_compilation_cache_dir
    if current:  # the user's own choice (JAX_COMPILATION_CACHE_DIR or jax.config)
        _STATE.update(dir=current, on=True, why="set outside keras-zoo")
        return state()
    folder = cache_dir()
    if folder is None:
        _STATE.update(dir=None, on=False, why=f"turned off by {ENV}={os.environ[ENV]!r}")
        return state()
    problem = _writable(folder)
    if problem is not None:
        _STATE.update(dir=folder, on=False, why=problem)
        return state()
    try:
        # As JAX's documentation starts the cache: every program, however small or quick to
        # compile (the defaults skip programs compiled in under 1 s, most of a small model's).
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_compilation_cache_dir", folder)
    except Exception as e:  # noqa: BLE001  an older or newer JAX without these options
        _STATE.update(dir=folder, on=False, why=f"jax.config refused it: {e}")
        return state()
    _STATE.update(dir=folder, on=True, why=f"{ENV}=0 turns it off")
    return state()


def state():
    """What `enable` did in this process: a dict with "dir", "on" and "why"."""
    if not _STATE:
        return {"dir": cache_dir(), "on": False, "why": "not started (the zoo has not run on JAX)"}
    return dict(_STATE)
