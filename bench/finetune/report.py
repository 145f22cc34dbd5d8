"""The fine-tuning part of RESULTS.md: frozen against tuned per setting, the anchors, bars."""

from __future__ import annotations

from statistics import mean
from typing import Any

from bench.bars import Bar
from bench.finetune.plan import FULL, SERVE_BAR_MINUTES


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _settings(rows: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["dataset"], row["shots"]), []).append(row)
    return grouped


def fine_tune_bars(results: dict[str, Any]) -> list[Bar]:
    """The fine-tuning bars: the product's (`--fine-tune`, auto) mean test accuracy per
    setting, and the served bot's minutes to its first answer."""
    out = []
    grouped = _settings(results["rows"])
    for key, bar in results["bars"].items():
        dataset, shots = key.split(":")
        rows = grouped.get((dataset, int(shots)))
        what = "full data" if int(shots) == FULL else f"{shots}-shot"
        product = 100 * mean(row["product_test"] for row in rows) if rows else None
        out.append(
            Bar(
                f"finetune_{dataset}_{shots}",
                f"--fine-tune, {dataset} {what}, test accuracy (mean of {len(rows or [])} seeds)",
                f">= {bar} %",
                "not run" if product is None else f"{product:.2f} %",
                None if product is None else product >= bar,
            )
        )
    served = results.get("served_bot")
    if served:
        minutes = served["to_first_answer_minutes"]
        out.append(
            Bar(
                "finetune_served_bot",
                f"{served['intents']}-intent {served['shots']}-shot bot: --fine-tune "
                "training, export, server up and answering",
                f"<= {SERVE_BAR_MINUTES:.0f} min",
                f"{minutes:.1f} min",
                minutes <= SERVE_BAR_MINUTES,
            )
        )
    return out


def _row_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        "| data | seed | examples | frozen | tuned | compared on (frozen / tuned) | auto keeps "
        "| product | tuning min | training min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        record = row["comparison"]
        what = "full" if row["shots"] == FULL else f"{row['shots']}-shot"
        lines.append(
            f"| {row['dataset']} {what} | {row['seed']} | {row['examples']} "
            f"| {_pct(row['frozen_test'])} | {_pct(row['tuned_test'])} "
            f"| {record['compared_on']} {_pct(record['frozen_accuracy'])} / "
            f"{_pct(record['tuned_accuracy'])} | {row['auto_keeps']} "
            f"| {_pct(row['product_test'])} | {record['minutes']:.1f} "
            f"| {row['tuned_train_minutes']:.1f} |"
        )
    return lines


def _mean_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        "| setting | mean frozen | mean tuned | mean product | anchor |",
        "|---|---|---|---|---|",
    ]
    for (dataset, shots), rows in _settings(results["rows"]).items():
        anchor = results["anchors"].get(f"{dataset}:{shots}")
        what = "full" if shots == FULL else f"{shots}-shot"
        lines.append(
            f"| {dataset} {what} ({len(rows)} seeds) "
            f"| {_pct(mean(r['frozen_test'] for r in rows))} "
            f"| {_pct(mean(r['tuned_test'] for r in rows))} "
            f"| {_pct(mean(r['product_test'] for r in rows))} "
            f"| {f'{anchor[1]:.2f} ({anchor[0]})' if anchor else ''} |"
        )
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
    lines = []
    for row in results["rows"]:
        if "oos" in row:
            test = row["oos"]["test"]
            lines += [
                "",
                f"Fine-tuned CLINC150 (full data, seed {row['seed']}), out of scope with "
                f"the threshold chosen on val: in-scope {_pct(test['inscope_accuracy'])} %, "
                f"OOS recall {_pct(test['oos_recall'])} %.",
            ]
    served = results.get("served_bot")
    if served:
        lines += [
            "",
            f"A CLINC150 bot of {served['intents']} intents x {served['shots']} examples with "
            f"`--fine-tune`: trained in {served['train_minutes']:.1f} min, exported in "
            f"{served['export_minutes']:.1f} min, first gRPC answer after "
            f"{served['to_first_answer_minutes']:.1f} min in all; the server answered "
            f"{_pct(served['served_test_accuracy'])} % of its {served['test_texts']} test "
            f"texts right ({served['fine_tuning']['kept']} encoder kept).",
        ]
    return lines


def fine_tune_section(results: dict[str, Any]) -> list[str]:
    """The Markdown section: one row per trained pair, the means, notes and bars."""
    lines = [
        "## Fine-tuning the encoder (`--fine-tune`)",
        "",
        f"Test accuracy (%, {results['variant']} encoder, argmax) of the frozen model and of "
        "the fine-tuned one (trained with `--fine-tune=force`, so both are known); *auto "
        "keeps*: what `--fine-tune` chose on the bot's own held-out (full data) or "
        "cross-validated (few-shot) examples, and *product* is that model's test accuracy. "
        "Few-shot bots: each intent's examples drawn at random with the seed, trained without a "
        "validation file as a user would. Minutes: `train()` with fine-tuning, on this machine.",
        "",
        *_row_lines(results),
        "",
        *_mean_lines(results),
        *_notes(results),
        "",
        "| bar | target | measured | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {b.what} | {b.bar} | {b.measured} | "
        f"{'-' if b.passed is None else 'PASS' if b.passed else 'FAIL'} |"
        for b in fine_tune_bars(results)
    ]
    return lines
