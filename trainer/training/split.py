"""Held-out validation split and class weights for the head's training data."""

from __future__ import annotations

import numpy as np


def stratified_split(
    y: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices; every class keeps at least one example in train."""
    rng = np.random.default_rng(seed)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        members = members[rng.permutation(len(members))]
        n_val = min(round(len(members) * val_fraction), len(members) - 1)
        val_idx.extend(members[:n_val].tolist())
        train_idx.extend(members[n_val:].tolist())
    return np.array(sorted(train_idx), dtype=np.int64), np.array(sorted(val_idx), dtype=np.int64)


def class_weights(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights normalised so the average weight per example is 1."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(y) / (num_classes * np.maximum(counts, 1.0)), 0.0)
    return weights.astype(np.float32)
