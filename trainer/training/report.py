"""Validation metrics, the report files (md, json, confusion PNG) and the console summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.core.decision import Thresholds
from intent_server.core.files import atomic_write, write_json
from trainer.training.confusion_plot import plot_confusion
from trainer.training.thresholds import ThresholdCost

WORST_SHOWN = 5
PAIRS_SHOWN = 5


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


def build_report(
    probs: np.ndarray,
    y_true: np.ndarray,
    labels: Sequence[str],
    texts: Sequence[str],
    thresholds: Thresholds,
    cost: ThresholdCost,
) -> dict[str, Any]:
    """The report.json content: metrics on the validation split."""
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    intents = per_intent(y_true, y_pred, labels)
    scored = [row for row in intents if row["support"] > 0]
    accuracy = float((y_pred == y_true).mean()) if len(y_true) else 0.0
    macro_f1 = float(np.mean([row["f1"] for row in scored])) if scored else 0.0
    return {
        "validation_examples": len(y_true),
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "intents": intents,
        "worst_intents": sorted(scored, key=lambda r: (r["f1"], r["intent"]))[:WORST_SHOWN],
        "confusions": confusion_pairs(y_true, y_pred, labels, texts),
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
    }


def summary_text(report: dict[str, Any]) -> str:
    """The short table printed at the end of training."""
    th = report["thresholds"]
    lines = [
        f"validation examples   {report['validation_examples']}",
        f"accuracy              {report['accuracy']:.2%}",
        f"macro-F1              {report['macro_f1']:.2%}",
        f"thresholds            confidence {th['confidence']:.2f}, margin {th['margin']:.2f}: "
        f"reject {th['correct_inscope_rejected']} of {th['inscope_validation_examples']} "
        "in-scope validation examples answered correctly"
        + (f"; OOS recall {th['oos_recall']:.1%}" if th["oos_recall"] is not None else ""),
    ]
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
    return "\n".join(lines)


def markdown(report: dict[str, Any], name: str, version: str) -> str:
    th = report["thresholds"]
    out = [
        f"# Training report: {name} {version}",
        "",
        f"Validation split: {report['validation_examples']} examples. "
        f"Accuracy {report['accuracy']:.2%}, macro-F1 {report['macro_f1']:.2%} (argmax, "
        "no thresholds).",
        "",
        "## Out-of-scope thresholds",
        "",
        f"confidence {th['confidence']:.2f}, margin {th['margin']:.2f}.",
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
    out += [
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
    out += ["", "![confusion matrix](confusion.png)", ""]
    return "\n".join(out)


def write_report(
    folder: Path,
    report: dict[str, Any],
    probs: np.ndarray,
    y_true: np.ndarray,
    labels: Sequence[str],
    name: str,
    version: str,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report)
    atomic_write(folder / "report.md", markdown(report, name, version))
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    plot_confusion(folder / "confusion.png", y_true, y_pred, labels)
