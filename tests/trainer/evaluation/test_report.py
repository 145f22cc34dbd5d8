"""`EvaluationReport` without a model: written and read back by the same code, its JSON keys
pinned, errors naming the file and key, and its markdown."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from intent_server.core.decision import OUT_OF_SCOPE, Thresholds
from intent_server.core.files import write_json
from tests.fixtures.entities import trip_scored
from trainer.entity_metrics import score_entities
from trainer.evaluation.report import (
    EvaluationReport,
    ScopeSection,
    WrongAnswer,
    label_indices,
)
from trainer.evaluation.report_text import markdown, summary_text
from trainer.metrics import label_metrics
from trainer.training.report import ReportError

TRUTH = ["greet", "greet", "bye", OUT_OF_SCOPE, "pizza"]
ANSWERS = ["greet", "bye", "bye", OUT_OF_SCOPE, OUT_OF_SCOPE]
TEXTS = ["hi", "hello | there", "bye", "weather?", "one pizza"]


def sample_evaluation(min_accuracy: float | None = 0.5) -> EvaluationReport:
    y_true, y_pred, labels = label_indices(TRUTH, ANSWERS, ("bye", "greet"))
    assert labels == ["bye", "greet", OUT_OF_SCOPE, "pizza"]
    return EvaluationReport(
        model="bot",
        version="v2",
        model_version="v1",
        export="exported/bot/v2",
        encoder_variant="int8",
        data=("test.yml",),
        examples=len(TRUTH),
        labels=label_metrics(y_true, y_pred, labels, TEXTS),
        scope=ScopeSection(4, 0.5, 0.75, 0, 1, 1.0, 0.5, {"UNFAMILIAR": 2}),
        unknown_intents={"pizza": 1},
        truncated=0,
        thresholds=Thresholds(0.3, 0.05, "a rule", 0.4),
        wrong=(
            WrongAnswer("hello | there", "greet", "bye", "NONE", 0.6, "test.yml:4"),
            WrongAnswer("one pizza", "pizza", OUT_OF_SCOPE, "UNFAMILIAR", 0.9, "test.yml:9"),
        ),
        min_accuracy=min_accuracy,
    )


def test_the_evaluation_reads_back_what_it_wrote(tmp_path: Path) -> None:
    for minimum in (None, 0.5, 0.9):
        report = sample_evaluation(minimum)
        write_json(tmp_path / "report.json", report.to_json())
        assert EvaluationReport.read(tmp_path / "report.json") == report
    assert sample_evaluation(None).passed is None and sample_evaluation(0.5).passed is True
    assert sample_evaluation(0.9).passed is False


def test_evaluation_json_keeps_its_keys() -> None:
    data = sample_evaluation().to_json()
    assert list(data) == [
        "model",
        "version",
        "model_version",
        "export",
        "encoder_variant",
        "data",
        "examples",
        "accuracy",
        "macro_f1",
        "intents",
        "worst_intents",
        "confusions",
        "inscope_examples",
        "inscope_accuracy",
        "inscope_accuracy_without_thresholds",
        "correct_inscope_rejected",
        "oos_examples",
        "oos_recall",
        "oos_precision",
        "out_of_scope_answers",
        "unknown_intents",
        "truncated",
        "thresholds",
        "wrong",
        "min_accuracy",
        "passed",
        "entities",
        "min_entity_f1",
        "entity_passed",
    ]
    assert data["accuracy"] == 0.6 and data["passed"] is True
    assert (data["entities"], data["min_entity_f1"], data["entity_passed"]) == (None, None, None)
    assert data["thresholds"] == {"confidence": 0.3, "margin": 0.05, "rule": "a rule",
                                  "familiarity": 0.4}  # fmt: skip


def test_a_damaged_evaluation_names_the_file_and_the_key(tmp_path: Path) -> None:
    data = json.loads(json.dumps(sample_evaluation().to_json()))
    data["out_of_scope_answers"]["LOW_CONFIDENCE"] = "two"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportError, match="out_of_scope_answers must map names to integers"):
        EvaluationReport.read(path)


def test_markdown_lists_wrong_answers_with_pipes_escaped() -> None:
    report = sample_evaluation()
    text = markdown(report)
    assert "| text | intent | answer | reason | where |\n|---|---|---|---|---|" in text
    assert "| hello \\| there | greet | bye | NONE | test.yml:4 |" in text
    assert "`--min-accuracy 0.5`: passed." in text
    assert "Intents the model does not know (always wrong): `pizza` (1)." in text
    summary = summary_text(report)
    assert "accuracy              60.00%" in summary
    assert "unknown intents       pizza (1): always wrong" in summary


TRIP, GOT = trip_scored(" | ")  # a pipe the markdown table must escape


def test_entity_scores_read_back_and_gate() -> None:
    scores = score_entities(TRIP, GOT)
    assert (scores.correct, scores.support, scores.predicted) == (1, 3, 3)
    for minimum in (None, 0.3, 0.5):
        report = replace(sample_evaluation(), entities=scores, min_entity_f1=minimum)
        data = json.loads(json.dumps(report.to_json()))
        assert EvaluationReport.from_json(data, "report.json") == report
        assert data["entities"]["types"][0]["entity"] == "city"
    assert replace(sample_evaluation(), entities=scores, min_entity_f1=0.3).entity_passed is True
    assert replace(sample_evaluation(), entities=scores, min_entity_f1=0.5).entity_passed is False
    assert replace(sample_evaluation(), min_entity_f1=0.5).entity_passed is None  # no scores


def test_a_report_written_before_entities_reads_back_without_them() -> None:
    data = sample_evaluation().to_json()
    for key in ("entities", "min_entity_f1", "entity_passed"):
        del data[key]
    assert EvaluationReport.from_json(data, "report.json") == sample_evaluation()


def test_markdown_and_summary_show_entities_and_wrong_spans_with_file_and_line() -> None:
    report = replace(sample_evaluation(), entities=score_entities(TRIP, GOT), min_entity_f1=0.5)
    text = markdown(report)
    assert "## Entities" in text and "`--min-entity-f1 0.5`: FAILED." in text
    assert "| city | 1.000 | 0.500 | 0.667 | 2 | 1 |" in text
    assert (
        "| trip.yml:3 | wrong type | fly from paris to rome | [rome](city) | [rome](date) |" in text
    )
    assert "| trip.yml:8 | wrong boundary | book a table at 7pm \\| now |" in text
    summary = summary_text(report)
    assert "entities              F1 33.33% (precision 33.33%, recall 33.33%) on 3 spans" in summary
    assert "entities" not in summary_text(sample_evaluation())
