"""The evaluation report (report.json of `intent-train evaluate`): `EvaluationReport` and its
parts, built from the server's answers, written and read back by the same code.

The label metrics (accuracy, macro-F1, per-intent rows, confused pairs) and the out-of-scope
figures are `trainer.metrics`', computed on the server's answers: an `out_of_scope` example
is answered right when the answer is out of scope, and an example of an intent the model
does not know is always answered wrong. `report_text` renders it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Thresholds
from intent_server.core.entities.spans import EntitySpan
from intent_server.core.exports import LoadedExport
from intent_server.core.fields import Fields, JsonObject
from trainer.data import TrainingData
from trainer.entity_metrics import EntityScores, score_entities
from trainer.evaluation.scoring import Answers
from trainer.metrics import LabelMetrics, as_indices, label_metrics, scope_counts
from trainer.training.report import ReportError, read_json


def unknown_intents(data: TrainingData, labels: Sequence[str]) -> dict[str, int]:
    """Intents of the test data the model cannot answer, with their example counts."""
    known = {*labels, OUT_OF_SCOPE}
    return {intent: n for intent, n in data.counts().items() if intent not in known}


def label_indices(
    truth: Sequence[str], answers: Sequence[str], model_labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Truth and answers as indices into the model's labels, then out_of_scope (when the
    model has no such class), then the unknown intents."""
    labels = [*model_labels, *([OUT_OF_SCOPE] if OUT_OF_SCOPE not in model_labels else [])]
    return as_indices(answers, truth, labels)


@dataclass(frozen=True)
class ScopeSection:
    """In-scope accuracy (with and without the thresholds) and the out-of-scope figures;
    None where there is nothing to count."""

    inscope_examples: int
    inscope_accuracy: float | None
    inscope_accuracy_without_thresholds: float | None
    correct_inscope_rejected: int  # right by the head alone, turned out of scope
    oos_examples: int
    oos_recall: float | None
    oos_precision: float | None  # None: nothing was answered out of scope
    out_of_scope_answers: dict[str, int]  # by reason, most frequent first

    @classmethod
    def of(cls, truth: Sequence[str], got: Answers) -> ScopeSection:
        counts = scope_counts(truth, got.answers(), got.head_answers())
        reasons = Counter(d.reason.name for d in got.decisions if d.out_of_scope)
        return cls(
            inscope_examples=counts.inscope_total,
            inscope_accuracy=counts.inscope_accuracy,
            inscope_accuracy_without_thresholds=counts.inscope_accuracy_raw,
            correct_inscope_rejected=counts.rejected_correct,
            oos_examples=counts.oos_total,
            oos_recall=counts.oos_recall,
            oos_precision=counts.oos_precision,
            out_of_scope_answers=dict(reasons.most_common()),
        )

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> ScopeSection:
        return fields.build(cls)


@dataclass(frozen=True)
class WrongAnswer:
    text: str
    intent: str  # the truth
    answer: str
    reason: str  # the decision's reason (NONE: an intent was answered)
    confidence: float
    where: str  # FILE:LINE of the example

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> WrongAnswer:
        return fields.build(cls)


def wrong_answers(data: TrainingData, got: Answers) -> tuple[WrongAnswer, ...]:
    return tuple(
        WrongAnswer(
            text=example.text,
            intent=example.intent,
            answer=decision.label,
            reason=decision.reason.name,
            confidence=decision.confidence,
            where=f"{example.source}:{example.line}",
        )
        for example, decision in zip(data.examples, got.decisions, strict=True)
        if decision.label != example.intent
    )


@dataclass(frozen=True)
class EvaluationReport:
    """An export's answers to a labelled file, scored. `labels.intents` holds the intents
    the file tests or the model answered, not every label."""

    model: str
    version: str
    model_version: str  # the trained model's version the export was made from
    export: str  # the version folder
    encoder_variant: str
    data: tuple[str, ...]  # the data files
    examples: int
    labels: LabelMetrics
    scope: ScopeSection
    unknown_intents: dict[str, int]
    truncated: int  # texts longer than the encoder's token limit
    thresholds: Thresholds
    wrong: tuple[WrongAnswer, ...]  # every wrong answer, in file order
    min_accuracy: float | None
    # The entities the export answered, scored against the data's annotations (None: the
    # data annotates none, or the export has no entity head).
    entities: EntityScores | None = None
    min_entity_f1: float | None = None

    @property
    def passed(self) -> bool | None:
        """Accuracy against `--min-accuracy` (None without it)."""
        return None if self.min_accuracy is None else self.labels.accuracy >= self.min_accuracy

    @property
    def entity_passed(self) -> bool | None:
        """Entity micro F1 against `--min-entity-f1` (None without it or without scores)."""
        if self.min_entity_f1 is None or self.entities is None:
            return None
        return self.entities.f1 >= self.min_entity_f1

    def to_json(self) -> JsonObject:
        return {
            "model": self.model,
            "version": self.version,
            "model_version": self.model_version,
            "export": self.export,
            "encoder_variant": self.encoder_variant,
            "data": list(self.data),
            "examples": self.examples,
            **self.labels.to_json(),
            **self.scope.to_json(),
            "unknown_intents": dict(self.unknown_intents),
            "truncated": self.truncated,
            "thresholds": self.thresholds.to_json(),
            "wrong": [row.to_json() for row in self.wrong],
            "min_accuracy": self.min_accuracy,
            "passed": self.passed,
            "entities": None if self.entities is None else self.entities.to_json(),
            "min_entity_f1": self.min_entity_f1,
            "entity_passed": self.entity_passed,
        }

    @classmethod
    def from_json(cls, data: object, source: str) -> EvaluationReport:
        """A report.json read back (one written before entities were scored has none)."""
        fields = Fields(data, source, ReportError)
        has = fields.has("entities") and fields.raw("entities") is not None
        return fields.build(
            cls,
            labels=LabelMetrics.from_json(fields),
            scope=ScopeSection.from_json(fields),
            entities=EntityScores.from_json(fields.section("entities")) if has else None,
            min_entity_f1=fields.optional_number("min_entity_f1")
            if fields.has("min_entity_f1")
            else None,
        )

    @classmethod
    def read(cls, path: Path) -> EvaluationReport:
        return cls.from_json(read_json(path, ReportError), str(path))


def has_annotations(data: TrainingData) -> bool:
    return any(example.entities for example in data.examples)


def entity_scores(data: TrainingData, got: Answers) -> EntityScores | None:
    """The answered entities against the data's annotations, as seqeval counts (None: no
    annotations in the data, or no entity head in the export)."""
    if got.entities is None or not has_annotations(data):
        return None
    spans = [[EntitySpan(e.start, e.end, e.entity, e.value) for e in row] for row in got.entities]
    return score_entities(data.examples, spans)


def build_evaluation(
    loaded: LoadedExport,
    data: TrainingData,
    got: Answers,
    min_accuracy: float | None,
    min_entity_f1: float | None = None,
) -> EvaluationReport:
    """The report of `got`, the export's answers to `data`."""
    truth, answers = data.intents(), got.answers()
    y_true, y_pred, labels = label_indices(truth, answers, loaded.labels)
    metrics = label_metrics(y_true, y_pred, labels, data.texts())
    answered = set(answers)
    shown = tuple(r for r in metrics.intents if r.support or r.intent in answered)
    return EvaluationReport(
        model=loaded.name,
        version=loaded.version,
        model_version=loaded.manifest.model_version,
        export=str(loaded.path),
        encoder_variant=loaded.encoder_variant,
        data=tuple(str(source) for source in data.sources),
        examples=len(truth),
        labels=replace(metrics, intents=shown),
        scope=ScopeSection.of(truth, got),
        unknown_intents=unknown_intents(data, loaded.labels),
        truncated=got.truncated,
        thresholds=loaded.thresholds,
        wrong=wrong_answers(data, got),
        min_accuracy=min_accuracy,
        entities=entity_scores(data, got),
        min_entity_f1=min_entity_f1,
    )
