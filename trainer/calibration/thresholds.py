"""Choose the out-of-scope thresholds on calibration data (cross-fitted or held-out).

The rule, also written into every model's report:

* familiarity floor: the mean familiarity of the in-scope calibration texts minus
  `unfamiliar_sigmas` standard deviations. A mean and a spread are stable on a hundred
  texts where a 2nd percentile is one or two texts (measured on 40 simulated CLINC150 bots:
  the same in-scope cost caught 1-2 points more unrelated questions);
* without `out_of_scope` examples that floor is the whole rule: confidence and margin stay
  at 0. A head over a few intents is confident about anything, so thresholds on its
  softmax cost real answers and catch little (the same bots: -2.3 points of in-scope
  accuracy for +1.5 points of unrelated questions caught); a small share of its confidence
  is part of the familiarity score instead (`trainer.calibration.familiarity`);
* with `out_of_scope` examples: the familiarity floor (one of SIGMA_CANDIDATES; 3
  deviations turn away almost no real message), margin (0, or the 1st percentile of the
  top-two gap of correct in-scope answers, at most 0.10) and confidence (a 0.01 grid) that
  maximise (in-scope accuracy + out-of-scope recall) / 2 while costing at most
  `max_inscope_loss` of in-scope accuracy against the head's plain answers (ties: the
  first found, loosest first).

Every decision is made by `intent_server.core.decision.decide`, the rule the server applies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Decision, Thresholds, decide
from intent_server.core.fields import Fields, JsonObject
from trainer.metrics import ScopeCounts, scope_counts

MARGIN_QUANTILE = 0.01
MARGIN_CAP = 0.10
GRID_STEP = 0.01
SIGMA_CANDIDATES = (3.0, 2.5, 2.0, 1.5)

RULE_FAMILIARITY = (
    "familiarity: mean - {sigmas} standard deviations of the {method} familiarity of the "
    "in-scope examples; no out_of_scope examples, so confidence and margin are off"
)
RULE_WITH_OOS = (
    "familiarity floor, margin and confidence that maximise (in-scope accuracy + OOS "
    "recall)/2 on {method} data, costing at most {loss:.1f} points of in-scope accuracy"
)
RULE_FALLBACK = "too few correct in-scope calibration answers to choose: thresholds disabled"


@dataclass(frozen=True)
class Calibration:
    """What the thresholds are chosen on: one row per calibration text."""

    probs: np.ndarray  # [N, C] probabilities of a head that did not learn the row
    truth: np.ndarray  # [N] label index
    familiarity: np.ndarray  # [N] familiarity against a bank that does not hold the row
    labels: tuple[str, ...]
    method: str  # "cross-validated" or "held-out"

    @cached_property
    def is_oos(self) -> np.ndarray:
        return np.array([self.labels[t] == OUT_OF_SCOPE for t in self.truth], dtype=bool)

    @property
    def inscope_familiarity(self) -> np.ndarray:
        return np.asarray(self.familiarity[~self.is_oos])


def _floor(value: float, step: float = GRID_STEP) -> float:
    return max(0.0, math.floor(value / step + 1e-9) * step)


def familiarity_floor(scores: np.ndarray, sigmas: float) -> float:
    """mean - sigmas x standard deviation, rounded down to 0.001, within [-1, 1]."""
    value = float(np.mean(scores) - sigmas * np.std(scores))
    return max(-1.0, min(1.0, math.floor(value * 1000 + 1e-9) / 1000))


def _decisions(cal: Calibration, th: Thresholds) -> list[Decision]:
    return [
        decide(row, cal.labels, th, float(fam))
        for row, fam in zip(cal.probs, cal.familiarity, strict=True)
    ]


def threshold_cost(cal: Calibration, thresholds: Thresholds) -> ScopeCounts:
    """Count what `decide` with these thresholds does to the calibration texts."""
    truth = [cal.labels[t] for t in cal.truth.tolist()]
    raw = [decision.label for decision in _decisions(cal, Thresholds())]
    final = [decision.label for decision in _decisions(cal, thresholds)]
    return scope_counts(truth, final, raw)


def _top_two(probs: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Best and second-best in-scope probability per row (what `decide` compares)."""
    in_scope = [i for i, name in enumerate(labels) if name != OUT_OF_SCOPE]
    sub = np.sort(probs[:, in_scope], axis=1)
    second = sub[:, -2] if sub.shape[1] > 1 else np.zeros(len(sub), dtype=sub.dtype)
    return sub[:, -1], second


def choose_thresholds(
    cal: Calibration, *, unfamiliar_sigmas: float, max_inscope_loss: float
) -> Thresholds:
    """Thresholds for `decide`, chosen on calibration data by the module's rule."""
    probs = np.asarray(cal.probs, dtype=np.float64)
    labels = cal.labels
    predicted = probs.argmax(axis=1)
    right = predicted == cal.truth
    correct = right & ~cal.is_oos
    if correct.sum() < 2:
        return Thresholds(0.0, 0.0, RULE_FALLBACK)
    if not cal.is_oos.any():
        only = familiarity_floor(cal.inscope_familiarity, unfamiliar_sigmas)
        rule = RULE_FAMILIARITY.format(sigmas=unfamiliar_sigmas, method=cal.method)
        return Thresholds(0.0, 0.0, rule, only)
    best, second = _top_two(probs, labels)
    margin = min(MARGIN_CAP, _floor(float(np.quantile((best - second)[correct], MARGIN_QUANTILE))))
    floors = [familiarity_floor(cal.inscope_familiarity, s) for s in SIGMA_CANDIDATES]
    accepted = np.array([labels[p] != OUT_OF_SCOPE for p in predicted], dtype=bool)
    n_in, n_oos = int((~cal.is_oos).sum()), int(cal.is_oos.sum())
    least = correct.sum() / n_in - max_inscope_loss - 1e-12
    chosen, value = Thresholds(rule=""), -1.0
    for floor, gap in itertools.product(floors, (0.0, margin)):
        base = accepted & (best - second >= gap) & (cal.familiarity >= floor)
        for t in np.arange(0.0, 1.0, GRID_STEP):
            kept = base & (best >= t)
            accuracy = float((correct & kept).sum()) / n_in
            if accuracy < least:
                break  # accuracy only falls as the threshold rises
            score = (accuracy + float((cal.is_oos & ~kept).sum()) / n_oos) / 2
            if score > value + 1e-12:
                value = score
                chosen = Thresholds(float(round(t, 2)), gap, familiarity=floor)
    rule = RULE_WITH_OOS.format(method=cal.method, loss=max_inscope_loss * 100)
    return Thresholds(chosen.confidence, chosen.margin, rule, chosen.familiarity)


@dataclass(frozen=True)
class TradeoffRow:
    """A familiarity floor alone: the share of correct in-scope calibration answers it turns
    away and (with out_of_scope examples) the share of those it catches."""

    sigmas: float
    familiarity: float
    inscope_turned_away: float | None
    oos_caught: float | None

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> TradeoffRow:
        return fields.build(cls)


def tradeoff_table(cal: Calibration, sigmas: Sequence[float]) -> list[TradeoffRow]:
    """A `TradeoffRow` per number of standard deviations."""
    correct = (cal.probs.argmax(axis=1) == cal.truth) & ~cal.is_oos
    rows: list[TradeoffRow] = []
    for s in sigmas:
        floor = familiarity_floor(cal.inscope_familiarity, s)
        low = cal.familiarity < floor
        rows.append(
            TradeoffRow(
                sigmas=s,
                familiarity=floor,
                inscope_turned_away=float(low[correct].mean()) if correct.any() else None,
                oos_caught=float(low[cal.is_oos].mean()) if cal.is_oos.any() else None,
            )
        )
    return rows


@dataclass(frozen=True)
class OperatingPoint:
    """The thresholds one `max_inscope_loss` chooses and what they give on the calibration
    texts."""

    max_inscope_loss: float
    confidence: float
    margin: float
    familiarity: float | None
    inscope_accuracy: float  # 0.0 without in-scope texts
    oos_recall: float | None

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> OperatingPoint:
        return fields.build(cls)


def budget_table(
    cal: Calibration, budgets: Sequence[float], unfamiliar_sigmas: float
) -> list[OperatingPoint]:
    """With out_of_scope examples: the operating point of each `max_inscope_loss` (the
    points a user can pick)."""
    if not cal.is_oos.any():
        return []
    rows: list[OperatingPoint] = []
    for budget in budgets:
        th = choose_thresholds(cal, unfamiliar_sigmas=unfamiliar_sigmas, max_inscope_loss=budget)
        cost = threshold_cost(cal, th)
        accuracy = cost.inscope_accuracy
        rows.append(
            OperatingPoint(
                max_inscope_loss=budget,
                confidence=th.confidence,
                margin=th.margin,
                familiarity=th.familiarity,
                inscope_accuracy=0.0 if accuracy is None else accuracy,
                oos_recall=cost.oos_recall,
            )
        )
    return rows


@dataclass(frozen=True)
class IntentRejection:
    """One intent's calibration texts that the head answers right, and how many of them the
    thresholds turn away (each scored by a model that did not learn it: what the intent's
    real messages can expect)."""

    intent: str
    answered_right: int
    turned_away: int

    @property
    def share(self) -> float:
        return self.turned_away / self.answered_right if self.answered_right else 0.0

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> IntentRejection:
        return fields.build(cls)


def rejections_by_intent(cal: Calibration, thresholds: Thresholds) -> list[IntentRejection]:
    """An `IntentRejection` per in-scope intent, in label order."""
    right = (cal.probs.argmax(axis=1) == cal.truth) & ~cal.is_oos
    away = np.array([d.out_of_scope for d in _decisions(cal, thresholds)], dtype=bool)
    return [
        IntentRejection(
            name,
            int(right[cal.truth == index].sum()),
            int((right & away)[cal.truth == index].sum()),
        )
        for index, name in enumerate(cal.labels)
        if name != OUT_OF_SCOPE
    ]
