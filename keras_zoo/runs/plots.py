"""Pictures of a run: image grids and training curves, written as PNG.

matplotlib is imported inside the functions (importing keras_zoo stays
light) and used through `Figure` objects on the Agg canvas: no pyplot, no
global style or backend change, nothing left open. Files are written to a
temporary name beside the target, then moved into place with `os.replace`,
so a reader never sees a half-written PNG.
"""

import math

import numpy as np

from keras_zoo.errors import InvalidArgumentError, is_integer
from keras_zoo.runs.folder import atomic_write

_MIN_GRID_PIXELS = 256  # small images (8x8 digits) are scaled up to at least this


def save_image_grid(images, path, cols=None):
    """Writes images side by side as one PNG grid.

    Args:
        images: array `(N, H, W, C)` (C = 1 or 3) or `(N, H, W)`, values in
            [0, 1] (clipped).
        path: the PNG file to write; parent folders are created.
        cols: images per row; by default the grid is about square.

    Returns:
        `path`.

    Example:

    >>> save_image_grid(sample_images(model, 16, seed=0), "samples.png")
    """
    from matplotlib import image as mpl_image

    images = np.asarray(images, dtype="float32")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    shape_ok = images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)
    if not shape_ok or len(images) == 0:
        raise InvalidArgumentError(
            "`images` must be a non-empty array (N, H, W), (N, H, W, 1) or (N, H, W, 3). "
            f"Received: shape={np.shape(images)}"
        )
    n, h, w = images.shape[:3]
    if cols is None:
        cols = math.ceil(math.sqrt(n))
    if not is_integer(cols) or cols < 1:
        raise InvalidArgumentError(f"`cols` must be a positive int. Received: cols={cols!r}")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    pad = 1
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad) + images.shape[3:], "float32")
    for i, image in enumerate(np.clip(images, 0.0, 1.0)):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        grid[top : top + h, left : left + w] = image
    scale = max(1, math.ceil(_MIN_GRID_PIXELS / max(grid.shape[:2])))
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)  # nearest-neighbour upscaling
    atomic_write(
        path,
        lambda tmp: mpl_image.imsave(tmp, grid, cmap="gray", vmin=0.0, vmax=1.0, format="png"),
    )
    return path


def plot_history(history, path):
    """Plots training curves, one subplot per metric with its `val_` curve.

    Args:
        history: a `keras.callbacks.History` or a dict `{name: [value per
            epoch]}` such as `History.history`.
        path: the PNG file to write; parent folders are created.

    Returns:
        `path`.

    Example:

    >>> plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, "curves.png")
    """
    fig = _history_figure(history)  # `savefig` draws it (drawing it before too took 0.4 s)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path


def history_figure(history):
    """The matplotlib `Figure` that `plot_history` writes (Agg canvas, drawn)."""
    fig = _history_figure(history)
    fig.canvas.draw()
    return fig


def _history_figure(history):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    history = getattr(history, "history", history)
    if not isinstance(history, dict):
        raise InvalidArgumentError(
            "`history` must be a dict of lists or a keras History. "
            f"Received: {type(history).__name__}"
        )
    names = [k for k in history if not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    if not names:
        raise InvalidArgumentError("`history` has no metrics to plot. Received: history={}")

    cols = min(len(names), 3)
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4 * cols, 3 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, name in enumerate(names, start=1):
        ax = fig.add_subplot(rows, cols, i)
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key in history:
                values = np.asarray(history[key], dtype="float64")
                ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        # Whole epochs only: one tick is enough (a 1-epoch run showed 0.945 ... 1.050).
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend()
    return fig


def plot_trials(scores, path, objective, higher_is_better=True):
    """Plots a hyper-parameter search: the score of each trial and the best so far.

    Args:
        scores: the objective of each trial, in trial order; None for a
            trial that failed.
        path: the PNG file to write; parent folders are created.
        objective: the metric's name, for the axis label.
        higher_is_better: whether the best so far is the maximum.

    Returns:
        `path`.

    Example:

    >>> plot_trials([0.91, None, 0.95], "scores.png", "val_accuracy")
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    trials = np.arange(1, len(scores) + 1)
    values = np.array([np.nan if s is None else s for s in scores], dtype="float64")
    best, best_so_far = np.nan, []
    for value in values:
        if not np.isnan(value) and (np.isnan(best) or (value > best) == higher_is_better
                                    and value != best):
            best = value
        best_so_far.append(best)
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(trials, values, "o", label="trial")
    ax.plot(trials, best_so_far, "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.legend()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path
