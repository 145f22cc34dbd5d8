"""BIO tags over (entity, role, group) keys and their allowed transitions."""

from __future__ import annotations

import pytest

from intent_server.core.entities.spans import EntitySpan
from intent_server.core.entities.tags import OUTSIDE, EntityKey, TagSet


def test_keys_tag_names_and_json_round_trip() -> None:
    spans = [
        EntitySpan(0, 5, "city", "Paris", role="from"),
        EntitySpan(9, 13, "city", "Rome", role="to"),
        EntitySpan(9, 13, "date", "x"),
    ]
    tags = TagSet.of_spans(spans)
    assert tags.names() == [
        "O",
        "B-city/from/-",
        "I-city/from/-",
        "B-city/to/-",
        "I-city/to/-",
        "B-date/-/-",
        "I-date/-/-",
    ]
    assert [EntityKey.from_json(key.to_json()) for key in tags.keys] == list(tags.keys)
    with pytest.raises(ValueError, match="entity key"):
        EntityKey.from_json(["", None, None])


def test_encode_tags_every_sub_token_of_a_span() -> None:
    tags = TagSet((EntityKey("city"),))
    # "[CLS] fly to new york [SEP]" with "york" split in two sub-tokens
    offsets = [(0, 0), (0, 3), (4, 6), (7, 10), (11, 13), (13, 15), (0, 0)]
    encoded = tags.encode(offsets, [EntitySpan(7, 15, "city", "new york")]).tolist()
    assert encoded == [OUTSIDE, OUTSIDE, OUTSIDE, 1, 2, 2, OUTSIDE]


def test_allowed_moves_forbid_inside_without_its_begin() -> None:
    tags = TagSet((EntityKey("a"), EntityKey("b")))
    start, moves = tags.allowed()
    assert start.tolist() == [True, True, False, True, False]
    assert moves[1, 2] and moves[2, 2]  # B-a -> I-a, I-a -> I-a
    assert not moves[0, 2] and not moves[3, 2] and not moves[4, 2]  # O, B-b, I-b -> I-a
    assert moves[2, 3] and moves[2, 0]  # I-a -> B-b, I-a -> O
