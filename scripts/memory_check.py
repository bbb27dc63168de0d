"""Measures what `keras_zoo.distribute.memory` estimates, on JAX (no library logic here).

1. Weights per device of a model sharded over each ("batch", "model") mesh
   of 8 fake CPU devices (`strategy="model_parallel:BxM"`).
2. With and without `remat=True`: the bytes JAX saves for the backward pass
   (`memory.saved_activation_bytes`), the temporary memory of the compiled
   loss-and-gradient step (XLA's `memory_analysis()`), and the estimate.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python scripts/memory_check.py --model gpt_baby --batch 8

XLA:CPU shows remat's saving in the compiled step only with
`levers.XLA_CPU_REMAT_FLAG` added to `XLA_FLAGS`; run it both ways.
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import keras_zoo as kz  # noqa: E402
from keras_zoo import distribute
from keras_zoo.distribute import memory, sharding
from keras_zoo.training import levers


def weights_per_device(name, args, mesh):
    strategy = kz.get_strategy(f"model_parallel:{mesh[0]}x{mesh[1]}")
    sharding.set_layout(strategy, "transformer", {**kz.model_info(name).defaults, **args})
    with distribute.run_scope(strategy):
        model = kz.create_model(name, **args)
    device = jax.devices()[0]
    total = sum(v.value.nbytes for v in model.weights)
    mine = sum(s.data.nbytes for v in model.weights for s in v.value.addressable_shards
               if s.device == device)
    return total, mine


def step_memory(name, args, batch, remat):
    """(bytes JAX saves for the backward pass, XLA's temporary bytes) of one
    loss-and-gradient step on one device."""
    with levers.remat_scope(remat):
        model = kz.create_model(name, **args)
    x = np.ones((batch, model.inputs[0].shape[1]), "int32")
    return memory.saved_activation_bytes(model, x, x), memory.compiled_step_bytes(model, x, x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt_baby")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--shard-model", default="gpt2_small")
    args = parser.parse_args()
    out = {"meshes": {}, "remat": {}}
    for mesh in [(8, 1), (4, 2), (2, 4), (1, 8)]:
        total, mine = weights_per_device(args.shard_model, {"vocab_size": 50304}, mesh)
        out["meshes"][f"{mesh[0]}x{mesh[1]}"] = {"weights_total_mib": total / 2**20,
                                                  "weights_per_device_mib": mine / 2**20}
        print(args.shard_model, mesh, f"{total / 2**20:.1f} MiB total, "
              f"{mine / 2**20:.1f} MiB per device", flush=True)
    run_args = {"dropout": 0.0}
    flag = (f" ({levers.XLA_CPU_REMAT_FLAG})"
            if levers.XLA_CPU_REMAT_FLAG in os.environ.get("XLA_FLAGS", "") else "")
    for remat in (False, True):
        saved, temp = step_memory(args.model, run_args, args.batch, remat)
        est = memory.estimate(args.model, args.batch, "float32", model_args=run_args,
                              remat=remat)
        out["remat"][str(remat)] = {"saved_mib": saved / 2**20, "xla_temp_mib": temp / 2**20,
                                    "estimated_activations_mib": est.activations / 2**20}
        print(args.model, f"batch {args.batch} remat={remat}{flag}: saved for the backward pass "
              f"{saved / 2**20:.1f} MiB, XLA:CPU temp {temp / 2**20:.1f} MiB, estimated "
              f"activations {est.activations / 2**20:.1f} MiB", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
