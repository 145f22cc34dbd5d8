"""RESULTS.md's entity section and the entity bars (issue 26), from `EntitiesResults`."""

from __future__ import annotations

from bench.bars import Bar
from bench.snips.results import EntitiesResults, EntityLatency, EntityRow
from trainer.markdown import markdown_table

FULL_BAR = (0.95, 0.98)  # slot F1, intent accuracy
FEW_BAR = (0.75, 0.95)  # 70 per intent
LATENCY_BAR_MS = 0.3


def _subset_words(subset: str) -> str:
    return "all training sentences" if subset == "full" else f"{subset} per intent"


def _best(rows: list[EntityRow], subset: str) -> EntityRow | None:
    """The subset's row with the best slot F1 (frozen or fine-tuned), None when not run."""
    mine = [row for row in rows if row["subset"] == subset]
    return max(mine, key=lambda row: row["slots"]["f1"]) if mine else None


def _score_bar(rows: list[EntityRow], subset: str, bar: tuple[float, float]) -> Bar:
    row = _best(rows, subset)
    f1_bar, intent_bar = bar
    key = f"entities_{subset}"
    what = f"SNIPS test slot F1 (seqeval micro) and intent accuracy, {_subset_words(subset)}"
    wanted = f"F1 >= {100 * f1_bar:.1f}, intent >= {100 * intent_bar:.1f} %"
    if row is None:
        return Bar(key, what, wanted, "not run", None)
    f1, intent = row["slots"]["f1"], row["intent_accuracy"]
    measured = f"F1 {100 * f1:.1f}, intent {100 * intent:.2f} % ({row['training']})"
    passed = f1 >= f1_bar and intent >= intent_bar
    return Bar(key, f"{what} ({row['variant']})", wanted, measured, passed)


def _latency_bar(latency: EntityLatency) -> Bar:
    with_head, without = latency["with_p50_ms"], latency["without_p50_ms"]
    return Bar(
        "entities_latency",
        "one message in-process, p50 with the entity head against without "
        f"({latency['variant']}, same export, interleaved)",
        f"<= without + {LATENCY_BAR_MS} ms",
        f"{with_head:.2f} ms with, {without:.2f} ms without ({with_head - without:+.2f} ms)",
        with_head <= without + LATENCY_BAR_MS,
    )


def entity_bars(results: EntitiesResults | None) -> list[Bar]:
    """The entity bars of the subsets this run made (none when the section was skipped)."""
    if results is None:
        return []
    rows = results["rows"]
    made = {row["subset"] for row in rows}
    bars = [
        _score_bar(rows, subset, bar)
        for subset, bar in (("full", FULL_BAR), ("70", FEW_BAR))
        if subset in made
    ]
    if results["latency"] is not None:
        bars.append(_latency_bar(results["latency"]))
    return bars


def _cells(row: EntityRow) -> tuple[str, ...]:
    slots = row["slots"]
    held = "-" if row["held_out_f1"] is None else f"{100 * row['held_out_f1']:.1f}"
    return (
        _subset_words(row["subset"]),
        row["training"],
        f"{row['train_examples']:,} ({row['annotated_spans']:,} spans)",
        f"{100 * slots['f1']:.1f}",
        f"{100 * slots['precision']:.1f} / {100 * slots['recall']:.1f}",
        f"{100 * row['intent_accuracy']:.2f} %",
        f"{100 * row['intent_accuracy_decided']:.2f} %",
        held,
        f"{row['train_minutes']:.1f}",
    )


def entities_section(results: EntitiesResults) -> list[str]:
    lines = [
        "## Entities (SNIPS slots)",
        "",
        f"SNIPS (Coucke et al. 2018, the joint intent + slot split: {results['train_sentences']:,} "
        f"training sentences, 7 intents) written as our YAML with `[text](entity)` markup, "
        "trained through the product (`make train`'s pipeline, then `make export`), answered "
        f"by the server's runtime on {results['test_sentences']} test sentences. Slot F1: "
        "seqeval's micro average (exact span and type, spans moved to whole words as SNIPS "
        "scores its tokens). Intent: argmax of the served probabilities, and the server's "
        "answer after the out-of-scope decision. K per intent drawn with seed "
        f"{results['draw_seed']}; repeated sentences are dropped by the loader. Held-out: the "
        "trainer's own entity F1 on a fifth of the annotated examples (`model.json`).",
        "",
        *markdown_table(
            "training data | encoder | examples | slot F1 | precision / recall | intent "
            "(argmax) | intent (decision) | trainer's held-out F1 | training minutes",
            [_cells(row) for row in results["rows"]],
        ),
    ]
    latency = results["latency"]
    if latency is not None:
        lines += [
            "",
            f"Serving cost of the entity head ({latency['model']}, {latency['variant']}, "
            f"{latency['threads']} thread, {latency['calls']} calls a side over "
            f"{latency['texts']} test sentences, interleaved): p50 "
            f"{latency['with_p50_ms']:.2f} ms with, {latency['without_p50_ms']:.2f} ms "
            f"without ({latency['with_p50_ms'] - latency['without_p50_ms']:+.2f} ms); the "
            f"calling thread's CPU time p50 {latency['with_cpu_p50_ms']:.2f} ms against "
            f"{latency['without_cpu_p50_ms']:.2f} ms.",
        ]
    return lines
