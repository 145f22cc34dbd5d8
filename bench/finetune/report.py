"""The fine-tuning part of RESULTS.md: frozen against tuned per setting, the anchors, bars."""

from __future__ import annotations

from statistics import mean

from bench.bars import Bar
from bench.finetune.plan import FULL, SERVE_BAR_MINUTES
from bench.result_types import FineTuneResults, FineTuneRow
from trainer.markdown import markdown_table


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _settings(rows: list[FineTuneRow]) -> dict[tuple[str, int], list[FineTuneRow]]:
    grouped: dict[tuple[str, int], list[FineTuneRow]] = {}
    for row in rows:
        grouped.setdefault((row["dataset"], row["shots"]), []).append(row)
    return grouped


def fine_tune_bars(results: FineTuneResults) -> list[Bar]:
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


def _row_lines(results: FineTuneResults) -> list[str]:
    rows = []
    for row in results["rows"]:
        record = row["comparison"]
        what = "full" if row["shots"] == FULL else f"{row['shots']}-shot"
        rows.append(
            (
                f"{row['dataset']} {what}",
                row["seed"],
                row["examples"],
                _pct(row["frozen_test"]),
                _pct(row["tuned_test"]),
                f"{record['compared_on']} {_pct(record['frozen_accuracy'])} / "
                f"{_pct(record['tuned_accuracy'])}",
                row["auto_keeps"],
                _pct(row["product_test"]),
                f"{record['minutes']:.1f}",
                f"{row['tuned_train_minutes']:.1f}",
            )
        )
    return markdown_table(
        "data | seed | examples | frozen | tuned | compared on (frozen / tuned) | auto keeps "
        "| product | tuning min | training min",
        rows,
    )


def _mean_lines(results: FineTuneResults) -> list[str]:
    rows = []
    for (dataset, shots), group in _settings(results["rows"]).items():
        anchor = results["anchors"].get(f"{dataset}:{shots}")
        what = "full" if shots == FULL else f"{shots}-shot"
        rows.append(
            (
                f"{dataset} {what} ({len(group)} seeds)",
                _pct(mean(r["frozen_test"] for r in group)),
                _pct(mean(r["tuned_test"] for r in group)),
                _pct(mean(r["product_test"] for r in group)),
                f"{anchor[1]:.2f} ({anchor[0]})" if anchor else "",
            )
        )
    return markdown_table("setting | mean frozen | mean tuned | mean product | anchor", rows)


def _notes(results: FineTuneResults) -> list[str]:
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


def fine_tune_section(results: FineTuneResults) -> list[str]:
    """The Markdown section: one row per trained pair, the means, notes and bars."""
    bars = [
        (b.what, b.bar, b.measured, "-" if b.passed is None else "PASS" if b.passed else "FAIL")
        for b in fine_tune_bars(results)
    ]
    return [
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
        *markdown_table("bar | target | measured | result", bars),
    ]
