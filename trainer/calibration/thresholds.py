"""Choose the out-of-scope thresholds (confidence, margin) on validation data.

The rule, also written into every model's report:

* margin: the 1st percentile of the top-two gap among correctly classified in-scope
  validation examples, rounded down to 0.01 and capped at 0.10 (rejects <= 1 % of them);
* confidence, when validation has `out_of_scope` examples: the value on a 0.01 grid that
  maximises (in-scope accuracy + OOS recall) / 2, where in-scope accuracy may drop at most
  2 points below its value without a threshold (ties: the lowest such value);
* confidence, otherwise: the 3rd percentile of the top in-scope probability among correctly
  classified in-scope validation examples, rounded down to 0.01 (keeps >= 97 % of them).

Every decision is made by `intent_server.core.decision.decide`, the rule the server applies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Decision, Thresholds, decide

MARGIN_QUANTILE = 0.01
MARGIN_CAP = 0.10
CONFIDENCE_QUANTILE = 0.03
MAX_INSCOPE_LOSS = 0.02
GRID_STEP = 0.01

RULE_WITH_OOS = (
    "margin: 1st percentile of the top-two gap of correct in-scope validation answers "
    "(<= 0.10); confidence: maximises (in-scope accuracy + OOS recall)/2 on validation, "
    "losing at most 2 points of in-scope accuracy"
)
RULE_QUANTILE = (
    "margin: 1st percentile of the top-two gap of correct in-scope validation answers "
    "(<= 0.10); confidence: 3rd percentile of the top probability of correct in-scope "
    "validation answers (keeps >= 97 % of them)"
)
RULE_FALLBACK = "too few correct in-scope validation answers to choose: thresholds disabled"


@dataclass(frozen=True)
class ThresholdCost:
    """What the thresholds cost on validation data."""

    inscope_total: int
    inscope_correct_raw: int  # correct by argmax alone
    inscope_correct: int  # correct after the out-of-scope rule
    rejected_correct: int  # correct by argmax but turned into out_of_scope
    oos_total: int
    oos_detected: int

    @property
    def inscope_accuracy(self) -> float:
        return self.inscope_correct / self.inscope_total if self.inscope_total else 0.0

    @property
    def oos_recall(self) -> float | None:
        return self.oos_detected / self.oos_total if self.oos_total else None


def _floor(value: float, step: float = GRID_STEP) -> float:
    return max(0.0, math.floor(value / step + 1e-9) * step)


def _decisions(probs: np.ndarray, labels: Sequence[str], th: Thresholds) -> list[Decision]:
    return [decide(row, labels, th) for row in probs]


def threshold_cost(
    probs: np.ndarray, labels: Sequence[str], y_true: Sequence[int], thresholds: Thresholds
) -> ThresholdCost:
    """Count what `decide` with these thresholds does to the validation examples."""
    raw = _decisions(probs, labels, Thresholds(0.0, 0.0))
    final = _decisions(probs, labels, thresholds)
    in_total = in_raw = in_ok = rejected = oos_total = oos_hit = 0
    for truth, before, after in zip(y_true, raw, final, strict=True):
        if labels[truth] == OUT_OF_SCOPE:
            oos_total += 1
            oos_hit += after.out_of_scope
            continue
        in_total += 1
        raw_ok = before.label == labels[truth]
        in_raw += raw_ok
        in_ok += after.label == labels[truth]
        rejected += raw_ok and after.out_of_scope
    return ThresholdCost(in_total, in_raw, in_ok, rejected, oos_total, oos_hit)


def _top_two(probs: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Best and second-best in-scope probability per row (statistics to pick candidates)."""
    in_scope = [i for i, name in enumerate(labels) if name != OUT_OF_SCOPE]
    sub = np.sort(probs[:, in_scope], axis=1)
    second = sub[:, -2] if sub.shape[1] > 1 else np.zeros(len(sub), dtype=sub.dtype)
    return sub[:, -1], second


def choose_thresholds(
    probs: np.ndarray, labels: Sequence[str], y_true: Sequence[int]
) -> Thresholds:
    """Thresholds for `decide`, chosen on validation probabilities by the module's rule."""
    probs = np.asarray(probs, dtype=np.float64)
    truth = np.asarray(y_true, dtype=np.int64)
    raw = _decisions(probs, labels, Thresholds(0.0, 0.0))
    correct = np.array(
        [
            d.label == labels[t] and labels[t] != OUT_OF_SCOPE
            for d, t in zip(raw, truth, strict=True)
        ],
        dtype=bool,
    )
    if correct.sum() < 2:
        return Thresholds(0.0, 0.0, RULE_FALLBACK)
    best, second = _top_two(probs, labels)
    margin = min(MARGIN_CAP, _floor(float(np.quantile((best - second)[correct], MARGIN_QUANTILE))))
    has_oos = any(labels[t] == OUT_OF_SCOPE for t in truth)
    if not has_oos:
        confidence = _floor(float(np.quantile(best[correct], CONFIDENCE_QUANTILE)))
        return Thresholds(min(confidence, 0.99), margin, RULE_QUANTILE)
    return Thresholds(_sweep_confidence(probs, labels, truth, best, margin), margin, RULE_WITH_OOS)


def _sweep_confidence(
    probs: np.ndarray,
    labels: Sequence[str],
    truth: np.ndarray,
    best: np.ndarray,
    margin: float,
) -> float:
    """Grid search; a row's answer only changes at its own top probability, so `decide` runs
    once per row at confidence 0 and the sweep compares each threshold to that probability."""
    base = _decisions(probs, labels, Thresholds(0.0, margin))
    is_oos = np.array([labels[t] == OUT_OF_SCOPE for t in truth], dtype=bool)
    accepted = np.array([not d.out_of_scope for d in base], dtype=bool)
    right = np.array([d.label == labels[t] for d, t in zip(base, truth, strict=True)], dtype=bool)
    n_in, n_oos = int((~is_oos).sum()), int(is_oos.sum())
    base_acc = float((right & ~is_oos).sum()) / max(n_in, 1)
    best_value, best_t = -1.0, 0.0
    for t in np.arange(0.0, 1.0, GRID_STEP):
        kept = accepted & (best >= t)
        acc = float((right & kept & ~is_oos).sum()) / max(n_in, 1)
        if acc < base_acc - MAX_INSCOPE_LOSS - 1e-12:
            break  # accuracy only falls as the threshold rises
        recall = float((is_oos & ~kept).sum()) / max(n_oos, 1)
        value = (acc + recall) / 2
        if value > best_value + 1e-12:
            best_value, best_t = value, float(round(t, 2))
    return best_t
