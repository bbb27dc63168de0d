"""Shared test helpers: tiny models and random data in each model's format."""

import socket
import subprocess

import numpy as np

import keras_zoo as kz


# Deeper copies of another model: the same builder (`cnn._cifar_resnet`) and layers at a
# greater depth. The checks that trace a training step or an export (test_models.py,
# test_backends.py, test_export.py, the open-data matrix) take the shallowest; the deeper
# ones are built, run forward and saved in every model check. Tracing a tiny resnet56's training step took 40-43 s of the suite
# per check (resnet32 23-27 s, resnet20 11-14 s, 2-core AVX2 CPU, 2026-12-07); timm's
# tests likewise leave the backward pass of its larger models out
# (`tests/test_models.py`: `MAX_BWD_SIZE`, `EXCLUDE_FILTERS`).
DEEPER_VARIANTS = {"resnet32": "resnet20", "resnet56": "resnet20"}


def distinct_models():
    """Every registered model but the deeper variants of another (`DEEPER_VARIANTS`)."""
    return [name for name in kz.list_models() if name not in DEEPER_VARIANTS]


def tiny_args(name, **overrides):
    """The builder arguments of a model's tiny test variant."""
    info = kz.model_info(name)
    return {**info.defaults, **info.tiny, **overrides}


def tiny_model(name, **overrides):
    """Builds the tiny test variant of a registered model."""
    return kz.create_model(name, **{**kz.model_info(name).tiny, **overrides})


def sample_batch(name, model, batch_size=4, seed=0, **overrides):
    """Returns `(x, y)` random data shaped for `model`; `y` is None for GANs.

    Token inputs are drawn from `1..vocab_size-1` of the model's arguments.
    """
    info = kz.model_info(name)
    rng = np.random.default_rng(seed)
    if info.task == "image_generation":  # trained on images alone
        shape = (batch_size,) + tuple(tiny_args(name, **overrides)["input_shape"])
        return rng.random(shape).astype("float32"), None
    shape = (batch_size,) + tuple(model.inputs[0].shape[1:])
    if "int" in str(model.inputs[0].dtype):
        vocab_size = tiny_args(name, **overrides)["vocab_size"]
        x = rng.integers(1, vocab_size, size=shape).astype("int32")
    else:
        x = rng.random(shape).astype("float32")
    out = tuple(model.output.shape)  # (B, classes) or (B, T, vocab)
    y = rng.integers(0, out[-1], size=(batch_size,) + out[1:-1]).astype("int32")
    return x, y


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_together(commands, timeout):
    """Runs `(argv, env)` processes together; kills them all after `timeout` seconds.

    Returns their outputs (stdout and stderr); fails with the end of the
    output of any process that did not exit 0.
    """
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for argv, env in commands]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=timeout)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    return outputs
