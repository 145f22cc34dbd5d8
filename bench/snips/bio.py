"""BIO tags over space-separated tokens <-> character spans into the tokens joined by one
space. Tags are chunked as seqeval chunks them (IOB2, lenient: an `I-` after `O` or after
another type starts an entity), so spans scored exactly count as seqeval counts tags."""

from __future__ import annotations

from collections.abc import Sequence

from intent_server.core.entities.spans import EntitySpan

OUTSIDE = "O"


def _starts(tokens: Sequence[str]) -> list[int]:
    """The character offset of each token in `" ".join(tokens)`."""
    starts, position = [], 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    return starts


def _chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first token, last token) of each entity in the tags."""
    chunks: list[tuple[str, int, int]] = []
    for index, tag in enumerate(tags):
        if tag == OUTSIDE:
            continue
        prefix, _, kind = tag.partition("-")
        if prefix not in ("B", "I") or not kind:
            raise ValueError(f"tag {index + 1} is {tag!r}: expected O, B-TYPE or I-TYPE")
        last = chunks[-1] if chunks else None
        if prefix == "I" and last is not None and last[0] == kind and last[2] == index - 1:
            chunks[-1] = (kind, last[1], index)
        else:
            chunks.append((kind, index, index))
    return chunks


def bio_to_spans(tokens: Sequence[str], tags: Sequence[str]) -> tuple[EntitySpan, ...]:
    """The entities of `tags` as spans into `" ".join(tokens)`; `value` is the covered text."""
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    text, starts = " ".join(tokens), _starts(tokens)
    spans = []
    for kind, first, last in _chunks(tags):
        start, end = starts[first], starts[last] + len(tokens[last])
        spans.append(EntitySpan(start, end, kind, text[start:end]))
    return tuple(spans)


def spans_to_bio(tokens: Sequence[str], spans: Sequence[EntitySpan]) -> list[str]:
    """The tags of spans into `" ".join(tokens)`: every token a span overlaps gets its type
    (a span's first token B-, the others I-); where spans overlap, the earlier one wins."""
    starts = _starts(tokens)
    tags = [OUTSIDE] * len(tokens)
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        covered = [
            index
            for index, start in enumerate(starts)
            if start < span.end and span.start < start + len(tokens[index])
        ]
        if not covered or any(tags[index] != OUTSIDE for index in covered):
            continue
        tags[covered[0]] = f"B-{span.entity}"
        for index in covered[1:]:
            tags[index] = f"I-{span.entity}"
    return tags


def token_aligned(text: str, spans: Sequence[EntitySpan]) -> tuple[EntitySpan, ...]:
    """Predicted spans moved to whole tokens of the space-split `text`, as SNIPS's slot F1
    compares them ("token by token after mapping back")."""
    tokens = text.split(" ")
    return bio_to_spans(tokens, spans_to_bio(tokens, spans))
