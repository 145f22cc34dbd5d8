"""`trainer.metrics`: one definition of every score, for the training report, `intent-train
evaluate` and the benchmark (tests/bench/test_scoring.py checks the benchmark gets the same
numbers)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from intent_server.core.decision import OUT_OF_SCOPE
from trainer.metrics import (
    accuracy,
    auroc,
    confusion_pairs,
    label_metrics,
    macro_f1,
    oos_scores,
    per_intent,
    scope_counts,
)


def brute_force_auroc(scores: list[float], positive: list[bool]) -> float:
    pairs = [
        (p, n)
        for p, n in itertools.product(range(len(scores)), repeat=2)
        if positive[p] and not positive[n]
    ]
    wins = sum(
        1.0 if scores[p] > scores[n] else 0.5 if scores[p] == scores[n] else 0.0 for p, n in pairs
    )
    return wins / len(pairs)


def test_auroc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=40).astype(float)  # many ties
    positive = rng.random(40) < 0.4
    assert auroc(scores, positive) == pytest.approx(
        brute_force_auroc(scores.tolist(), positive.tolist())
    )
    assert auroc(np.array([0.1, 0.2, 0.9]), np.array([False, False, True])) == 1.0
    assert auroc(np.array([0.9, 0.2, 0.1]), np.array([False, False, True])) == 0.0
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([True, True])))


def test_macro_f1_and_accuracy() -> None:
    truth = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "b"]
    assert accuracy(predicted, truth) == 0.75
    # a: tp 1, fn 1 -> 2/3; b: tp 2, fp 1 -> 4/5
    assert macro_f1(predicted, truth) == pytest.approx((2 / 3 + 4 / 5) / 2)
    # An answer of an intent the truth lacks is a miss, and that intent is not averaged.
    assert macro_f1(["c", "a"], ["a", "a"]) == pytest.approx(2 / 3)
    assert accuracy([], []) == 0.0 and macro_f1([], []) == 0.0
    with pytest.raises(ValueError, match="length"):
        accuracy(["a"], ["a", "b"])


def test_per_intent_rows_and_confused_pairs() -> None:
    labels = ["a", "b", "c"]
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 0, 0, 2])
    rows = {row.intent: row for row in per_intent(y_true, y_pred, labels)}
    assert (rows["a"].precision, rows["a"].recall, rows["a"].support) == (1 / 3, 1 / 2, 2)
    assert rows["c"].f1 == 1.0
    texts = ["t0", "t1", "t2", "t3", "t4", "t5"]
    pairs = confusion_pairs(y_true, y_pred, labels, texts)
    assert [(p.true, p.predicted, p.count, p.example) for p in pairs] == [
        ("b", "a", 2, "t3"),
        ("a", "b", 1, "t1"),
    ]
    metrics = label_metrics(y_true, y_pred, labels, texts)
    assert metrics.accuracy == 0.5
    assert [r.intent for r in metrics.worst_intents] == ["a", "b", "c"]  # F1 ties: by name


def test_oos_scores() -> None:
    truth = ["a", "b", OUT_OF_SCOPE, OUT_OF_SCOPE]
    predicted = ["a", OUT_OF_SCOPE, OUT_OF_SCOPE, "a"]
    scores = oos_scores(predicted, truth)
    assert scores.inscope_accuracy == 0.5
    assert scores.oos_recall == 0.5
    assert scores.oos_precision == 0.5


def test_scope_counts_and_oos_scores() -> None:
    truth = ["a", "b", "b", OUT_OF_SCOPE, OUT_OF_SCOPE]
    head = ["a", "b", "a", "a", OUT_OF_SCOPE]
    answers = ["a", OUT_OF_SCOPE, "a", OUT_OF_SCOPE, "a"]
    counts = scope_counts(truth, answers, head)
    assert (counts.inscope_total, counts.inscope_correct, counts.inscope_correct_raw) == (3, 1, 2)
    assert counts.rejected_correct == 1  # b, right by the head, turned out of scope
    assert (counts.oos_total, counts.oos_detected, counts.oos_answers) == (2, 1, 2)
    assert (counts.inscope_accuracy, counts.inscope_accuracy_raw) == (1 / 3, 2 / 3)
    assert (counts.oos_recall, counts.oos_precision) == (0.5, 0.5)
    empty = scope_counts(["a"], ["a"])
    assert empty.oos_recall is None and empty.oos_precision is None

    scores = oos_scores(["a", OUT_OF_SCOPE, OUT_OF_SCOPE, "a"], ["a", "b", OUT_OF_SCOPE, "x"])
    assert scores.inscope_accuracy == pytest.approx(1 / 3)
    assert (scores.oos_recall, scores.oos_precision) == (1.0, 0.5)
    assert oos_scores(["a"], ["a"]).oos_recall == 0.0  # the benchmark's "nothing counted"
