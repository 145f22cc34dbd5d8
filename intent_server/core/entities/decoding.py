"""Tag paths -> entities with character offsets into the original text.

A span covers the tokens of one key's `B`/`I` run (an `I` that starts a run, which only the
unconstrained argmax produces, opens a span as seqeval reads it). It is then widened to whole
words of the tokenizer's pre-tokenizer (its word ids): a head that tags `Par` of
`Par ##is` still answers `Paris`. The characters come from the tokenizer's offsets, which
point into the text as received, so `value` keeps its casing, accents, spacing and emoji.
Confidence is the mean probability of the chosen tags over the span's tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from intent_server.core.entities.extracted import HEAD_EXTRACTOR, ExtractedEntity
from intent_server.core.entities.tags import OUTSIDE, TagSet
from intent_server.core.entities.viterbi import argmax_tags, constrained_viterbi


def tag_runs(tags: Sequence[int], tag_set: TagSet) -> list[tuple[int, int, int]]:
    """(first token, last token, key index) of each run of one key's tags."""
    runs: list[tuple[int, int, int]] = []
    current: list[int] | None = None  # [first, last, key]
    for t, tag in enumerate(tags):
        key = -1 if tag == OUTSIDE else (tag - 1) // 2
        if key >= 0 and current is not None and current[2] == key and not tag_set.is_begin(tag):
            current[1] = t
            continue
        if current is not None:
            runs.append((current[0], current[1], current[2]))
        current = [t, t, key] if key >= 0 else None
    if current is not None:
        runs.append((current[0], current[1], current[2]))
    return runs


def _widen(first: int, last: int, word_ids: Sequence[int | None]) -> tuple[int, int]:
    word = word_ids[first]
    while word is not None and first > 0 and word_ids[first - 1] == word:
        first -= 1
    word = word_ids[last]
    while word is not None and last + 1 < len(word_ids) and word_ids[last + 1] == word:
        last += 1
    return first, last


def decode_entities(
    text: str,
    probs: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    tag_set: TagSet,
    *,
    viterbi: bool = True,
) -> list[ExtractedEntity]:
    """The entities of one text from its tokens' tag probabilities [T, L] (T = its tokens,
    special ones included: their offsets are (0, 0) and they are never part of a span)."""
    real = [t for t, (start, end) in enumerate(offsets) if end > start]
    if not real:
        return []
    contiguous = real[-1] - real[0] + 1 == len(real)  # special tokens only at the ends
    sub = probs[real[0] : real[-1] + 1] if contiguous else probs[real]
    path = constrained_viterbi(sub) if viterbi else argmax_tags(sub)
    tags = path.tolist()
    runs = tag_runs(tags, tag_set)
    if not runs:
        return []
    chosen = sub[np.arange(len(tags)), path]  # each token's probability of its tag
    real_words = [word_ids[t] for t in real]
    entities = []
    for first, last, key_index in runs:
        confidence = _mean(chosen[first : last + 1])
        first, last = _widen(first, last, real_words)
        begin, end = offsets[real[first]][0], offsets[real[last]][1]
        key = tag_set.keys[key_index]
        entities.append(
            ExtractedEntity(
                start=begin,
                end=end,
                entity=key.entity,
                value=text[begin:end],
                confidence=round(confidence, 6),
                extractor=HEAD_EXTRACTOR,
                role=key.role,
                group=key.group,
            )
        )
    return _without_overlaps(entities)


def _mean(values: np.ndarray) -> float:
    """`float(np.mean(values))` bit for bit (numpy's sum in the values' dtype, divided in
    float64, rounded back to that dtype), without `np.mean`'s Python layers."""
    return float(values.dtype.type(float(np.add.reduce(values)) / len(values)))


def _without_overlaps(entities: list[ExtractedEntity]) -> list[ExtractedEntity]:
    """Widening can make neighbours overlap inside one word: the first keeps it."""
    kept: list[ExtractedEntity] = []
    for entity in entities:
        if kept and entity.start < kept[-1].end:
            continue
        kept.append(entity)
    return kept
