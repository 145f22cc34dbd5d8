"""The entity bars and RESULTS.md's entity section, from results made here: a bar for each
subset that ran (the best of frozen and fine-tuned), the latency bar, nothing when skipped."""

from __future__ import annotations

from bench.snips.report import entities_section, entity_bars
from bench.snips.results import EntitiesResults, EntityLatency, EntityRow


def _row(subset: str, training: str, f1: float, intent: float) -> EntityRow:
    return {
        "subset": subset,
        "training": training,
        "train_sentences": 490,
        "train_examples": 483,
        "annotated_spans": 1300,
        "train_minutes": 1.5,
        "export_minutes": 0.5,
        "variant": "int8",
        "slots": {
            "precision": f1,
            "recall": f1,
            "f1": f1,
            "support": 100,
            "predicted": 100,
            "correct": round(100 * f1),
        },
        "intent_accuracy": intent,
        "intent_accuracy_decided": intent - 0.01,
        "held_out_f1": None,
        "model": f"snips_{subset}_{training}",
    }


LATENCY: EntityLatency = {
    "model": "snips_70_frozen",
    "variant": "int8",
    "calls": 600,
    "threads": 1,
    "texts": 100,
    "with_p50_ms": 3.5,
    "without_p50_ms": 3.1,
    "with_cpu_p50_ms": 3.4,
    "without_cpu_p50_ms": 3.0,
}


def _results(rows: list[EntityRow], latency: EntityLatency | None) -> EntitiesResults:
    return {
        "train_sentences": 13084,
        "test_sentences": 700,
        "draw_seed": 0,
        "rows": rows,
        "latency": latency,
    }


def test_bars_judge_the_best_training_of_each_subset_run() -> None:
    rows = [
        _row("full", "frozen", 0.72, 0.985),
        _row("full", "fine-tune", 0.955, 0.99),
        _row("70", "frozen", 0.74, 0.97),
        _row("10", "frozen", 0.45, 0.9),
    ]
    bars = {bar.key: bar for bar in entity_bars(_results(rows, LATENCY))}
    assert list(bars) == ["entities_full", "entities_70", "entities_latency"]
    assert bars["entities_full"].passed is True and "fine-tune" in bars["entities_full"].measured
    assert bars["entities_70"].passed is False  # F1 74.0 < 75
    assert bars["entities_latency"].passed is False  # +0.40 ms > +0.3 ms
    assert "+0.40 ms" in bars["entities_latency"].measured


def test_only_the_subsets_run_have_bars() -> None:
    assert entity_bars(None) == []
    bars = entity_bars(_results([_row("10", "frozen", 0.45, 0.9)], None))
    assert bars == []


def test_section_lists_every_row_and_the_latency() -> None:
    rows = [_row("70", "frozen", 0.597, 0.97), _row("full", "frozen", 0.72, 0.985)]
    text = "\n".join(entities_section(_results(rows, LATENCY)))
    assert "| 70 per intent | frozen | 483 (1,300 spans) | 59.7 |" in text
    assert "| all training sentences | frozen |" in text
    assert "p50 3.50 ms with, 3.10 ms without (+0.40 ms)" in text
