"""Threshold choice on validation probabilities, checked through the shared `decide` rule."""

from __future__ import annotations

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Thresholds, decide
from trainer.training.thresholds import RULE_FALLBACK, choose_thresholds, threshold_cost

LABELS = ["a", "b", "c", OUT_OF_SCOPE]


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def synthetic(n_in: int, n_oos: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """In-scope rows peak on their label; OOS rows are flat-ish, sometimes peaking wrongly."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for i in range(n_in):
        label = i % 3
        logits = rng.normal(0, 1, 4)
        logits[label] += rng.uniform(1.0, 6.0)
        logits[3] -= 3
        rows.append(logits)
        truth.append(label)
    for _ in range(n_oos):
        logits = rng.normal(0, 0.7, 4)
        logits[3] += rng.uniform(-1.0, 2.0)
        rows.append(logits)
        truth.append(3)
    return softmax(np.array(rows)), truth


def test_quantile_rule_keeps_97_percent_of_correct_answers() -> None:
    probs, truth = synthetic(600, 0)
    th = choose_thresholds(probs, LABELS, truth)
    assert 0.0 < th.confidence < 1.0 and 0.0 <= th.margin <= 0.10 and "3rd percentile" in th.rule
    cost = threshold_cost(probs, LABELS, truth, th)
    assert cost.rejected_correct <= 0.04 * cost.inscope_correct_raw  # 3 % + 1 %
    higher = Thresholds(th.confidence + 0.05, th.margin)
    assert (
        threshold_cost(probs, LABELS, truth, higher).rejected_correct
        > 0.03 * cost.inscope_correct_raw
    )


def test_oos_rule_trades_at_most_two_points_of_inscope_accuracy() -> None:
    probs, truth = synthetic(600, 200)
    th = choose_thresholds(probs, LABELS, truth)
    assert "OOS recall" in th.rule
    chosen = threshold_cost(probs, LABELS, truth, th)
    margin_only = threshold_cost(probs, LABELS, truth, Thresholds(0.0, th.margin))
    assert chosen.inscope_accuracy >= margin_only.inscope_accuracy - 0.02 - 1e-9
    assert chosen.oos_recall is not None and margin_only.oos_recall is not None
    assert chosen.oos_recall >= margin_only.oos_recall
    score = (chosen.inscope_accuracy + chosen.oos_recall) / 2
    # No other grid point within the accuracy budget scores better, judged by `decide` itself.
    for t in np.arange(0.0, 1.0, 0.05):
        other = threshold_cost(probs, LABELS, truth, Thresholds(float(t), th.margin))
        if other.inscope_accuracy >= margin_only.inscope_accuracy - 0.02:
            assert other.oos_recall is not None
            assert (other.inscope_accuracy + other.oos_recall) / 2 <= score + 1e-9


def test_cost_counts_agree_with_decide() -> None:
    probs, truth = synthetic(100, 30, seed=3)
    th = Thresholds(0.6, 0.05)
    cost = threshold_cost(probs, LABELS, truth, th)
    answers = [decide(row, LABELS, th) for row in probs]
    oos_hits = sum(a.out_of_scope for a, t in zip(answers, truth, strict=True) if t == 3)
    right = sum(a.label == LABELS[t] for a, t in zip(answers, truth, strict=True) if t != 3)
    assert (cost.oos_detected, cost.inscope_correct, cost.oos_total) == (oos_hits, right, 30)


def test_no_usable_validation_disables_thresholds() -> None:
    th = choose_thresholds(np.zeros((0, 4), dtype=np.float32), LABELS, [])
    assert (th.confidence, th.margin, th.rule) == (0.0, 0.0, RULE_FALLBACK)
