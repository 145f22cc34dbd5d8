"""The results' shapes: mirrors of the trainer's types stay in step with them, and the
committed results under bench/results/ still read and render."""

from __future__ import annotations

from dataclasses import fields

from bench.finetune.report import fine_tune_section
from bench.report import every_bar, render_markdown
from bench.result_types import (
    FineTuningRecord,
    OosScoresJson,
    ThresholdsJson,
    read_fine_tune,
    read_results,
)
from bench.snips.results import EntityScoresJson
from intent_server.core.decision import Thresholds
from intent_server.core.model_card import FineTuning
from tests.fixtures.paths import ROOT
from trainer.entity_metrics import EntityScores
from trainer.metrics import OosScores

COMMITTED = ROOT / "bench" / "results"


def test_json_shapes_mirror_the_types_they_are_written_from() -> None:
    for shape, source in (
        (FineTuningRecord, FineTuning),
        (ThresholdsJson, Thresholds),
        (OosScoresJson, OosScores),
    ):
        assert list(shape.__annotations__) == [item.name for item in fields(source)]
    # the bench's slot scores: the trainer's micro average without its per-type parts
    micro = [item.name for item in fields(EntityScores) if item.name not in ("types", "wrong")]
    assert list(EntityScoresJson.__annotations__) == micro


def test_the_committed_results_render() -> None:
    results = read_results(COMMITTED / "results.json")
    text = render_markdown(results)
    for heading in (
        "## Bars",
        "## Accuracy",
        "### The default out-of-scope decision",
        "### Small bots without out_of_scope examples",
        "## Speed",
        "### One call, taken apart",
        "### HTTP/JSON listener",
        "### Repeated messages: the answer cache",
    ):
        assert heading in text
    assert {bar.key for bar in every_bar(results)} >= {"clinc_accuracy", "p50_latency"}
    assert all(bar.passed is not None for bar in every_bar(results))


def test_the_committed_fine_tuning_results_render() -> None:
    results = read_fine_tune(COMMITTED / "finetune.json")
    text = "\n".join(fine_tune_section(results))
    assert text.count("| clinc ") + text.count("| banking ") >= len(results["rows"])
    assert "| bar | target | measured | result |" in text
