"""Decoding a text's tag scores into a valid BIO sequence (numpy only).

The head gives each token a probability per tag; the best sequence under the allowed
transitions (`TagSet.allowed`) is found by Viterbi over log-probabilities, so an `I-` never
follows anything but its own `B-` or `I-`. `argmax_tags` is the unconstrained baseline the
research notes compare against.
"""

from __future__ import annotations

import numpy as np

_FLOOR = 1e-12  # log(0) guard


def constrained_viterbi(probs: np.ndarray, start: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """The most probable tag path [T] for per-token probabilities [T, L] among the paths
    that start with an allowed tag and only make allowed moves."""
    steps, size = probs.shape
    if steps == 0:
        return np.zeros(0, dtype=np.int64)
    # The constraints only forbid moves, so when each token's best tag already makes a valid
    # path no other path can score higher: the common case costs one argmax.
    best_tags = argmax_tags(probs)
    if start[best_tags[0]] and bool(moves[best_tags[:-1], best_tags[1:]].all()):
        return best_tags
    scores = np.log(np.maximum(probs.astype(np.float64), _FLOOR))
    penalty = np.where(moves, 0.0, -np.inf)
    best = np.where(start, scores[0], -np.inf)
    back = np.zeros((steps, size), dtype=np.int64)
    for t in range(1, steps):
        total = best[:, None] + penalty  # [prev, next]
        back[t] = np.argmax(total, axis=0)
        best = total[back[t], np.arange(size)] + scores[t]
    path = np.zeros(steps, dtype=np.int64)
    path[-1] = int(np.argmax(best))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def argmax_tags(probs: np.ndarray) -> np.ndarray:
    """Each token's most probable tag, transitions ignored."""
    tags: np.ndarray = np.argmax(probs, axis=1).astype(np.int64)
    return tags
