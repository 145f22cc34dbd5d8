"""Validation metrics, the report files (md, json, confusion PNG) and the console summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.core.decision import Thresholds
from intent_server.core.files import atomic_write, write_json
from trainer.calibration.thresholds import (
    Calibration,
    ThresholdCost,
    budget_table,
    tradeoff_table,
)
from trainer.training.confusion_plot import plot_confusion
from trainer.training.familiarity_plot import plot_familiarity

WORST_SHOWN = 5
PAIRS_SHOWN = 5
TRADEOFF_SIGMAS = (1.0, 1.5, 1.9, 2.0, 2.5, 3.0)
BUDGETS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05)


def per_intent(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]
) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of every intent (argmax predictions)."""
    rows = []
    for index, name in enumerate(labels):
        tp = int(((y_pred == index) & (y_true == index)).sum())
        predicted = int((y_pred == index).sum())
        support = int((y_true == index).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {"intent": name, "precision": precision, "recall": recall, "f1": f1, "support": support}
        )
    return rows


def confusion_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], texts: Sequence[str]
) -> list[dict[str, Any]]:
    """Off-diagonal (true, predicted) pairs, most frequent first, each with one example text."""
    pairs: dict[tuple[int, int], list[str]] = {}
    for truth, pred, text in zip(y_true.tolist(), y_pred.tolist(), texts, strict=True):
        if truth != pred:
            pairs.setdefault((truth, pred), []).append(text)
    ordered = sorted(pairs.items(), key=lambda item: (-len(item[1]), labels[item[0][0]]))
    return [
        {"true": labels[t], "predicted": labels[p], "count": len(examples), "example": examples[0]}
        for (t, p), examples in ordered
    ]


def label_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], texts: Sequence[str]
) -> dict[str, Any]:
    """The report's label metrics: `accuracy`, `macro_f1` (mean F1 of the intents with
    support), `intents` (per-intent rows), `worst_intents` and `confusions` (confused pairs).
    The training report and `intent-train evaluate` share them."""
    intents = per_intent(y_true, y_pred, labels)
    scored = [row for row in intents if row["support"] > 0]
    return {
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([row["f1"] for row in scored])) if scored else 0.0,
        "intents": intents,
        "worst_intents": sorted(scored, key=lambda r: (r["f1"], r["intent"]))[:WORST_SHOWN],
        "confusions": confusion_pairs(y_true, y_pred, labels, texts),
    }


def _familiarity(cal: Calibration, thresholds: Thresholds) -> dict[str, Any]:
    scores = cal.inscope_familiarity
    return {
        "threshold": thresholds.familiarity,
        "inscope_mean": float(scores.mean()) if len(scores) else None,
        "inscope_std": float(scores.std()) if len(scores) else None,
        "inscope_min": float(scores.min()) if len(scores) else None,
        "tradeoff": tradeoff_table(cal, TRADEOFF_SIGMAS) if len(scores) else [],
    }


def build_report(
    cal: Calibration,
    texts: Sequence[str],
    thresholds: Thresholds,
    cost: ThresholdCost,
    unfamiliar_sigmas: float,
) -> dict[str, Any]:
    """The report.json content: metrics on the calibration texts (held-out or
    cross-validated answers)."""
    probs, y_true, labels = cal.probs, cal.truth, cal.labels
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    return {
        "validation_examples": len(y_true),
        "validation_method": cal.method,
        **label_metrics(y_true, y_pred, labels, texts),
        "thresholds": {
            "confidence": thresholds.confidence,
            "margin": thresholds.margin,
            "rule": thresholds.rule,
            "inscope_validation_examples": cost.inscope_total,
            "inscope_accuracy_without_thresholds": (
                cost.inscope_correct_raw / cost.inscope_total if cost.inscope_total else None
            ),
            "inscope_accuracy_with_thresholds": (
                cost.inscope_accuracy if cost.inscope_total else None
            ),
            "correct_inscope_rejected": cost.rejected_correct,
            "oos_validation_examples": cost.oos_total,
            "oos_recall": cost.oos_recall,
        },
        "familiarity": _familiarity(cal, thresholds),
        "operating_points": budget_table(cal, BUDGETS, unfamiliar_sigmas),
    }


def _threshold_words(report: dict[str, Any]) -> str:
    th, floor = report["thresholds"], report["familiarity"]["threshold"]
    words = f"confidence {th['confidence']:.2f}, margin {th['margin']:.2f}"
    return words + (f", familiarity {floor:.3f}" if floor is not None else "")


def summary_text(report: dict[str, Any]) -> str:
    """The short table printed at the end of training."""
    th = report["thresholds"]
    lines = [
        f"validation examples   {report['validation_examples']} ({report['validation_method']})",
        f"accuracy              {report['accuracy']:.2%}",
        f"macro-F1              {report['macro_f1']:.2%}",
        f"thresholds            {_threshold_words(report)}: "
        f"reject {th['correct_inscope_rejected']} of {th['inscope_validation_examples']} "
        "in-scope validation examples answered correctly"
        + (f"; OOS recall {th['oos_recall']:.1%}" if th["oos_recall"] is not None else ""),
    ]
    return "\n".join(lines + label_summary_lines(report))


def label_summary_lines(report: dict[str, Any]) -> list[str]:
    """The console lines of `label_metrics`: the worst intents and the most confused pairs."""
    lines = []
    if report["worst_intents"]:
        lines.append(
            "worst intents (F1)    "
            + ", ".join(f"{r['intent']} {r['f1']:.2f}" for r in report["worst_intents"])
        )
    for pair in report["confusions"][:PAIRS_SHOWN]:
        lines.append(
            f"confused              {pair['true']} -> {pair['predicted']} "
            f'x{pair["count"]}: "{pair["example"]}"'
        )
    return lines


def markdown(report: dict[str, Any], name: str, version: str) -> str:
    th = report["thresholds"]
    out = [
        f"# Training report: {name} {version}",
        "",
        f"Validation: {report['validation_examples']} examples, {report['validation_method']}. "
        f"Accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.2%} (argmax, "
        "no thresholds).",
        *(
            ["", f"Encoder: {report['fine_tuning']['summary']}."]
            if report.get("fine_tuning")
            else []
        ),
        "",
        "## Out-of-scope thresholds",
        "",
        f"{_threshold_words(report)}.",
        f"Rule: {th['rule']}.",
        "",
        f"Cost: {th['correct_inscope_rejected']} of {th['inscope_validation_examples']} in-scope "
        "validation examples that argmax answers correctly are turned into out_of_scope.",
    ]
    if th["oos_recall"] is not None:
        out.append(
            f"OOS recall on validation: {th['oos_recall']:.1%} "
            f"({th['oos_validation_examples']} examples)."
        )
    out += _operating_points_markdown(report["operating_points"])
    out += _familiarity_markdown(report["familiarity"])
    return "\n".join(out + label_tables_markdown(report))


def label_tables_markdown(report: dict[str, Any]) -> list[str]:
    """The markdown of `label_metrics`: confused pairs, per-intent table, confusion.png."""
    out = [
        "",
        "## Most confused pairs",
        "",
        "| true | predicted | count | example |",
        "|---|---|---|---|",
    ]
    for pair in report["confusions"][:20]:
        example = str(pair["example"]).replace("|", "\\|")
        out.append(f"| {pair['true']} | {pair['predicted']} | {pair['count']} | {example} |")
    out += [
        "",
        "## Per intent",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for row in report["intents"]:
        out.append(
            f"| {row['intent']} | {row['precision']:.3f} | {row['recall']:.3f} | "
            f"{row['f1']:.3f} | {row['support']} |"
        )
    return [*out, "", "![confusion matrix](confusion.png)", ""]


def _operating_points_markdown(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    out = [
        "",
        "Other operating points (`intent-train --max-inscope-loss`), on the same texts:",
        "",
        "| max in-scope loss | confidence | margin | familiarity | in-scope accuracy "
        "| OOS recall |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        floor = row["familiarity"]
        out.append(
            f"| {row['max_inscope_loss']:.3f} | {row['confidence']:.2f} | {row['margin']:.2f} | "
            f"{'off' if floor is None else f'{floor:.3f}'} | {row['inscope_accuracy']:.1%} | "
            f"{row['oos_recall']:.1%} |"
        )
    return out


def _familiarity_markdown(section: dict[str, Any]) -> list[str]:
    if not section["tradeoff"]:
        return []
    out = [
        "",
        "## Familiarity",
        "",
        "A message's familiarity is its best cosine to a training example. Below are the "
        f"in-scope examples' scores (mean {section['inscope_mean']:.3f}, standard deviation "
        f"{section['inscope_std']:.3f}) and what other floors would cost "
        "(`intent-train --unfamiliar-sigmas`):",
        "",
        "| sigmas | floor | correct in-scope turned away | out_of_scope caught |",
        "|---|---|---|---|",
    ]
    for row in section["tradeoff"]:
        away, caught = row["inscope_turned_away"], row["oos_caught"]
        out.append(
            f"| {row['sigmas']} | {row['familiarity']:.3f} | "
            f"{'-' if away is None else f'{away:.1%}'} | "
            f"{'-' if caught is None else f'{caught:.1%}'} |"
        )
    return [*out, "", "![familiarity](familiarity.png)"]


def write_report(
    folder: Path, report: dict[str, Any], cal: Calibration, name: str, version: str
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report)
    atomic_write(folder / "report.md", markdown(report, name, version))
    probs = cal.probs
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    plot_confusion(folder / "confusion.png", cal.truth, y_pred, cal.labels)
    if len(cal.truth):
        threshold = report["familiarity"]["threshold"]
        plot_familiarity(folder / "familiarity.png", cal.familiarity, cal.is_oos, threshold)
