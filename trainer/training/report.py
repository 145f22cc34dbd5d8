"""Validation metrics, the report files (md, json, confusion PNG) and the console summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.decision import Thresholds
from trainer.thresholds import ThresholdCost

WORST_SHOWN = 5
PAIRS_SHOWN = 5
MAX_LABELS_FULL_MATRIX = 60
# Beyond MAX_LABELS_FULL_MATRIX only this many intents, those with the most errors, are
# drawn: a readable figure, and drawing 150 tick labels took about 3 s of a CLINC150 run.
MAX_CONFUSED_SHOWN = 40


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


def plot_confusion(
    path: Path, y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]
) -> None:
    """Row-normalised confusion matrix, sized by the label count; only intents with errors
    when there are too many labels to read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    count = len(labels)
    matrix = np.zeros((count, count), dtype=np.float64)
    np.add.at(matrix, (y_true, y_pred), 1.0)
    shown = list(range(count))
    title = "confusion matrix (rows: true intent, normalised)"
    if count > MAX_LABELS_FULL_MATRIX:
        errors = matrix.copy()
        np.fill_diagonal(errors, 0.0)
        involved = errors.sum(axis=0) + errors.sum(axis=1)
        # Most confused first (stable: ties keep label order), then back in label order.
        ranked = sorted(range(count), key=lambda i: -involved[i])[:MAX_CONFUSED_SHOWN]
        shown = sorted(i for i in ranked if involved[i] > 0) or shown[:1]
        title += f"; the {len(shown)} most confused of {count} intents"
    sub = matrix[np.ix_(shown, shown)]
    rows = sub.sum(axis=1, keepdims=True)
    normalised = np.divide(sub, rows, out=np.zeros_like(sub), where=rows > 0)
    names = [labels[i] for i in shown]
    # About 0.16 inch per row keeps 8-pt labels apart; the margin fits the longest name.
    cell = 0.16
    margin = 0.5 + 0.075 * max(len(n) for n in names)
    side = max(4.0, cell * len(shown))
    fig = plt.figure(figsize=(side + margin + 0.4, side + margin + 0.6))
    width, height = fig.get_size_inches()
    ax = fig.add_axes((margin / width, margin / height, side / width, side / height))
    # Square-root colour scale: a 1-in-20 confusion is still visible next to the diagonal.
    ax.imshow(
        normalised,
        cmap="Blues",
        norm=PowerNorm(0.5, vmin=0.0, vmax=1.0),
        interpolation="nearest",
        aspect="auto",
    )
    ax.set_xticks(range(len(shown)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(shown)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.xaxis.set_label_position("top")
    ax.set_title(title, fontsize=9, pad=18)
    fig.savefig(path, dpi=90)
    plt.close(fig)


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
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(markdown(report, name, version), encoding="utf-8")
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    plot_confusion(folder / "confusion.png", y_true, y_pred, labels)
