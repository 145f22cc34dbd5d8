"""`decide`, the out-of-scope rule shared by trainer and server, against a plain reading of
its definition (sort the in-scope labels, compare the best two)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from intent_server.core.decision import OUT_OF_SCOPE, Reason, Thresholds, decide


def _by_definition(
    probs: np.ndarray, labels: Sequence[str], th: Thresholds, familiarity: float | None
) -> tuple[str, Reason]:
    top = int(np.argmax(probs))
    if labels[top] == OUT_OF_SCOPE:
        return OUT_OF_SCOPE, Reason.OUT_OF_SCOPE_CLASS
    if th.familiarity is not None and familiarity is not None and familiarity < th.familiarity:
        return OUT_OF_SCOPE, Reason.UNFAMILIAR
    in_scope = sorted((float(probs[i]) for i, n in enumerate(labels) if n != OUT_OF_SCOPE))[::-1]
    best, second = in_scope[0], in_scope[1] if len(in_scope) > 1 else 0.0
    if best < th.confidence:
        return OUT_OF_SCOPE, Reason.LOW_CONFIDENCE
    if best - second < th.margin:
        return OUT_OF_SCOPE, Reason.AMBIGUOUS
    return labels[top], Reason.NONE


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=8),
    with_oos=st.booleans(),
    confidence=st.sampled_from([0.0, 0.2, 0.5]),
    margin=st.sampled_from([0.0, 0.05, 0.3]),
    floor=st.sampled_from([None, 0.3, 0.6]),
    familiarity=st.sampled_from([None, 0.1, 0.3, 0.9]),
)
def test_matches_the_definition(
    weights: list[int],
    with_oos: bool,
    confidence: float,
    margin: float,
    floor: float | None,
    familiarity: float | None,
) -> None:
    # Small integer weights make ties (equal top scores) common.
    raw = np.array(weights, dtype=np.float64) + 1e-3
    probs = (raw / raw.sum()).astype(np.float32)
    labels = [f"intent_{i}" for i in range(len(probs))]
    if with_oos:
        labels[len(labels) // 2] = OUT_OF_SCOPE
    th = Thresholds(confidence, margin, familiarity=floor)
    decision = decide(probs, labels, th, familiarity)
    assert (decision.label, decision.reason) == _by_definition(probs, labels, th, familiarity)
    assert decision.top_index == int(np.argmax(probs))


def test_single_in_scope_label_has_no_runner_up() -> None:
    decision = decide(np.array([0.7, 0.3]), ["greet", OUT_OF_SCOPE], Thresholds(0.5, 0.5))
    assert (decision.label, decision.confidence) == ("greet", 0.7)


def test_unfamiliar_text_is_out_of_scope_with_the_real_top_intent() -> None:
    th = Thresholds(0.2, 0.1, familiarity=0.45)
    decision = decide(np.array([0.9, 0.1]), ["greet", "bye"], th, familiarity=0.2)
    assert (decision.label, decision.reason, decision.top_index) == (
        OUT_OF_SCOPE,
        Reason.UNFAMILIAR,
        0,
    )
    assert abs(decision.confidence - 0.1) < 1e-6
    familiar = decide(np.array([0.9, 0.1]), ["greet", "bye"], th, familiarity=0.45)
    assert (familiar.label, familiar.reason) == ("greet", Reason.NONE)
