"""The fine-tuning part's Markdown and bars from a results dict (no training)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.finetune.plan import ANCHORS, BARS, FULL, few_shot
from bench.finetune.report import fine_tune_bars, fine_tune_section


def _row(dataset: str, shots: int, seed: int, frozen: float, tuned: float) -> dict[str, Any]:
    keeps = "tuned" if tuned > frozen else "frozen"
    return {
        "dataset": dataset,
        "shots": shots,
        "seed": seed,
        "examples": 1500,
        "frozen_test": frozen,
        "tuned_test": tuned,
        "auto_keeps": keeps,
        "product_test": max(frozen, tuned),
        "comparison": {
            "compared_on": "cross-validated",
            "frozen_accuracy": frozen,
            "tuned_accuracy": tuned,
            "minutes": 9.5,
        },
        "tuned_train_minutes": 10.0,
    }


@pytest.fixture
def results() -> dict[str, Any]:
    return {
        "variant": "int8",
        "rows": [
            _row("clinc", 10, 0, 0.913, 0.945),
            _row("clinc", 10, 1, 0.910, 0.941),
            _row("banking", FULL, 0, 0.935, 0.930),
            _row("clinc", FULL, 0, 0.963, 0.967)
            | {"oos": {"test": {"inscope_accuracy": 0.955, "oos_recall": 0.806}}},
        ],
        "served_bot": {
            "intents": 50,
            "shots": 10,
            "examples": 500,
            "train_minutes": 6.0,
            "export_minutes": 1.0,
            "to_first_answer_minutes": 7.2,
            "served_test_accuracy": 0.95,
            "test_texts": 1500,
            "fine_tuning": {"kept": "tuned"},
        },
        "anchors": {f"{d}:{s}": list(a) for (d, s), a in ANCHORS.items()},
        "bars": {f"{d}:{s}": bar for (d, s), bar in BARS.items()},
    }


def test_bars_judge_the_mean_product_accuracy_of_each_setting(results: dict[str, Any]) -> None:
    bars = {bar.key: bar for bar in fine_tune_bars(results)}
    assert bars["finetune_clinc_10"].measured == "94.30 %" and bars["finetune_clinc_10"].passed
    assert bars["finetune_banking_0"].measured == "93.50 %"
    assert bars["finetune_banking_0"].passed is False
    assert bars["finetune_banking_10"].passed is None  # not run
    assert bars["finetune_served_bot"].passed is True


def test_the_section_has_a_row_per_model_and_the_anchors(results: dict[str, Any]) -> None:
    text = "\n".join(fine_tune_section(results))
    assert "| clinc 10-shot | 1 | 1500 | 91.00 | 94.10 |" in text
    assert "| clinc 10-shot (2 seeds) | 91.15 | 94.30 | 94.30 | 94.18 (CPFT" in text
    row = "| banking full | 0 | 1500 | 93.50 | 93.00 | cross-validated 93.50 / 93.00 | frozen"
    assert row in text
    assert "first gRPC answer after 7.2 min" in text
    assert (
        "out of scope with the threshold chosen on val: in-scope 95.50 %, OOS recall 80.60" in text
    )


def test_few_shot_subsets_are_seeded_and_complete() -> None:
    pairs = [(f"text {i} of {intent}", intent) for intent in "abc" for i in range(20)]
    first, again, other = few_shot(pairs, 5, 0), few_shot(pairs, 5, 0), few_shot(pairs, 5, 1)
    assert first == again and first != other
    assert sorted({intent for _, intent in first}) == ["a", "b", "c"] and len(first) == 15
    assert few_shot(pairs, FULL, 0) == pairs
