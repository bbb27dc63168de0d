"""Training: compile defaults, the plan, the loop, evaluation, callbacks and tuning.

- `compile.py`: optimizer, loss and metrics per task, from the recipe.
- `plan.py`: `plan_fit` resolves `fit`'s arguments into one frozen `FitPlan`.
- `loop.py`: `fit` and `execute(plan)`.
- `evaluate.py`: `evaluate`, sending GANs to `gan_metrics`.
- `predict.py`: `predict`, a classifier on new images or texts, prepared as in training.
- `callbacks.py`: resume state, best checkpoint, NaN guard, interrupts.
- `checks.py`, `levers.py`: argument checks; accumulation and rematerialisation.
- `multi_worker.py`: the loop under `MultiWorkerMirroredStrategy`.
- `gan_metrics.py`: GAN samples judged by a classifier.
- `tuning.py`: `tune` on keras-tuner.
"""

from keras_zoo.training.compile import (
    compile_defaults,
    compile_model,
    outputs_logits,
)
from keras_zoo.training.evaluate import (
    evaluate,
)
from keras_zoo.training.loop import (
    FitResult,
    execute,
    fit,
    op_determinism_scoped,
    prepare_data,
)
from keras_zoo.training.plan import (
    FitPlan,
    batch_multiple,
    check_shapes,
    for_evaluation,
    model_args_for,
    plan_fit,
    resolve_verbose,
    task_of,
)
from keras_zoo.training.predict import (
    Prediction,
    predict,
    write_csv,
)
from keras_zoo.training.tuning import (
    TuneResult,
    tune,
)

__all__ = [
    "FitPlan",
    "FitResult",
    "Prediction",
    "TuneResult",
    "batch_multiple",
    "check_shapes",
    "compile_defaults",
    "compile_model",
    "evaluate",
    "execute",
    "fit",
    "for_evaluation",
    "model_args_for",
    "op_determinism_scoped",
    "outputs_logits",
    "plan_fit",
    "predict",
    "prepare_data",
    "resolve_verbose",
    "task_of",
    "tune",
    "write_csv",
]
