"""Threshold choice on calibration data, checked through the shared `decide` rule."""

from __future__ import annotations

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Reason, Thresholds, decide
from trainer.calibration.thresholds import (
    RULE_FALLBACK,
    Calibration,
    choose_thresholds,
    familiarity_floor,
    threshold_cost,
    tradeoff_table,
)

LABELS = ("a", "b", "c", OUT_OF_SCOPE)
IN_SCOPE = ("a", "b", "c")


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def synthetic(
    n_in: int, n_oos: int, labels: tuple[str, ...] = LABELS, seed: int = 0
) -> Calibration:
    """In-scope rows peak on their label and are familiar (~0.7); OOS rows are flat-ish,
    sometimes peaking wrongly, and mostly unfamiliar (~0.35)."""
    rng = np.random.default_rng(seed)
    width = len(labels)
    rows, truth, familiarity = [], [], []
    for i in range(n_in):
        label = i % 3
        logits = rng.normal(0, 1, width)
        logits[label] += rng.uniform(1.0, 6.0)
        if width > 3:
            logits[3] -= 3
        rows.append(logits)
        truth.append(label)
        familiarity.append(rng.normal(0.7, 0.08))
    for _ in range(n_oos):
        logits = rng.normal(0, 0.7, width)
        logits[3] += rng.uniform(-1.0, 2.0)
        rows.append(logits)
        truth.append(3)
        familiarity.append(rng.normal(0.35, 0.12))
    return Calibration(
        softmax(np.array(rows)),
        np.array(truth),
        np.array(familiarity, dtype=np.float32),
        labels,
        "held-out",
    )


def test_without_oos_examples_the_familiarity_floor_is_the_whole_rule() -> None:
    cal = synthetic(600, 0, IN_SCOPE)
    th = choose_thresholds(cal, unfamiliar_sigmas=2.0, max_inscope_loss=0.01)
    assert (th.confidence, th.margin) == (0.0, 0.0) and "no out_of_scope examples" in th.rule
    scores = cal.familiarity
    assert th.familiarity is not None
    assert abs(th.familiarity - (scores.mean() - 2.0 * scores.std())) < 0.002
    cost = threshold_cost(cal, th)
    # A normal sample loses about 2.3 % below 2 deviations.
    assert 0.005 <= cost.rejected_correct / cost.inscope_correct_raw <= 0.05
    stricter = choose_thresholds(cal, unfamiliar_sigmas=1.0, max_inscope_loss=0.01)
    assert threshold_cost(cal, stricter).rejected_correct > 3 * cost.rejected_correct


def test_oos_rule_costs_at_most_the_inscope_budget_and_beats_every_other_grid_point() -> None:
    cal = synthetic(600, 200)
    th = choose_thresholds(cal, unfamiliar_sigmas=1.9, max_inscope_loss=0.01)
    assert "OOS recall" in th.rule and th.familiarity is not None
    chosen = threshold_cost(cal, th)
    raw_accuracy = chosen.inscope_correct_raw / chosen.inscope_total
    assert chosen.inscope_accuracy >= raw_accuracy - 0.01 - 1e-9
    assert chosen.oos_recall is not None and chosen.oos_recall > 0.9
    score = (chosen.inscope_accuracy + chosen.oos_recall) / 2
    floors = [familiarity_floor(cal.inscope_familiarity, s) for s in (3.0, 2.5, 2.0, 1.5)]
    for floor in floors:
        for t in np.arange(0.0, 1.0, 0.05):
            other = threshold_cost(cal, Thresholds(float(t), 0.0, familiarity=floor))
            if other.inscope_accuracy >= raw_accuracy - 0.01 and other.oos_recall is not None:
                assert (other.inscope_accuracy + other.oos_recall) / 2 <= score + 1e-9


def test_cost_counts_agree_with_decide() -> None:
    cal = synthetic(100, 30, seed=3)
    th = Thresholds(0.6, 0.05, familiarity=0.5)
    cost = threshold_cost(cal, th)
    answers = [
        decide(row, LABELS, th, float(f)) for row, f in zip(cal.probs, cal.familiarity, strict=True)
    ]
    truth = cal.truth.tolist()
    oos_hits = sum(a.out_of_scope for a, t in zip(answers, truth, strict=True) if t == 3)
    right = sum(a.label == LABELS[t] for a, t in zip(answers, truth, strict=True) if t != 3)
    assert (cost.oos_detected, cost.inscope_correct, cost.oos_total) == (oos_hits, right, 30)
    assert any(a.reason is Reason.UNFAMILIAR for a in answers)


def test_tradeoff_table_shows_what_each_floor_costs_and_catches() -> None:
    cal = synthetic(300, 100)
    rows = tradeoff_table(cal, (1.0, 2.0, 3.0))
    away = [float(row.inscope_turned_away or 0.0) for row in rows]
    caught = [float(row.oos_caught or 0.0) for row in rows]
    assert away == sorted(away, reverse=True) and caught == sorted(caught, reverse=True)
    assert all(row.inscope_turned_away is not None for row in rows) and caught[-1] > 0


def test_no_usable_calibration_disables_thresholds() -> None:
    empty = Calibration(
        np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.int64), np.zeros(0), LABELS, ""
    )
    th = choose_thresholds(empty, unfamiliar_sigmas=1.9, max_inscope_loss=0.01)
    assert (th.confidence, th.margin, th.familiarity, th.rule) == (0.0, 0.0, None, RULE_FALLBACK)
