"""The entity section's plumbing on a tiny SNIPS draw: trained and exported through the
product (starting from the example bot's stored encoder, so nothing is traced), scored as
the server answers, the latency of both sides measured, rendered with its bars. The
numbers mean nothing at this size; nothing asserts a bar."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.datasets import datasets_dir
from bench.snips import load_snips
from bench.snips.report import entities_section, entity_bars
from bench.snips.results import EntitiesResults
from bench.snips.section import EntitySettings, run_entities, served_answers
from intent_server.core.exports import load_export, resolve_current
from intent_server.core.layout import ENCODER_STORE
from trainer.data import TrainingData
from trainer.entity_metrics import score_entities

pytestmark = pytest.mark.slow
SNIPS = datasets_dir() / "snips"
TEST_SENTENCES = 40


@pytest.fixture(scope="module")
def section(
    exported_example_model: Path,
    embedding_cache_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[EntitiesResults, Path]:
    if not (SNIPS / "train" / "seq.in").is_file():
        pytest.skip(f"SNIPS not found under {SNIPS}")
    work = tmp_path_factory.mktemp("entities")
    export_dir = work / "exported"
    shutil.copytree(
        exported_example_model / ENCODER_STORE, export_dir / ENCODER_STORE, copy_function=os.link
    )
    settings = EntitySettings(subsets=("3",), test_sentences=TEST_SENTENCES, latency_calls=6)
    return run_entities(work, settings, embedding_cache_dir, export_dir), export_dir


def test_each_subset_is_trained_exported_and_scored(
    section: tuple[EntitiesResults, Path],
) -> None:
    results, export_dir = section
    assert results["test_sentences"] == TEST_SENTENCES and results["train_sentences"] == 13084
    (row,) = results["rows"]
    assert (row["subset"], row["training"], row["train_sentences"]) == ("3", "frozen", 21)
    assert row["annotated_spans"] > 0 and row["train_minutes"] > 0
    loaded = load_export(resolve_current(export_dir, row["model"]))
    assert loaded.manifest.entities is not None  # the export serves an entity head
    test = load_snips("test")
    test = TrainingData(test.examples[:TEST_SENTENCES], test.sources)
    best, _, spans = served_answers(loaded, test.texts())
    scores = score_entities(test.examples, spans)
    assert row["slots"]["f1"] == scores.f1 and row["slots"]["support"] == scores.support
    assert row["slots"]["support"] > 0 and row["slots"]["predicted"] > 0
    right = sum(b == t for b, t in zip(best, test.intents(), strict=True))
    assert row["intent_accuracy"] == right / TEST_SENTENCES


def test_latency_of_both_sides_and_the_rendering(section: tuple[EntitiesResults, Path]) -> None:
    results, _ = section
    latency = results["latency"]
    assert latency is not None and latency["calls"] == 6 and latency["model"] == "snips_3_frozen"
    assert latency["with_p50_ms"] > 0 and latency["without_p50_ms"] > 0
    assert [bar.key for bar in entity_bars(results)] == ["entities_latency"]  # only what ran
    text = "\n".join(entities_section(results))
    assert "## Entities (SNIPS slots)" in text and "| 3 per intent | frozen | 21 (" in text
