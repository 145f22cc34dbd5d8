"""Minibatches of example indices for the two recipes, seeded."""

from __future__ import annotations

import numpy as np

# Supervised contrastive batches group each intent's examples in chunks of this many, so
# that every example has positives in its batch.
PER_INTENT = 4


def contrastive_batches(
    y: np.ndarray, batch_size: int, rng: np.random.Generator, per_intent: int = PER_INTENT
) -> list[np.ndarray]:
    """One epoch: each intent's examples shuffled and cut into chunks of `per_intent`
    (a lone leftover joins the previous chunk), chunks shuffled and packed into batches of
    about `batch_size` examples. An intent with one example has no positive and is skipped."""
    chunks: list[np.ndarray] = []
    for intent in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == intent))
        if len(rows) < 2:
            continue
        cuts = list(range(per_intent, len(rows), per_intent))
        if cuts and len(rows) - cuts[-1] == 1:
            cuts.pop()
        chunks.extend(np.split(rows, cuts))
    order = rng.permutation(len(chunks))
    per_batch = max(1, batch_size // per_intent)
    return [
        np.concatenate([chunks[i] for i in order[start : start + per_batch]])
        for start in range(0, len(order), per_batch)
    ]


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of shuffled batches; a trailing batch of one joins the previous batch
    (the head's BatchNorm cannot train on a single example)."""
    order = rng.permutation(n)
    cuts = list(range(batch_size, n, batch_size))
    if cuts and n - cuts[-1] == 1:
        cuts.pop()
    return np.split(order, cuts)


def steps_per_epoch(recipe: str, y: np.ndarray, batch_size: int) -> int:
    """How many batches one epoch of `recipe` has (the contrastive count is exact for any
    seed: chunk sizes depend only on the intents' sizes)."""
    if recipe != "contrastive":
        return len(shuffled_batches(len(y), batch_size, np.random.default_rng(0)))
    return len(contrastive_batches(y, batch_size, np.random.default_rng(0)))
