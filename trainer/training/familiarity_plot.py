"""The familiarity of the calibration texts as a PNG: in-scope (and out_of_scope) histograms
and the floor below which the server answers out_of_scope."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_familiarity(
    path: Path, familiarity: np.ndarray, is_oos: np.ndarray, threshold: float | None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    low = min(0.0, float(familiarity.min()))
    bins = np.linspace(low, 1.0, 41).tolist()
    ax.hist(familiarity[~is_oos], bins=bins, color="tab:blue", alpha=0.75, label="in scope")
    if is_oos.any():
        ax.hist(familiarity[is_oos], bins=bins, color="tab:red", alpha=0.6, label="out_of_scope")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"floor {threshold:.3f}")
    ax.set_xlabel("familiarity (closeness to the training examples, the text itself left out)")
    ax.set_ylabel("examples")
    ax.set_title("familiarity of the calibration examples", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
