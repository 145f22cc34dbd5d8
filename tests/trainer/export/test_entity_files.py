"""The INT8 entity gate: with annotated validation texts, INT8's slot F1 against fp32's (a
span INT8 moves where fp32 was already wrong costs nothing); without, equal entities."""

from __future__ import annotations

from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.entities.spans import EntitySpan
from trainer.export.entity_files import INT8_MAX_F1_DROP, allowed_f1_drop, f1_gate

TEXT = "play the god that failed on vimeo"


def _found(*spans: tuple[int, int, str]) -> list[ExtractedEntity]:
    return [ExtractedEntity(a, b, kind, TEXT[a:b], 0.9, "test") for a, b, kind in spans]


def _gold(*spans: tuple[int, int, str]) -> tuple[EntitySpan, ...]:
    return tuple(EntitySpan(a, b, kind, TEXT[a:b]) for a, b, kind in spans)


TRACK, SERVICE = (5, 24, "track"), (28, 33, "service")


def test_few_spans_allow_two_moved_spans_many_half_a_point() -> None:
    assert allowed_f1_drop(20) == 0.1
    assert allowed_f1_drop(2000) == INT8_MAX_F1_DROP == 0.005
    assert allowed_f1_drop(0) == 2.0


def test_int8_moving_a_span_fp32_already_got_wrong_passes() -> None:
    gold = [_gold(TRACK, SERVICE)] * 100
    fp32 = [_found((9, 24, "album"), SERVICE)] * 100
    int8 = [_found((5, 24, "album"), SERVICE)] * 50 + fp32[:50]
    result = f1_gate(int8, fp32, gold)
    assert result.passed, result.detail
    assert "50 of 100 texts answered other entities" in result.detail


def test_int8_losing_correct_spans_fails() -> None:
    gold = [_gold(TRACK, SERVICE)] * 500
    fp32 = [_found(TRACK, SERVICE)] * 500
    int8 = [_found((9, 24, "track"), SERVICE)] * 6 + fp32[:494]  # 6 of 1000 spans: 0.6 points
    result = f1_gate(int8, fp32, gold)
    assert not result.passed and result.value < 1.0
    assert "slot F1 int8 99.40, fp32 100.00 on 1000 annotated spans" in result.detail
    assert f1_gate(int8[1:] + fp32[:1], fp32, gold).passed  # 5 spans: within half a point
