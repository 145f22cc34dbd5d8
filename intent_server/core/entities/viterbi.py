"""Decoding a text's tag scores into a valid BIO sequence (numpy only).

The head gives each token a probability per tag; the best sequence under BIO's rules (an
`I-` only after its own `B-` or `I-`, never first: `TagSet.allowed`) is found by Viterbi over
log-probabilities. The rules only constrain the `I-` tags, so a step costs O(tags) rather than
O(tags^2): `O` and every `B-` continue the best path so far, `I-k` the better of `B-k` and
`I-k` (79 SNIPS tags: about 4x less decoding time than the generic product of all moves).
`argmax_tags` is the unconstrained baseline the research notes compare against.
"""

from __future__ import annotations

import numpy as np

_FLOOR = 1e-12  # log(0) guard


def inside_tags(size: int) -> np.ndarray:
    """The `I-` tag ids of a tag set of `size` tags (O, B-0, I-0, B-1, I-1, ...)."""
    return np.arange(2, size, 2)


def is_valid_path(tags: np.ndarray) -> bool:
    """Whether `tags` [T] keeps BIO's rules (an `I-k` only after `B-k` or `I-k`)."""
    if len(tags) == 0:
        return True
    inside = (tags > 0) & (tags % 2 == 0)
    if inside[0]:
        return False
    previous = tags[:-1][inside[1:]]
    current = tags[1:][inside[1:]]
    return bool(np.all((previous == current) | (previous == current - 1)))


def constrained_viterbi(probs: np.ndarray) -> np.ndarray:
    """The most probable tag path [T] for per-token probabilities [T, L] (L = 1 + 2 x keys,
    `TagSet`'s order) among the paths that keep BIO's rules; ties go to the lower tag id."""
    steps, size = probs.shape
    if steps == 0:
        return np.zeros(0, dtype=np.int64)
    # When each token's best tag already makes a valid path no other path can score higher:
    # the common case costs one argmax.
    best_tags = argmax_tags(probs)
    if is_valid_path(best_tags):
        return best_tags
    scores = np.log(np.maximum(probs.astype(np.float64), _FLOOR))
    inside = inside_tags(size)
    begin = inside - 1
    best = scores[0].copy()
    best[inside] = -np.inf
    back = np.zeros((steps, size), dtype=np.int64)
    for t in range(1, steps):
        top = int(np.argmax(best))
        from_inside = best[inside] > best[begin]  # ties: B-k, the lower id
        back[t] = top
        back[t, inside] = np.where(from_inside, inside, begin)
        previous = np.full(size, best[top])
        previous[inside] = np.where(from_inside, best[inside], best[begin])
        best = previous + scores[t]
    path = np.zeros(steps, dtype=np.int64)
    path[-1] = int(np.argmax(best))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def argmax_tags(probs: np.ndarray) -> np.ndarray:
    """Each token's most probable tag, transitions ignored."""
    tags: np.ndarray = np.argmax(probs, axis=1).astype(np.int64)
    return tags
