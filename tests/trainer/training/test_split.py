"""The validation hold-out and the class weights."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.training.split import class_weights, stratified_split


def test_stratified_split_keeps_one_training_example_per_intent() -> None:
    y = np.array([0] * 20 + [1] * 3 + [2] * 1 + [3] * 2)
    train_idx, val_idx = stratified_split(y, 0.5, seed=1)
    assert set(np.concatenate([train_idx, val_idx]).tolist()) == set(range(len(y)))
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    assert set(y[train_idx].tolist()) == {0, 1, 2, 3}
    assert (y[val_idx] == 0).sum() == 10
    again = stratified_split(y, 0.5, seed=1)
    assert np.array_equal(again[0], train_idx) and np.array_equal(again[1], val_idx)


def test_class_weights_favour_rare_intents_and_average_one() -> None:
    y = np.array([0] * 30 + [1] * 10)
    weights = class_weights(y, 2)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert float(weights[y].mean()) == pytest.approx(1.0)
