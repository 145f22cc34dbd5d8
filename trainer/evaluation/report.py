"""The evaluation report: report.json, report.md, confusion.png and the console summary.

The label metrics (accuracy, macro-F1, per-intent table, confused pairs) and their tables
are the training report's (`trainer.training.report`), computed on the server's answers:
an `out_of_scope` example is answered right when the answer is out of scope, and an
example of an intent the model does not know is always answered wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE
from intent_server.core.exports import LoadedExport
from intent_server.core.files import atomic_write, write_json
from trainer.data import TrainingData
from trainer.evaluation.scoring import Answers, oos_scores
from trainer.training.confusion_plot import plot_confusion
from trainer.training.report import label_metrics, label_summary_lines, label_tables_markdown

WRONG_SHOWN = 50  # wrong answers listed in report.md (report.json has all of them)


def unknown_intents(data: TrainingData, labels: Sequence[str]) -> dict[str, int]:
    """Intents of the test data the model cannot answer, with their example counts."""
    known = {*labels, OUT_OF_SCOPE}
    return {intent: n for intent, n in data.counts().items() if intent not in known}


def _indices(
    truth: Sequence[str], answers: Sequence[str], model_labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Truth and answers as indices into the model's labels, then out_of_scope (when the
    model has no such class), then the unknown intents."""
    labels = list(model_labels)
    labels += [OUT_OF_SCOPE] if OUT_OF_SCOPE not in labels else []
    labels += sorted(set(truth) - set(labels))
    index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([index[name] for name in truth], dtype=np.int64)
    return y_true, np.array([index[name] for name in answers], dtype=np.int64), labels


def _wrong(data: TrainingData, got: Answers) -> list[dict[str, Any]]:
    return [
        {
            "text": example.text,
            "intent": example.intent,
            "answer": decision.label,
            "reason": decision.reason.name,
            "confidence": decision.confidence,
            "where": f"{example.source}:{example.line}",
        }
        for example, decision in zip(data.examples, got.decisions, strict=True)
        if decision.label != example.intent
    ]


def _scope(truth: list[str], got: Answers) -> dict[str, Any]:
    """In-scope accuracy (with and without the thresholds) and out-of-scope recall."""
    answers, head = got.answers(), got.head_answers()
    scores = oos_scores(answers, truth)
    inscope = [i for i, t in enumerate(truth) if t != OUT_OF_SCOPE]
    oos_total = len(truth) - len(inscope)
    head_right = [i for i in inscope if head[i] == truth[i]]
    return {
        "inscope_examples": len(inscope),
        "inscope_accuracy": scores.inscope_accuracy if inscope else None,
        "inscope_accuracy_without_thresholds": len(head_right) / len(inscope) if inscope else None,
        "correct_inscope_rejected": sum(answers[i] == OUT_OF_SCOPE for i in head_right),
        "oos_examples": oos_total,
        "oos_recall": scores.oos_recall if oos_total else None,
        "oos_precision": scores.oos_precision if OUT_OF_SCOPE in answers else None,
        "out_of_scope_answers": dict(
            Counter(d.reason.name for d in got.decisions if d.out_of_scope).most_common()
        ),
    }


def build_evaluation(
    loaded: LoadedExport, data: TrainingData, got: Answers, min_accuracy: float | None
) -> dict[str, Any]:
    """The report.json content."""
    truth = data.intents()
    y_true, y_pred, labels = _indices(truth, got.answers(), loaded.labels)
    report: dict[str, Any] = {
        "model": loaded.name,
        "version": loaded.version,
        "model_version": loaded.manifest.model_version,
        "export": str(loaded.path),
        "encoder_variant": loaded.encoder_variant,
        "data": [str(source) for source in data.sources],
        "examples": len(truth),
        **label_metrics(y_true, y_pred, labels, data.texts()),
        **_scope(truth, got),
        "unknown_intents": unknown_intents(data, loaded.labels),
        "truncated": got.truncated,
        "thresholds": loaded.thresholds.to_json(),
        "wrong": _wrong(data, got),
        "min_accuracy": min_accuracy,
    }
    # Per-intent rows of the intents the file tests or the model answered, not every label.
    answered = set(got.answers())
    report["intents"] = [r for r in report["intents"] if r["support"] or r["intent"] in answered]
    report["passed"] = None if min_accuracy is None else report["accuracy"] >= min_accuracy
    return report


def _of(value: float | None, count: int) -> str:
    return "-" if value is None else f"{value:.2%} of {count}"


def scope_lines(report: dict[str, Any]) -> list[str]:
    """In-scope accuracy and OOS recall, in the console's layout."""
    lines = [
        f"in-scope accuracy     {_of(report['inscope_accuracy'], report['inscope_examples'])}"
        + (
            f" (head alone {report['inscope_accuracy_without_thresholds']:.2%}; the thresholds "
            f"turned {report['correct_inscope_rejected']} right answers out of scope)"
            if report["inscope_accuracy"] is not None
            else ""
        )
    ]
    if report["oos_recall"] is not None:
        precision = report["oos_precision"]
        lines.append(
            f"OOS recall            {_of(report['oos_recall'], report['oos_examples'])}"
            + (f" (precision {precision:.2%})" if precision is not None else "")
        )
    return lines


def summary_text(report: dict[str, Any]) -> str:
    """The short table printed after an evaluation."""
    lines = [
        f"model                 {report['model']} {report['version']} "
        f"({report['encoder_variant']} encoder)",
        f"examples              {report['examples']} ({', '.join(report['data'])})",
        f"accuracy              {report['accuracy']:.2%}",
        f"macro-F1              {report['macro_f1']:.2%}",
        *scope_lines(report),
    ]
    if report["unknown_intents"]:
        unknown = ", ".join(f"{name} ({n})" for name, n in report["unknown_intents"].items())
        lines.append(f"unknown intents       {unknown}: always wrong")
    return "\n".join(lines + label_summary_lines(report))


def markdown(report: dict[str, Any]) -> str:
    th = report["thresholds"]
    floor = "off" if th["familiarity"] is None else f"{th['familiarity']:.3f}"
    reasons = ", ".join(f"{k} {v}" for k, v in report["out_of_scope_answers"].items()) or "none"
    out = [
        f"# Evaluation: {report['model']} {report['version']}",
        "",
        f"Export `{report['export']}` ({report['encoder_variant']} encoder) on "
        f"{', '.join(f'`{d}`' for d in report['data'])}: {report['examples']} examples, answered "
        f"as the server answers (thresholds: confidence {th['confidence']:.2f}, margin "
        f"{th['margin']:.2f}, familiarity {floor}). An `out_of_scope` example is right when "
        "the answer is out of scope.",
        "",
        f"Accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.2%}.",
        "",
        "```",
        *scope_lines(report),
        f"out-of-scope answers  {reasons}",
        "```",
    ]
    if report["unknown_intents"]:
        unknown = ", ".join(f"`{k}` ({v})" for k, v in report["unknown_intents"].items())
        out += ["", f"Intents the model does not know (always wrong): {unknown}."]
    if report["min_accuracy"] is not None:
        verdict = "passed" if report["passed"] else "FAILED"
        out += ["", f"`--min-accuracy {report['min_accuracy']}`: {verdict}."]
    return "\n".join(out + _wrong_markdown(report["wrong"]) + label_tables_markdown(report))


def _wrong_markdown(wrong: list[dict[str, Any]]) -> list[str]:
    if not wrong:
        return []
    shown = f" (the first {WRONG_SHOWN}; report.json has all)" if len(wrong) > WRONG_SHOWN else ""
    out = [
        "",
        f"## Wrong answers{shown}",
        "",
        "| text | intent | answer | reason | where |",
        "|---|---|---|---|---|",
    ]
    for row in wrong[:WRONG_SHOWN]:
        text = str(row["text"]).replace("|", "\\|")
        out.append(
            f"| {text} | {row['intent']} | {row['answer']} | {row['reason']} | {row['where']} |"
        )
    return out


def write_evaluation(
    folder: Path, report: dict[str, Any], data: TrainingData, got: Answers
) -> None:
    """report.json, report.md and confusion.png in `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report)
    atomic_write(folder / "report.md", markdown(report))
    y_true, y_pred, labels = _indices(data.intents(), got.answers(), got.labels)
    plot_confusion(folder / "confusion.png", y_true, y_pred, labels)
