"""BIO tags <-> character spans: chunked as seqeval chunks them, offsets into the tokens
joined by one space, predictions moved to whole tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.snips import bio_to_spans, spans_to_bio, token_aligned
from intent_server.core.entities.spans import EntitySpan
from tests.fixtures.seqeval import seqeval_chunks

TAG = st.sampled_from(["O", "B-artist", "I-artist", "B-playlist", "I-playlist", "I-timeRange"])
WORD = st.sampled_from(["add", "café", "🎵", "my", "x", "the", "beatles"])


@given(st.lists(st.tuples(WORD, TAG), min_size=1, max_size=12))
def test_spans_are_seqeval_chunks(pairs: list[tuple[str, str]]) -> None:
    tokens, tags = [w for w, _ in pairs], [t for _, t in pairs]
    text = " ".join(tokens)
    spans = bio_to_spans(tokens, tags)
    starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
    expected = [
        (kind, starts[first], starts[last] + len(tokens[last]))
        for kind, first, last in seqeval_chunks(tags)
    ]
    assert [(s.entity, s.start, s.end) for s in spans] == expected
    assert all(s.value == text[s.start : s.end] for s in spans)
    # Written back as tags, the spans give the same chunks (well-formed IOB2).
    assert seqeval_chunks(spans_to_bio(tokens, spans)) == seqeval_chunks(tags)


def test_a_snips_line() -> None:
    tokens = ["add", "digging", "now", "to", "my", "young", "at", "heart", "playlist"]
    tags = "O B-playlist I-playlist O B-playlist_owner B-entity_name I-entity_name I-entity_name O"
    spans = bio_to_spans(tokens, tags.split())
    assert [(s.value, s.entity) for s in spans] == [
        ("digging now", "playlist"), ("my", "playlist_owner"), ("young at heart", "entity_name")
    ]  # fmt: skip
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        bio_to_spans(["a", "b"], ["O"])
    with pytest.raises(ValueError, match="tag 1 is 'X-y'"):
        bio_to_spans(["a"], ["X-y"])


def test_predictions_move_to_whole_tokens() -> None:
    text = "play the beatles now"
    inside = [EntitySpan(6, 13, "artist", "he beat")]  # cuts into two tokens
    assert token_aligned(text, inside) == (EntitySpan(5, 16, "artist", "the beatles"),)
    overlapping = [EntitySpan(5, 8, "a", "the"), EntitySpan(5, 16, "b", "the beatles")]
    assert token_aligned(text, overlapping) == (EntitySpan(5, 8, "a", "the"),)
