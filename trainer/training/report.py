"""The training report (`models/MODEL/report/report.json`): `TrainingReport` and its parts,
built from the calibration texts' answers, written and read back by the same code.

The label metrics are `trainer.metrics`'; the familiarity trade-off and the operating points
are calibration's tables. `report_text` renders the report (report.md, the console summary).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from intent_server.core.decision import Thresholds
from intent_server.core.errors import ArtifactError
from intent_server.core.fields import Fields, JsonObject
from intent_server.core.model_card import FineTuning
from trainer.calibration.thresholds import (
    Calibration,
    IntentRejection,
    OperatingPoint,
    TradeoffRow,
    budget_table,
    rejections_by_intent,
    tradeoff_table,
)
from trainer.entity_metrics import EntityScores
from trainer.metrics import LabelMetrics, ScopeCounts, label_metrics
from trainer.training.fitting import HeadChoice

TRADEOFF_SIGMAS = (1.0, 1.5, 1.9, 2.2, 2.5, 3.0)
# An intent needs more examples when the floor turns away at least this share of its own
# cross-validated examples that the head answers right (and at least 2 of them), or when
# the head answers fewer than NEEDS_RECALL of them right.
NEEDS_TURNED_AWAY = 0.1
NEEDS_RECALL = 0.8
BUDGETS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05)


class ReportError(ArtifactError):
    """A report.json that cannot be read back; the message names the file and the key."""


@dataclass(frozen=True)
class ThresholdsSection:
    """The thresholds chosen and what they cost on the calibration texts."""

    confidence: float
    margin: float
    rule: str
    inscope_validation_examples: int
    inscope_accuracy_without_thresholds: float | None  # None: no in-scope texts
    inscope_accuracy_with_thresholds: float | None
    correct_inscope_rejected: int  # right by argmax, turned out of scope by the thresholds
    oos_validation_examples: int
    oos_recall: float | None  # None: no out_of_scope texts

    @classmethod
    def of(cls, thresholds: Thresholds, cost: ScopeCounts) -> ThresholdsSection:
        return cls(
            confidence=thresholds.confidence,
            margin=thresholds.margin,
            rule=thresholds.rule,
            inscope_validation_examples=cost.inscope_total,
            inscope_accuracy_without_thresholds=cost.inscope_accuracy_raw,
            inscope_accuracy_with_thresholds=cost.inscope_accuracy,
            correct_inscope_rejected=cost.rejected_correct,
            oos_validation_examples=cost.oos_total,
            oos_recall=cost.oos_recall,
        )

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> ThresholdsSection:
        return fields.build(cls)


@dataclass(frozen=True)
class FamiliaritySection:
    """The familiarity floor, the in-scope calibration texts' familiarity (None without
    such texts), what other floors would cost, and what the thresholds turn away per intent
    (empty in reports written before it)."""

    threshold: float | None
    inscope_mean: float | None
    inscope_std: float | None
    inscope_min: float | None
    tradeoff: tuple[TradeoffRow, ...]
    per_intent: tuple[IntentRejection, ...] = ()

    @classmethod
    def of(cls, cal: Calibration, thresholds: Thresholds) -> FamiliaritySection:
        scores = cal.inscope_familiarity
        if not len(scores):
            return cls(thresholds.familiarity, None, None, None, ())
        return cls(
            threshold=thresholds.familiarity,
            inscope_mean=float(scores.mean()),
            inscope_std=float(scores.std()),
            inscope_min=float(scores.min()),
            tradeoff=tuple(tradeoff_table(cal, TRADEOFF_SIGMAS)),
            per_intent=tuple(rejections_by_intent(cal, thresholds)),
        )

    def to_json(self) -> JsonObject:
        return {
            "threshold": self.threshold,
            "inscope_mean": self.inscope_mean,
            "inscope_std": self.inscope_std,
            "inscope_min": self.inscope_min,
            "tradeoff": [row.to_json() for row in self.tradeoff],
            "per_intent": [row.to_json() for row in self.per_intent],
        }

    @classmethod
    def from_json(cls, fields: Fields) -> FamiliaritySection:
        rows = fields.items("per_intent") if fields.has("per_intent") else ()
        return fields.build(cls, per_intent=tuple(IntentRejection.from_json(f) for f in rows))


@dataclass(frozen=True)
class EntitySection:
    """The entity head measured before it is trained on every example: a head trained
    without a fifth of the annotated examples, scored on that fifth (`scores`: per type and
    micro-averaged, exact span and type, with the wrong spans; None when there were too few
    annotated examples to hold any out, or when the head was trained with the encoder)."""

    annotated_examples: int
    held_out_examples: int
    scores: EntityScores | None
    # A head trained with the encoder (`--fine-tune`): the slot F1 the fine-tuning comparison
    # measured on examples it did not train on, and their spans (None: not fine-tuned).
    tuned_f1: float | None = None
    tuned_spans: int = 0

    def to_json(self) -> JsonObject:
        return {
            "annotated_examples": self.annotated_examples,
            "held_out_examples": self.held_out_examples,
            "scores": None if self.scores is None else self.scores.to_json(),
            "tuned_f1": self.tuned_f1,
            "tuned_spans": self.tuned_spans,
        }

    @classmethod
    def from_json(cls, fields: Fields) -> EntitySection:
        scores = None
        if fields.raw("scores") is not None:
            scores = EntityScores.from_json(fields.section("scores"))
        tuned = fields.optional_number("tuned_f1") if fields.has("tuned_f1") else None
        spans = fields.integer("tuned_spans") if fields.has("tuned_spans") else 0
        return fields.build(cls, scores=scores, tuned_f1=tuned, tuned_spans=spans)


@dataclass(frozen=True)
class TrainingReport:
    """Scores on the calibration texts (held-out, or cross-validated answers): the head's
    argmax `labels` metrics, the thresholds, familiarity and the other operating points;
    with `--fine-tune`, what the comparison kept."""

    validation_examples: int
    validation_method: str
    labels: LabelMetrics
    thresholds: ThresholdsSection
    familiarity: FamiliaritySection
    operating_points: tuple[OperatingPoint, ...]
    fine_tuning: FineTuning | None = None
    entities: EntitySection | None = None  # None: a bot without entity annotations
    head: HeadChoice | None = None  # which kind of head, and why (None: an older report)

    def to_json(self) -> JsonObject:
        data: JsonObject = {
            "validation_examples": self.validation_examples,
            "validation_method": self.validation_method,
            **self.labels.to_json(),
            "thresholds": self.thresholds.to_json(),
            "familiarity": self.familiarity.to_json(),
            "operating_points": [row.to_json() for row in self.operating_points],
        }
        if self.fine_tuning is not None:
            data["fine_tuning"] = self.fine_tuning.to_json() | {
                "summary": self.fine_tuning.summary()
            }
        if self.entities is not None:
            data["entities"] = self.entities.to_json()
        if self.head is not None:
            data["head"] = self.head.to_json()
        return data

    @classmethod
    def from_json(cls, data: object, source: str) -> TrainingReport:
        fields = Fields(data, source, ReportError)
        try:
            fine_tuning = FineTuning.optional(fields, "fine_tuning")
        except ValueError as exc:
            raise ReportError(f"{source}: {exc}") from None
        entities = None
        if fields.has("entities"):
            entities = EntitySection.from_json(fields.section("entities"))
        head = HeadChoice.optional(fields, "head")
        labels = LabelMetrics.from_json(fields)
        return fields.build(
            cls, labels=labels, fine_tuning=fine_tuning, entities=entities, head=head
        )

    @classmethod
    def read(cls, path: Path) -> TrainingReport:
        return cls.from_json(read_json(path, ReportError), str(path))


def read_json(path: Path, error: type[ArtifactError]) -> object:
    """A JSON file's content; `error` naming the file when it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} cannot be read: {exc}") from None


def argmax_answers(cal: Calibration) -> np.ndarray:
    """The head's best label per calibration text (indices)."""
    probs = cal.probs
    return probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)


def build_report(
    cal: Calibration,
    texts: Sequence[str],
    thresholds: Thresholds,
    cost: ScopeCounts,
    unfamiliar_sigmas: float,
    fine_tuning: FineTuning | None = None,
    entities: EntitySection | None = None,
    head: HeadChoice | None = None,
) -> TrainingReport:
    """The report of a training run: metrics on the calibration texts (and the entity
    head's held-out measurement, for a bot with entity annotations)."""
    return TrainingReport(
        validation_examples=len(cal.truth),
        validation_method=cal.method,
        labels=label_metrics(cal.truth, argmax_answers(cal), cal.labels, texts),
        thresholds=ThresholdsSection.of(thresholds, cost),
        familiarity=FamiliaritySection.of(cal, thresholds),
        operating_points=tuple(budget_table(cal, BUDGETS, unfamiliar_sigmas)),
        fine_tuning=fine_tuning,
        entities=entities,
        head=head,
    )


def intents_needing_examples(report: TrainingReport) -> list[str]:
    """Why each intent that needs more (varied) examples does, most urgent first: the
    decision turns away many of its own examples, or the head gets few of them right."""
    recall = {row.intent: row.recall for row in report.labels.intents if row.support}
    needs: list[tuple[float, str]] = []
    for row in report.familiarity.per_intent:
        if row.turned_away >= 2 and row.share >= NEEDS_TURNED_AWAY:
            words = f"{row.intent} ({row.turned_away} of {row.answered_right} turned away)"
            needs.append((-row.share, words))
        elif recall.get(row.intent, 1.0) < NEEDS_RECALL:
            low = recall[row.intent]
            needs.append((low - 1.0, f"{row.intent} (recall {low:.2f})"))
    return [words for _, words in sorted(needs)]
