"""Decoding a text's tag scores into a valid BIO sequence (numpy only).

The head gives each token a probability per tag; the best sequence under BIO's rules (an
`I-` only after its own `B-` or `I-`, never first: `TagSet.allowed`) is found by Viterbi over
log-probabilities. The rules only constrain the `I-` tags, so a step costs O(tags) rather than
O(tags^2): `O` and every `B-` continue the best path so far, `I-k` the better of `B-k` and
`I-k` (79 SNIPS tags: about 4x less decoding time than the generic product of all moves).

When each token's best tag already makes a valid path, no other path scores higher and the
dynamic program is skipped (`full_viterbi` always runs it). A served call decodes right after
the encoder has run, with cold caches, where each numpy call costs several microseconds: the
validity check is a plain loop and each step of the program as few numpy calls as the rules
allow. `argmax_tags` is the unconstrained baseline the research notes compare against.
"""

from __future__ import annotations

import numpy as np

_FLOOR = 1e-12  # log(0) guard


def is_valid_path(tags: np.ndarray | list[int]) -> bool:
    """Whether `tags` [T] keeps BIO's rules (an `I-k` only after `B-k` or `I-k`). A plain
    loop: right after an encoder run numpy's small calls cost more (cold caches)."""
    previous = 0  # O before the first token: an `I-` may not open the text
    for tag in tags.tolist() if isinstance(tags, np.ndarray) else tags:
        if tag > 0 and tag % 2 == 0 and previous != tag and previous != tag - 1:
            return False
        previous = tag
    return True


def constrained_viterbi(probs: np.ndarray) -> np.ndarray:
    """The most probable tag path [T] for per-token probabilities [T, L] (L = 1 + 2 x keys,
    `TagSet`'s order) among the paths that keep BIO's rules; ties go to the lower tag id."""
    if len(probs) == 0:
        return np.zeros(0, dtype=np.int64)
    best_tags = argmax_tags(probs)
    return best_tags if is_valid_path(best_tags) else _full(_log(probs))


def full_viterbi(probs: np.ndarray) -> np.ndarray:
    """`constrained_viterbi` without its shortcut: the dynamic program over every tag."""
    if len(probs) == 0:
        return np.zeros(0, dtype=np.int64)
    return _full(_log(probs))


def _log(probs: np.ndarray) -> np.ndarray:
    scores: np.ndarray = np.log(np.maximum(probs.astype(np.float64), _FLOOR))
    return scores


def _full(scores: np.ndarray) -> np.ndarray:
    """Viterbi over log-probabilities [T, L], a handful of whole-vector numpy calls a step on
    strided views (`B-k` at 1::2, `I-k` at 2::2); where each `I-k` came from is decided on the
    way back, only for the path's own tags."""
    inside_scores = scores[:, 2::2]
    tops = [0]  # the best tag at t - 1: where `O` and every `B-` at t come from
    best = scores[0].copy()
    best[2::2] = -np.inf
    bests = [best]
    for t in range(1, len(scores)):
        top = int(best.argmax())
        tops.append(top)
        step = scores[t] + best[top]
        step_inside = step[2::2]
        np.maximum(best[2::2], best[1::2], out=step_inside)
        step_inside += inside_scores[t]
        best = step
        bests.append(best)
    tag = int(best.argmax())
    path = [tag]
    for t in range(len(scores) - 1, 0, -1):
        if tag > 0 and tag % 2 == 0:  # I-k from I-k when it scored higher (ties: B-k, lower id)
            before = bests[t - 1]
            tag = tag if before[tag] > before[tag - 1] else tag - 1
        else:  # O and B- from the best tag before them
            tag = tops[t]
        path.append(tag)
    return np.array(path[::-1], dtype=np.int64)


def argmax_tags(probs: np.ndarray) -> np.ndarray:
    """Each token's most probable tag, transitions ignored."""
    tags: np.ndarray = probs.argmax(axis=1).astype(np.int64, copy=False)
    return tags
