"""The training report's confusion plot stays readable at any intent count."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.training.confusion_plot import plot_confusion


def test_confusion_plot_with_many_intents_shows_only_those_with_errors(tmp_path: Path) -> None:
    labels = [f"intent_{i:03d}" for i in range(90)]
    y_true = np.repeat(np.arange(90), 3)
    y_pred = y_true.copy()
    y_pred[[0, 10, 20]] = [5, 6, 7]
    plot_confusion(tmp_path / "c.png", y_true, y_pred, labels)
    from PIL import Image

    with Image.open(tmp_path / "c.png") as image:
        image.verify()
        assert image.size[0] >= 400
