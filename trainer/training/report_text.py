"""The training report's files (report.json, report.md, confusion.png, familiarity.png) and
its console summary, from a `TrainingReport`.

`label_summary_lines` and `label_tables_markdown` render `LabelMetrics`; the evaluation
report shows its label metrics with them too.
"""

from __future__ import annotations

from pathlib import Path

from intent_server.core.files import atomic_write, write_json
from trainer.calibration.thresholds import Calibration, OperatingPoint
from trainer.entity_metrics import EntityScores, entity_table_markdown, wrong_spans_markdown
from trainer.markdown import markdown_table
from trainer.metrics import LabelMetrics
from trainer.training.confusion_plot import plot_confusion
from trainer.training.familiarity_plot import plot_familiarity
from trainer.training.report import (
    EntitySection,
    FamiliaritySection,
    TrainingReport,
    argmax_answers,
    intents_needing_examples,
)

PAIRS_SHOWN = 5  # confused pairs in the console summary
PAIRS_LISTED = 20  # ... in report.md


def _threshold_words(report: TrainingReport) -> str:
    th, floor = report.thresholds, report.familiarity.threshold
    words = f"confidence {th.confidence:.2f}, margin {th.margin:.2f}"
    return words + (f", familiarity {floor:.3f}" if floor is not None else "")


def summary_text(report: TrainingReport) -> str:
    """The short table printed at the end of training."""
    th, labels = report.thresholds, report.labels
    lines = [
        f"validation examples   {report.validation_examples} ({report.validation_method})",
        f"accuracy              {labels.accuracy:.2%}",
        f"macro-F1              {labels.macro_f1:.2%}",
        *([f"head                  {report.head.summary()}"] if report.head else []),
        f"thresholds            {_threshold_words(report)}: "
        f"reject {th.correct_inscope_rejected} of {th.inscope_validation_examples} "
        "in-scope validation examples answered correctly"
        + (f"; OOS recall {th.oos_recall:.1%}" if th.oos_recall is not None else ""),
    ]
    needs = intents_needing_examples(report)
    if needs:
        lines.append("add examples to        " + ", ".join(needs))
    if report.entities is not None:
        lines.append(f"entities (held-out)   {_entity_words(report.entities)}")
    return "\n".join(lines + label_summary_lines(labels))


def entity_score_words(scores: EntityScores) -> str:
    """Micro F1, precision and recall in one line, with the worst entity types."""
    worst = sorted((row for row in scores.types if row.support), key=lambda row: row.f1)[:3]
    words = (
        f"F1 {scores.f1:.2%} (precision {scores.precision:.2%}, recall {scores.recall:.2%}) "
        f"on {scores.support} spans"
    )
    if worst and worst[0].f1 < 1.0:
        words += "; worst " + ", ".join(f"{row.entity} {row.f1:.2f}" for row in worst)
    return words


def _entity_words(section: EntitySection) -> str:
    if section.scores is None and section.tuned_f1 is not None:
        return (
            f"F1 {section.tuned_f1:.2%} on {section.tuned_spans} spans the fine-tuning "
            "comparison held out"
        )
    if section.scores is None:
        return (
            f"not measured: {section.annotated_examples} annotated examples are too few to "
            "hold a fifth out"
        )
    return f"{section.held_out_examples} examples: {entity_score_words(section.scores)}"


def label_summary_lines(metrics: LabelMetrics) -> list[str]:
    """The console lines of label metrics: the worst intents and the most confused pairs."""
    lines = []
    if metrics.worst_intents:
        lines.append(
            "worst intents (F1)    "
            + ", ".join(f"{r.intent} {r.f1:.2f}" for r in metrics.worst_intents)
        )
    for pair in metrics.confusions[:PAIRS_SHOWN]:
        lines.append(
            f'confused              {pair.true} -> {pair.predicted} x{pair.count}: "{pair.example}"'
        )
    return lines


def markdown(report: TrainingReport, name: str, version: str) -> str:
    """report.md."""
    th, labels = report.thresholds, report.labels
    out = [
        f"# Training report: {name} {version}",
        "",
        f"Validation: {report.validation_examples} examples, {report.validation_method}. "
        f"Accuracy {labels.accuracy:.2%}, macro-F1 {labels.macro_f1:.2%} (argmax, "
        "no thresholds).",
        *(
            ["", f"Encoder: {report.fine_tuning.summary()}."]
            if report.fine_tuning is not None
            else []
        ),
        *(["", f"Head: {report.head.summary()}."] if report.head is not None else []),
        "",
        "## Out-of-scope thresholds",
        "",
        f"{_threshold_words(report)}.",
        f"Rule: {th.rule}.",
        "",
        f"Cost: {th.correct_inscope_rejected} of {th.inscope_validation_examples} in-scope "
        "validation examples that argmax answers correctly are turned into out_of_scope.",
    ]
    if th.oos_recall is not None:
        out.append(
            f"OOS recall on validation: {th.oos_recall:.1%} "
            f"({th.oos_validation_examples} examples)."
        )
    out += _operating_points_markdown(report.operating_points)
    out += _familiarity_markdown(report.familiarity)
    out += _per_intent_markdown(report)
    out += _entities_markdown(report.entities)
    return "\n".join(out + label_tables_markdown(labels))


def _entities_markdown(section: EntitySection | None) -> list[str]:
    if section is None:
        return []
    head = ["", "## Entities", ""]
    if section.scores is None and section.tuned_f1 is not None:
        return [
            *head,
            f"The head was trained on the fine-tuned encoder (`--fine-tune`) and the "
            f"{section.annotated_examples} annotated examples. Fine-tuning scored it on "
            f"{section.tuned_spans} spans of examples it did not train on: slot F1 "
            f"{section.tuned_f1:.2%} (exact span and type, micro-averaged).",
        ]
    if section.scores is None:
        count = section.annotated_examples
        return [*head, f"{count} annotated examples: too few to hold a fifth out and measure."]
    scores = section.scores
    return [
        *head,
        f"A head trained without {section.held_out_examples} of the "
        f"{section.annotated_examples} annotated examples (a fifth, drawn with the seed), "
        "scored on them: a span is right when its start, end and entity type are all right, "
        "as seqeval counts; precision, recall and F1 per entity type and micro-averaged over "
        f"every span (F1 {scores.f1:.2%}). The head the model keeps is then trained on every "
        "example.",
        "",
        *entity_table_markdown(scores),
        *(["", "### Wrong spans", "", *wrong_spans_markdown(scores)] if scores.wrong else []),
    ]


def _per_intent_markdown(report: TrainingReport) -> list[str]:
    rows = report.familiarity.per_intent
    if not rows or not any(row.turned_away for row in rows):
        return []
    needs = intents_needing_examples(report)
    advice = (
        ["", "Intents that need more varied examples: " + ", ".join(needs) + "."] if needs else []
    )
    worst_first = sorted(rows, key=lambda row: (-row.share, row.intent))
    table = markdown_table(
        "intent | answered right | turned away | share",
        [
            (row.intent, row.answered_right, row.turned_away, f"{row.share:.1%}")
            for row in worst_first
            if row.turned_away
        ],
    )
    return [
        "",
        "## Real requests turned away, per intent",
        "",
        "Of each intent's own examples that the head answers right (each scored by a model "
        "that did not learn it), how many the out-of-scope rule turns away: what real "
        "messages of that intent can expect. Intents not listed lose none.",
        *advice,
        "",
        *table,
    ]


def label_tables_markdown(metrics: LabelMetrics) -> list[str]:
    """The markdown of label metrics: confused pairs, per-intent table, confusion.png."""
    pairs = markdown_table(
        "true | predicted | count | example",
        [(p.true, p.predicted, p.count, p.example) for p in metrics.confusions[:PAIRS_LISTED]],
    )
    intents = markdown_table(
        "intent | precision | recall | F1 | support",
        [
            (r.intent, f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}", r.support)
            for r in metrics.intents
        ],
    )
    return [
        *("", "## Most confused pairs", ""),
        *pairs,
        *("", "## Per intent", ""),
        *intents,
        *("", "![confusion matrix](confusion.png)", ""),
    ]


def _operating_points_markdown(rows: tuple[OperatingPoint, ...]) -> list[str]:
    if not rows:
        return []
    table = markdown_table(
        "max in-scope loss | confidence | margin | familiarity | in-scope accuracy | OOS recall",
        [
            (
                f"{row.max_inscope_loss:.3f}",
                f"{row.confidence:.2f}",
                f"{row.margin:.2f}",
                "off" if row.familiarity is None else f"{row.familiarity:.3f}",
                f"{row.inscope_accuracy:.1%}",
                f"{row.oos_recall:.1%}",
            )
            for row in rows
        ],
    )
    return [
        "",
        "Other operating points (`intent-train --max-inscope-loss`), on the same texts:",
        "",
        *table,
    ]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _familiarity_markdown(section: FamiliaritySection) -> list[str]:
    if not section.tradeoff:
        return []
    table = markdown_table(
        "sigmas | floor | correct in-scope turned away | out_of_scope caught",
        [
            (
                row.sigmas,
                f"{row.familiarity:.3f}",
                _share(row.inscope_turned_away),
                _share(row.oos_caught),
            )
            for row in section.tradeoff
        ],
    )
    return [
        "",
        "## Familiarity",
        "",
        "A message's familiarity is its best cosine to a training example (adjusted for how "
        "close that example's own neighbours are; without out_of_scope examples, the mean "
        "of its two best cosines to examples of the intent it is answered with, plus a "
        "share of the head's confidence). Below are the "
        f"in-scope examples' scores (mean {section.inscope_mean:.3f}, standard deviation "
        f"{section.inscope_std:.3f}) and what other floors would cost "
        "(`intent-train --unfamiliar-sigmas`):",
        "",
        *table,
        "",
        "![familiarity](familiarity.png)",
    ]


def write_report(
    folder: Path, report: TrainingReport, cal: Calibration, name: str, version: str
) -> None:
    """report.json, report.md and the two plots of the calibration texts in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report.to_json())
    atomic_write(folder / "report.md", markdown(report, name, version))
    plot_confusion(folder / "confusion.png", cal.truth, argmax_answers(cal), cal.labels)
    if len(cal.truth):
        threshold = report.familiarity.threshold
        plot_familiarity(folder / "familiarity.png", cal.familiarity, cal.is_oos, threshold)
