"""Training recipes: how a model is fitted on a dataset, as data.

- `schema.py`: `TrainingRecipe`, `recipe()`, schedules, optimizers, L2 decay.
- `book.py`: the registered recipes per (model, dataset), with their evidence.

Importing this package registers the book's recipes.
"""

from keras_zoo.recipes import book  # noqa: F401  registers the recipes
from keras_zoo.recipes.schema import (
    AUGMENTATIONS,
    GENERIC,
    OPTIMIZERS,
    SCHEDULES,
    WEIGHT_DECAY_TYPES,
    Expected,
    TrainingRecipe,
    apply_l2,
    describe,
    from_dict,
    learning_rate,
    make_optimizer,
    override,
    recipe,
    register_recipe,
    registered_recipes,
)

__all__ = ["AUGMENTATIONS", "GENERIC", "OPTIMIZERS", "SCHEDULES", "WEIGHT_DECAY_TYPES", "Expected",
           "TrainingRecipe", "apply_l2", "describe", "from_dict", "learning_rate", "make_optimizer",
           "override", "recipe", "register_recipe", "registered_recipes"]
