"""The confusion matrix of the validation split as a PNG, readable at any intent count."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_LABELS_FULL_MATRIX = 60
# Beyond MAX_LABELS_FULL_MATRIX only this many intents, those with the most errors, are
# drawn: a readable figure, and drawing 150 tick labels took about 3 s of a CLINC150 run.
MAX_CONFUSED_SHOWN = 40


def plot_confusion(
    path: Path, y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]
) -> None:
    """Row-normalised confusion matrix, sized by the label count; only intents with errors
    when there are too many labels to read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    count = len(labels)
    matrix = np.zeros((count, count), dtype=np.float64)
    np.add.at(matrix, (y_true, y_pred), 1.0)
    shown = list(range(count))
    title = "confusion matrix (rows: true intent, normalised)"
    if count > MAX_LABELS_FULL_MATRIX:
        errors = matrix.copy()
        np.fill_diagonal(errors, 0.0)
        involved = errors.sum(axis=0) + errors.sum(axis=1)
        # Most confused first (stable: ties keep label order), then back in label order.
        ranked = sorted(range(count), key=lambda i: -involved[i])[:MAX_CONFUSED_SHOWN]
        shown = sorted(i for i in ranked if involved[i] > 0) or shown[:1]
        title += f"; the {len(shown)} most confused of {count} intents"
    sub = matrix[np.ix_(shown, shown)]
    rows = sub.sum(axis=1, keepdims=True)
    normalised = np.divide(sub, rows, out=np.zeros_like(sub), where=rows > 0)
    names = [labels[i] for i in shown]
    # About 0.16 inch per row keeps 8-pt labels apart; the margin fits the longest name.
    cell = 0.16
    margin = 0.5 + 0.075 * max(len(n) for n in names)
    side = max(4.0, cell * len(shown))
    fig = plt.figure(figsize=(side + margin + 0.4, side + margin + 0.6))
    width, height = fig.get_size_inches()
    ax = fig.add_axes((margin / width, margin / height, side / width, side / height))
    # Square-root colour scale: a 1-in-20 confusion is still visible next to the diagonal.
    ax.imshow(
        normalised,
        cmap="Blues",
        norm=PowerNorm(0.5, vmin=0.0, vmax=1.0),
        interpolation="nearest",
        aspect="auto",
    )
    ax.set_xticks(range(len(shown)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(shown)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.xaxis.set_label_position("top")
    ax.set_title(title, fontsize=9, pad=18)
    fig.savefig(path, dpi=90)
    plt.close(fig)
