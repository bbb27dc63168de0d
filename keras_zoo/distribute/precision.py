"""Mixed precision stays inside training: float32 copies of trained models.

A model built under `mixed_bfloat16` or `mixed_float16` keeps that policy
in every layer: saved, it reloads computing in reduced precision, a
headless backbone cut from it outputs bfloat16, and its SavedModel export
holds bfloat16 ops that LiteRT cannot convert. So `fit` returns, and the
zoo saves, a float32 copy instead: the same architecture rebuilt with float32
layers, the same weights (mixed-precision variables are float32 already),
and the optimizer state when it maps one to one.

```python
model = float32_copy(model)   # a no-op for a model that is float32 already
```
"""

import keras


def is_mixed(model):
    """Whether any layer of `model` (nested ones too) computes in a mixed policy."""
    return any(_is_mixed_policy(getattr(layer, "dtype_policy", None))
               for layer in _all_layers(model))


def float32_copy(model):
    """Returns `model` rebuilt with float32 layers and the same weights.

    Keras has no call for this (`clone_model` keeps each layer's policy,
    which is stored in its config), so the model's serialized config is
    rewritten: every `mixed_*` policy becomes `"float32"`; then it is
    deserialized under a float32 global policy (so that sublayers a custom
    layer creates take float32 too), compiled as the original was, and given
    its weights.

    Args:
        model: a `keras.Model`.

    Returns:
        `model` itself if no layer has a mixed policy, else the float32 copy.
    """
    if not is_mixed(model):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = keras.saving.deserialize_keras_object(config)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    _copy_optimizer_state(model, copy)
    return copy


def _all_layers(model):
    seen, stack = [], [model]
    while stack:
        layer = stack.pop()
        if any(layer is s for s in seen):
            continue
        seen.append(layer)
        stack.extend(getattr(layer, "_layers", None) or [])
        stack.extend(getattr(layer, "layers", None) or [])
    return seen


def _is_mixed_policy(policy):
    name = getattr(policy, "name", policy)
    return isinstance(name, str) and name.startswith("mixed_")


def _float32_config(value):
    """`value` (a serialized model) with every mixed dtype policy as float32."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and _is_mixed_policy(
                (value.get("config") or {}).get("name")):
            return "float32"
        return {k: ("float32" if k == "dtype" and _is_mixed_policy(v) else _float32_config(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    return value


def _copy_optimizer_state(model, copy):
    """Copies the optimizer's variables (step, moments) when they map one to one."""
    source = getattr(model, "optimizer", None)
    target = getattr(copy, "optimizer", None)
    source = getattr(source, "inner_optimizer", source)  # LossScaleOptimizer (mixed_float16)
    if source is None or target is None or not source.built:
        return
    target.build(copy.trainable_variables)
    pairs = list(zip(source.variables, target.variables))
    if len(source.variables) != len(target.variables) or any(
            tuple(a.shape) != tuple(b.shape) for a, b in pairs):
        return  # e.g. a GAN's two optimizers: the copy keeps fresh state
    for a, b in pairs:
        b.assign(keras.ops.cast(a.value, b.dtype))
