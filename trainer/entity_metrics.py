"""Entity spans scored against the truth, as seqeval counts them: an entity is right when a
predicted span has exactly its start, end and type. Precision, recall and F1 per entity type
and micro-averaged over every span, and each wrong span with its example's file:line.

One definition for the training report, `intent-train evaluate` and the benchmark (a
module every trainer layer may import, like `metrics`). Roles, groups and values are not
part of the match (seqeval's tags carry only the type); `value` is what synonyms change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from intent_server.core.entities.spans import EntitySpan
from intent_server.core.fields import Fields, JsonObject
from trainer.markdown import markdown_table

MISSED = "missed"  # a true span no prediction overlaps
SPURIOUS = "spurious"  # a predicted span that overlaps no true one
WRONG_TYPE = "wrong_type"  # the same characters, another type
WRONG_BOUNDARY = "wrong_boundary"  # overlapping, not the same characters (type may differ too)
WRONG_SHOWN = 20  # wrong spans in the markdown list


class Annotated(Protocol):
    """An example with its true spans (`trainer.data.Example` is one)."""

    @property
    def text(self) -> str: ...
    @property
    def entities(self) -> tuple[EntitySpan, ...]: ...
    @property
    def source(self) -> Path | None: ...
    @property
    def line(self) -> int | None: ...


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass(frozen=True)
class EntityTypeScores:
    """One entity type's scores (0.0 where undefined, as seqeval's zero_division)."""

    entity: str
    precision: float
    recall: float
    f1: float
    support: int  # true spans of this type
    predicted: int  # predicted spans of this type
    correct: int

    @classmethod
    def of(cls, entity: str, support: int, predicted: int, correct: int) -> EntityTypeScores:
        precision, recall = _ratio(correct, predicted), _ratio(correct, support)
        return cls(entity, precision, recall, _f1(precision, recall), support, predicted, correct)

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> EntityTypeScores:
        return fields.build(cls)


@dataclass(frozen=True)
class SpanShown:
    """A span as a report shows it: its type, offsets and the characters it covers."""

    entity: str
    start: int
    end: int
    text: str

    @classmethod
    def of(cls, span: EntitySpan, text: str) -> SpanShown:
        return cls(span.entity, span.start, span.end, text[span.start : span.end])

    def __str__(self) -> str:
        return f"[{self.text}]({self.entity})"

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> SpanShown:
        return fields.build(cls)


@dataclass(frozen=True)
class WrongSpan:
    """A true span not found exactly, or a predicted span that is not true, in one example."""

    kind: str  # MISSED, SPURIOUS, WRONG_TYPE or WRONG_BOUNDARY
    example: str  # the example's text
    source: str  # its file ("" when unknown)
    line: int  # its line (0 when unknown)
    truth: SpanShown | None
    predicted: SpanShown | None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source else ""

    def to_json(self) -> JsonObject:
        parts = {"truth": self.truth, "predicted": self.predicted}
        shown = {key: span.to_json() if span else None for key, span in parts.items()}
        return {**asdict(self), **shown}

    @classmethod
    def from_json(cls, fields: Fields) -> WrongSpan:
        def span(key: str) -> SpanShown | None:
            return SpanShown.from_json(fields.section(key)) if fields.raw(key) is not None else None

        return fields.build(cls, truth=span("truth"), predicted=span("predicted"))


@dataclass(frozen=True)
class EntityScores:
    """Micro-averaged scores over every span, per-type scores (by name) and the wrong spans."""

    precision: float
    recall: float
    f1: float
    support: int  # true spans
    predicted: int
    correct: int
    types: tuple[EntityTypeScores, ...]
    wrong: tuple[WrongSpan, ...]

    def to_json(self) -> JsonObject:
        return {
            **{key: value for key, value in asdict(self).items() if key not in ("types", "wrong")},
            "types": [row.to_json() for row in self.types],
            "wrong": [span.to_json() for span in self.wrong],
        }

    @classmethod
    def from_json(cls, fields: Fields) -> EntityScores:
        return fields.build(cls)


class Span(Protocol):
    """Anything with a start, an end and a type (true spans and extracted entities alike)."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def entity(self) -> str: ...


def _key(span: Span) -> tuple[int, int, str]:
    return (span.start, span.end, span.entity)


def micro_f1(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> float:
    """Micro F1 of exact spans alone (no per-type rows, no wrong spans): the fine-tuning
    comparison scores many candidate heads with it."""
    correct = found = support = 0
    for mine, theirs in zip(predicted, gold, strict=True):
        guess, truth = {_key(s) for s in mine}, {_key(s) for s in theirs}
        correct, found, support = (
            correct + len(guess & truth),
            found + len(guess),
            support + len(truth),
        )
    return EntityTypeScores.of("", support, found, correct).f1


def score_entities(
    examples: Sequence[Annotated], predicted: Sequence[Sequence[EntitySpan]]
) -> EntityScores:
    """Score `predicted[i]` against `examples[i].entities` (spans into `examples[i].text`)."""
    if len(examples) != len(predicted):
        raise ValueError(f"{len(examples)} examples but {len(predicted)} predictions")
    support: Counter[str] = Counter()
    found: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    wrong: list[WrongSpan] = []
    for example, answer in zip(examples, predicted, strict=True):
        truth = {_key(span): span for span in example.entities}
        guess = {_key(span): span for span in answer}
        support.update(key[2] for key in truth)
        found.update(key[2] for key in guess)
        correct.update(key[2] for key in truth.keys() & guess.keys())
        missed = [truth[key] for key in sorted(truth.keys() - guess.keys())]
        extra = [guess[key] for key in sorted(guess.keys() - truth.keys())]
        wrong += _wrong_spans(example, missed, extra)
    rows = tuple(
        EntityTypeScores.of(name, support[name], found[name], correct[name])
        for name in sorted(support.keys() | found.keys())
    )
    total = EntityTypeScores.of(
        "", sum(support.values()), sum(found.values()), sum(correct.values())
    )
    return EntityScores(
        total.precision, total.recall, total.f1, total.support, total.predicted, total.correct,
        rows, tuple(wrong),
    )  # fmt: skip


def _wrong_spans(
    example: Annotated, missed: list[EntitySpan], extra: list[EntitySpan]
) -> list[WrongSpan]:
    """Pair each missed true span with the unmatched prediction overlapping it most."""
    text = example.text
    source = str(example.source) if example.source is not None else ""
    line = example.line or 0
    left = list(extra)
    result = []
    for true in missed:
        overlaps = [(min(true.end, p.end) - max(true.start, p.start), p) for p in left]
        overlaps = [(size, p) for size, p in overlaps if size > 0]
        if not overlaps:
            result.append(WrongSpan(MISSED, text, source, line, SpanShown.of(true, text), None))
            continue
        _, guess = max(overlaps, key=lambda pair: pair[0])
        left.remove(guess)
        same = (guess.start, guess.end) == (true.start, true.end)
        kind = WRONG_TYPE if same else WRONG_BOUNDARY
        shown = SpanShown.of(true, text), SpanShown.of(guess, text)
        result.append(WrongSpan(kind, text, source, line, *shown))
    for guess in left:
        result.append(WrongSpan(SPURIOUS, text, source, line, None, SpanShown.of(guess, text)))
    return result


def entity_table_markdown(scores: EntityScores) -> list[str]:
    """Per-type precision, recall, F1 and counts, then the micro average."""
    rows: list[list[object]] = [
        [row.entity, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}", row.support,
         row.predicted]
        for row in scores.types
    ]  # fmt: skip
    rows.append(
        ["**micro average**", f"{scores.precision:.3f}", f"{scores.recall:.3f}",
         f"{scores.f1:.3f}", scores.support, scores.predicted]
    )  # fmt: skip
    headers = "entity | precision | recall | F1 | true spans | predicted spans"
    return markdown_table(headers, rows, ["left", "right", "right", "right", "right", "right"])


def wrong_spans_markdown(scores: EntityScores, limit: int = WRONG_SHOWN) -> list[str]:
    """The first `limit` wrong spans: where, what kind, the truth and the prediction."""
    rows = [
        [
            span.where,
            span.kind.replace("_", " "),
            span.example,
            span.truth or "",
            span.predicted or "",
        ]
        for span in scores.wrong[:limit]
    ]
    lines = markdown_table("where | what | example | truth | predicted", rows)
    hidden = len(scores.wrong) - limit
    return lines + (["", f"... and {hidden} more in report.json"] if hidden > 0 else [])
