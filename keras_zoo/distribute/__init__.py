"""Where a model trains: devices, strategies, processes, sharding, precision and memory.

- `devices.py`: which accelerator this process has, replicas of a strategy (probes only).
- `defaults.py`: precision, `steps_per_execution` and `jit_compile` per device and family.
- `strategies.py`: `get_strategy`, placement, scopes (TensorFlow and JAX backends).
- `multi_process.py`: several JAX processes, each feeding its rows.
- `sharding.py`: model-parallel meshes and layouts on JAX.
- `precision.py`: float32 copies of models trained in mixed precision.
- `memory.py`: training memory estimated before anything is built.
- `compile_cache.py`: JAX's persistent compilation cache, turned on here on JAX.
- `doctor.py`: `diagnose()`, what `keras-zoo doctor` prints: devices, versions, problems.
"""

from keras_zoo.distribute import compile_cache as _compile_cache
from keras_zoo.distribute.defaults import (
    CPU_BF16_FAMILIES,
    DEVICES,
    POLICIES,
    PRECISIONS,
    cpu_kind,
    jit_compile,
    resolve_precision,
    steps_per_execution,
)
from keras_zoo.distribute.devices import (
    device_kind,
    jax_devices,
    num_replicas,
    tpu_attached,
    tpu_resolver,
)
from keras_zoo.distribute.precision import (
    float32_copy,
    is_mixed,
)
from keras_zoo.distribute.strategies import (
    STRATEGIES,
    fix_steps_per_execution,
    get_strategy,
    is_chief,
    is_multi_worker,
    placement,
    run_scope,
    strategy_name,
    tpu_strategy,
    with_input_options,
)

# The zoo starts work on JAX through this package (fit, evaluate, predict, tune): turn on
# the persistent compilation cache before the first compile (never imports JAX on TensorFlow).
_compile_cache.enable()

__all__ = [
    "CPU_BF16_FAMILIES",
    "DEVICES",
    "POLICIES",
    "PRECISIONS",
    "STRATEGIES",
    "cpu_kind",
    "device_kind",
    "fix_steps_per_execution",
    "float32_copy",
    "get_strategy",
    "is_chief",
    "is_mixed",
    "is_multi_worker",
    "jax_devices",
    "jit_compile",
    "num_replicas",
    "placement",
    "resolve_precision",
    "run_scope",
    "steps_per_execution",
    "strategy_name",
    "tpu_attached",
    "tpu_resolver",
    "tpu_strategy",
    "with_input_options",
]
