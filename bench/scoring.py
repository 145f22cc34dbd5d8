"""Accuracy, macro-F1, AUROC and out-of-scope metrics with numpy only (no sklearn).

`oos_scores` (in-scope accuracy, OOS recall and precision) lives in `trainer.metrics`,
shared with `intent-train evaluate` and the training report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Thresholds, decide
from trainer.metrics import OosScores, oos_scores

THRESHOLD_GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)
# The threshold may cost at most this much in-scope validation accuracy (vs no threshold):
# maximising in-scope accuracy + OOS recall alone picks a high-recall point (CLINC: ~89 %
# in-scope for 93 % recall), which no bot owner would deploy.
MAX_INSCOPE_DROP = 0.015


def accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    if not truth:
        return 0.0
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def macro_f1(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Mean F1 over the classes present in `truth` (a prediction of another class is a miss)."""
    scores = []
    for label in sorted(set(truth)):
        tp = sum(1 for p, t in zip(predicted, truth, strict=True) if p == label and t == label)
        fp = sum(1 for p, t in zip(predicted, truth, strict=True) if p == label and t != label)
        fn = sum(1 for p, t in zip(predicted, truth, strict=True) if p != label and t == label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie-averaged ranks)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def top_inscope_probability(probs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Best in-scope probability per row (the confidence the threshold compares)."""
    keep = [i for i, name in enumerate(labels) if name != OUT_OF_SCOPE]
    return np.asarray(probs[:, keep].max(axis=1))


def decisions(
    probs: np.ndarray,
    labels: Sequence[str],
    thresholds: Thresholds,
    familiarity: np.ndarray | None = None,
) -> list[str]:
    """The server's own rule (`intent_server.core.decision.decide`) applied to every row
    (`familiarity` None: the familiarity rule is skipped)."""
    if familiarity is None:
        return [decide(row, labels, thresholds).label for row in probs]
    return [
        decide(row, labels, thresholds, float(f)).label
        for row, f in zip(probs, familiarity, strict=True)
    ]


def choose_oos_threshold(
    probs: np.ndarray, labels: Sequence[str], truth: Sequence[str]
) -> tuple[Thresholds, OosScores]:
    """The confidence on a 0.01 grid maximising in-scope accuracy + OOS recall on validation
    data while losing at most MAX_INSCOPE_DROP in-scope accuracy (ties: the lowest value);
    margin off. Never call this with test data."""
    # With the margin off, `decide` turns an answer into out_of_scope exactly when the best
    # in-scope probability is below the confidence: sweep that on the threshold-free answers.
    raw = np.array(decisions(probs, labels, Thresholds()), dtype=object)
    best_p = top_inscope_probability(probs, labels)
    truth_arr = np.array(truth, dtype=object)
    is_oos = truth_arr == OUT_OF_SCOPE
    best_value, best_objective, floor = 0.0, -1.0, -1.0
    for value in THRESHOLD_GRID:
        answer = np.where(best_p < value, OUT_OF_SCOPE, raw)
        in_acc = float(np.mean(answer[~is_oos] == truth_arr[~is_oos])) if (~is_oos).any() else 0.0
        recall = float(np.mean(answer[is_oos] == OUT_OF_SCOPE)) if is_oos.any() else 0.0
        if floor < 0:
            floor = in_acc - MAX_INSCOPE_DROP  # the grid starts at 0: no threshold
        if in_acc >= floor - 1e-12 and in_acc + recall > best_objective + 1e-12:
            best_value, best_objective = float(value), in_acc + recall
    rule = (
        f"confidence {best_value:.2f} maximises in-scope accuracy + OOS recall on validation "
        f"(val + oos_val) losing at most {100 * MAX_INSCOPE_DROP:.1f} points of in-scope "
        "accuracy; margin off"
    )
    chosen = Thresholds(confidence=best_value, margin=0.0, rule=rule)
    return chosen, oos_scores(decisions(probs, labels, chosen), truth)
