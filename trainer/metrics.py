"""Answers scored against the truth, one definition for the training report, `intent-train
evaluate` and the benchmark: accuracy, per-intent precision/recall/F1, macro-F1, confused
pairs, the out-of-scope figures (in-scope accuracy with and without the thresholds, OOS
recall and precision) and AUROC.

A module every trainer layer may import (numpy and the server's core only): calibration
counts what its thresholds cost with `scope_counts`, below the reports that show it.
Truth and answers are intent names (an out-of-scope example's truth is `out_of_scope`), or
for the label metrics indices into a label list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE
from intent_server.core.fields import Fields, JsonObject

WORST_SHOWN = 5  # intents listed as the worst (by F1)


def _names(values: Sequence[str] | np.ndarray) -> np.ndarray:
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)


def _same_length(*arrays: Sequence[object] | np.ndarray) -> None:
    if len({len(array) for array in arrays}) > 1:
        raise ValueError(f"answers and truth differ in length: {[len(a) for a in arrays]}")


def accuracy(predicted: Sequence[str] | np.ndarray, truth: Sequence[str] | np.ndarray) -> float:
    """The share of answers equal to the truth (0.0 for no examples)."""
    _same_length(predicted, truth)
    if not len(truth):
        return 0.0
    return float((_names(predicted) == _names(truth)).mean())


@dataclass(frozen=True)
class IntentScores:
    """One intent's precision, recall and F1 (0.0 where undefined) and its example count."""

    intent: str
    precision: float
    recall: float
    f1: float
    support: int

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> IntentScores:
        return fields.build(cls)


def per_intent(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> list[IntentScores]:
    """Precision, recall, F1 and support of every label, in label order."""
    rows = []
    for index, name in enumerate(labels):
        tp = int(((y_pred == index) & (y_true == index)).sum())
        predicted = int((y_pred == index).sum())
        support = int((y_true == index).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(IntentScores(name, precision, recall, f1, support))
    return rows


def macro_f1_of(rows: Sequence[IntentScores]) -> float:
    """The mean F1 of the intents with examples, in the rows' order (0.0 for none)."""
    scored = [row.f1 for row in rows if row.support > 0]
    return float(np.mean(scored)) if scored else 0.0


def as_indices(
    predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Truth and answers as indices into `labels` followed by the other names they hold
    (sorted): the label metrics' input."""
    _same_length(predicted, truth)
    names = list(labels)
    names += sorted({*truth, *predicted} - set(names))
    index = {name: i for i, name in enumerate(names)}
    y_true = np.array([index[name] for name in truth], dtype=np.int64)
    return y_true, np.array([index[name] for name in predicted], dtype=np.int64), names


def macro_f1(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Mean F1 over the intents present in `truth` (an answer of another intent is a miss),
    the intents taken in name order."""
    y_true, y_pred, names = as_indices(predicted, truth)
    return macro_f1_of(per_intent(y_true, y_pred, names))


@dataclass(frozen=True)
class ConfusedPair:
    """Examples of intent `true` answered `predicted`: how many, and the first one's text."""

    true: str
    predicted: str
    count: int
    example: str

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> ConfusedPair:
        return fields.build(cls)


def confusion_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], texts: Sequence[str]
) -> list[ConfusedPair]:
    """Off-diagonal (true, predicted) pairs, most frequent first, each with one example text."""
    pairs: dict[tuple[int, int], list[str]] = {}
    for truth, pred, text in zip(y_true.tolist(), y_pred.tolist(), texts, strict=True):
        if truth != pred:
            pairs.setdefault((truth, pred), []).append(text)
    ordered = sorted(pairs.items(), key=lambda item: (-len(item[1]), labels[item[0][0]]))
    return [
        ConfusedPair(labels[t], labels[p], len(examples), examples[0])
        for (t, p), examples in ordered
    ]


@dataclass(frozen=True)
class LabelMetrics:
    """Argmax-style scores of answers by label: `macro_f1` is the mean F1 of the intents
    with examples, `worst_intents` the lowest F1s among them, `confusions` every confused
    pair. In report.json its keys sit at the top level."""

    accuracy: float
    macro_f1: float
    intents: tuple[IntentScores, ...]
    worst_intents: tuple[IntentScores, ...]
    confusions: tuple[ConfusedPair, ...]

    def to_json(self) -> JsonObject:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "intents": [row.to_json() for row in self.intents],
            "worst_intents": [row.to_json() for row in self.worst_intents],
            "confusions": [pair.to_json() for pair in self.confusions],
        }

    @classmethod
    def from_json(cls, fields: Fields) -> LabelMetrics:
        return fields.build(cls)


def label_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], texts: Sequence[str]
) -> LabelMetrics:
    """Accuracy, per-intent scores (in label order), macro-F1, the worst intents and the
    confused pairs of answers given as indices into `labels`."""
    intents = per_intent(y_true, y_pred, labels)
    scored = [row for row in intents if row.support > 0]
    return LabelMetrics(
        accuracy=float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        macro_f1=macro_f1_of(intents),
        intents=tuple(intents),
        worst_intents=tuple(sorted(scored, key=lambda r: (r.f1, r.intent))[:WORST_SHOWN]),
        confusions=tuple(confusion_pairs(y_true, y_pred, labels, texts)),
    )


def share(part: int, whole: int) -> float | None:
    """part / whole, None when there is nothing to count."""
    return part / whole if whole else None


@dataclass(frozen=True)
class ScopeCounts:
    """In-scope and out-of-scope examples counted by how they were answered, by the server's
    rule (`answers`) and by the head alone (argmax, no thresholds)."""

    inscope_total: int
    inscope_correct_raw: int  # answered right by the head alone
    inscope_correct: int  # answered right after the out-of-scope rule
    rejected_correct: int  # right by the head alone, turned out of scope by the rule
    oos_total: int
    oos_detected: int  # out-of-scope examples answered out_of_scope
    oos_answers: int  # out_of_scope answers, right or not

    @property
    def inscope_accuracy(self) -> float | None:
        return share(self.inscope_correct, self.inscope_total)

    @property
    def inscope_accuracy_raw(self) -> float | None:
        return share(self.inscope_correct_raw, self.inscope_total)

    @property
    def oos_recall(self) -> float | None:
        return share(self.oos_detected, self.oos_total)

    @property
    def oos_precision(self) -> float | None:
        return share(self.oos_detected, self.oos_answers)


def scope_counts(
    truth: Sequence[str] | np.ndarray,
    answers: Sequence[str] | np.ndarray,
    head_answers: Sequence[str] | np.ndarray | None = None,
) -> ScopeCounts:
    """Count the answers (and the head's, where given) against the truth."""
    head = answers if head_answers is None else head_answers
    _same_length(truth, answers, head)
    expected, said, raw = _names(truth), _names(answers), _names(head)
    oos = expected == OUT_OF_SCOPE
    said_oos = said == OUT_OF_SCOPE
    raw_right = (raw == expected) & ~oos
    return ScopeCounts(
        inscope_total=int((~oos).sum()),
        inscope_correct_raw=int(raw_right.sum()),
        inscope_correct=int(((said == expected) & ~oos).sum()),
        rejected_correct=int((raw_right & said_oos).sum()),
        oos_total=int(oos.sum()),
        oos_detected=int((oos & said_oos).sum()),
        oos_answers=int(said_oos.sum()),
    )


@dataclass(frozen=True)
class OosScores:
    """The out-of-scope figures with 0.0 where there is nothing to count (the benchmark's
    convention)."""

    inscope_accuracy: float  # in-scope examples answered with their own intent
    oos_recall: float  # out-of-scope examples answered out_of_scope
    oos_precision: float  # out_of_scope answers that were really out of scope
    oos_f1: float

    @classmethod
    def of(cls, counts: ScopeCounts) -> OosScores:
        def zero(value: float | None) -> float:
            return 0.0 if value is None else value

        precision, recall = zero(counts.oos_precision), zero(counts.oos_recall)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(zero(counts.inscope_accuracy), recall, precision, f1)

    def to_json(self) -> JsonObject:
        return asdict(self)


def oos_scores(
    predicted: Sequence[str] | np.ndarray, truth: Sequence[str] | np.ndarray
) -> OosScores:
    """`OosScores` of answers where `truth` holds OUT_OF_SCOPE for out-of-scope examples."""
    return OosScores.of(scope_counts(truth, predicted))


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie-averaged ranks); NaN without both
    classes."""
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
