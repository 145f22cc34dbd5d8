"""The evaluation's files (report.json, report.md, confusion.png) and its console summary,
from an `EvaluationReport`; the label metrics shown as the training report shows them."""

from __future__ import annotations

from pathlib import Path

from intent_server.core.files import atomic_write, write_json
from trainer.data import TrainingData
from trainer.entity_metrics import EntityScores, entity_table_markdown, wrong_spans_markdown
from trainer.evaluation.report import EvaluationReport, WrongAnswer, label_indices
from trainer.evaluation.scoring import Answers
from trainer.markdown import markdown_table
from trainer.training.confusion_plot import plot_confusion
from trainer.training.report_text import (
    entity_score_words,
    label_summary_lines,
    label_tables_markdown,
)

WRONG_SHOWN = 50  # wrong answers listed in report.md (report.json has all of them)


def _of(value: float | None, count: int) -> str:
    return "-" if value is None else f"{value:.2%} of {count}"


def scope_lines(report: EvaluationReport) -> list[str]:
    """In-scope accuracy and OOS recall, in the console's layout."""
    scope = report.scope
    lines = [
        f"in-scope accuracy     {_of(scope.inscope_accuracy, scope.inscope_examples)}"
        + (
            f" (head alone {scope.inscope_accuracy_without_thresholds:.2%}; the thresholds "
            f"turned {scope.correct_inscope_rejected} right answers out of scope)"
            if scope.inscope_accuracy is not None
            else ""
        )
    ]
    if scope.oos_recall is not None:
        precision = scope.oos_precision
        lines.append(
            f"OOS recall            {_of(scope.oos_recall, scope.oos_examples)}"
            + (f" (precision {precision:.2%})" if precision is not None else "")
        )
    return lines


def summary_text(report: EvaluationReport) -> str:
    """The short table printed after an evaluation."""
    lines = [
        f"model                 {report.model} {report.version} ({report.encoder_variant} encoder)",
        f"examples              {report.examples} ({', '.join(report.data)})",
        f"accuracy              {report.labels.accuracy:.2%}",
        f"macro-F1              {report.labels.macro_f1:.2%}",
        *scope_lines(report),
    ]
    if report.entities is not None:
        lines.append(f"entities              {entity_score_words(report.entities)}")
    if report.unknown_intents:
        unknown = ", ".join(f"{name} ({n})" for name, n in report.unknown_intents.items())
        lines.append(f"unknown intents       {unknown}: always wrong")
    return "\n".join(lines + label_summary_lines(report.labels))


def markdown(report: EvaluationReport) -> str:
    """report.md."""
    th = report.thresholds
    floor = "off" if th.familiarity is None else f"{th.familiarity:.3f}"
    reasons = report.scope.out_of_scope_answers
    said = ", ".join(f"{k} {v}" for k, v in reasons.items()) or "none"
    out = [
        f"# Evaluation: {report.model} {report.version}",
        "",
        f"Export `{report.export}` ({report.encoder_variant} encoder) on "
        f"{', '.join(f'`{d}`' for d in report.data)}: {report.examples} examples, answered "
        f"as the server answers (thresholds: confidence {th.confidence:.2f}, margin "
        f"{th.margin:.2f}, familiarity {floor}). An `out_of_scope` example is right when "
        "the answer is out of scope.",
        "",
        f"Accuracy {report.labels.accuracy:.2%}, macro-F1 {report.labels.macro_f1:.2%}.",
        "",
        "```",
        *scope_lines(report),
        f"out-of-scope answers  {said}",
        "```",
    ]
    if report.unknown_intents:
        unknown = ", ".join(f"`{k}` ({v})" for k, v in report.unknown_intents.items())
        out += ["", f"Intents the model does not know (always wrong): {unknown}."]
    if report.min_accuracy is not None:
        verdict = "passed" if report.passed else "FAILED"
        out += ["", f"`--min-accuracy {report.min_accuracy}`: {verdict}."]
    if report.min_entity_f1 is not None:
        verdict = "passed" if report.entity_passed else "FAILED"
        out += ["", f"`--min-entity-f1 {report.min_entity_f1}`: {verdict}."]
    out += _wrong_markdown(report.wrong)
    if report.entities is not None:
        out += _entities_markdown(report.entities)
    return "\n".join(out + label_tables_markdown(report.labels))


def _entities_markdown(scores: EntityScores) -> list[str]:
    """The entities answered against the file's annotations, and the wrong spans."""
    return [
        "",
        "## Entities",
        "",
        "The entities the export answers against the file's annotations: a span is right when "
        "its start, end and entity type are all right, as seqeval counts; precision, recall "
        f"and F1 per entity type and micro-averaged over every span (F1 {scores.f1:.2%}).",
        "",
        *entity_table_markdown(scores),
        *(["", "### Wrong spans", "", *wrong_spans_markdown(scores)] if scores.wrong else []),
    ]


def _wrong_markdown(wrong: tuple[WrongAnswer, ...]) -> list[str]:
    if not wrong:
        return []
    shown = f" (the first {WRONG_SHOWN}; report.json has all)" if len(wrong) > WRONG_SHOWN else ""
    table = markdown_table(
        "text | intent | answer | reason | where",
        [(w.text, w.intent, w.answer, w.reason, w.where) for w in wrong[:WRONG_SHOWN]],
    )
    return ["", f"## Wrong answers{shown}", "", *table]


def write_evaluation(
    folder: Path, report: EvaluationReport, data: TrainingData, got: Answers
) -> None:
    """report.json, report.md and confusion.png in `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report.to_json())
    atomic_write(folder / "report.md", markdown(report))
    y_true, y_pred, labels = label_indices(data.intents(), got.answers(), got.labels)
    plot_confusion(folder / "confusion.png", y_true, y_pred, labels)
