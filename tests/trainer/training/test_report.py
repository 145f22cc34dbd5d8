"""The training report: `TrainingReport` written and read back by the same code (its JSON keys
pinned), errors naming the file and key, and the confusion plot at any intent count."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from intent_server.core.decision import Thresholds
from intent_server.core.files import write_json
from intent_server.core.layout import MODEL_CARD, REPORT_DIR
from intent_server.core.model_card import FineTuning, ModelCard
from tests.fixtures.entities import trip_scored
from tests.fixtures.paths import EXAMPLES
from tests.trainer.calibration.test_thresholds import LABELS, synthetic
from trainer.calibration.thresholds import Calibration, choose_thresholds, threshold_cost
from trainer.data import load_training_data
from trainer.entity_metrics import score_entities
from trainer.training.confusion_plot import plot_confusion
from trainer.training.report import (
    EntitySection,
    ReportError,
    TrainingReport,
    build_report,
    intents_needing_examples,
)
from trainer.training.report_text import markdown, summary_text

TUNED = FineTuning(
    recipe="contrastive",
    mode="auto",
    kept="tuned",
    compared_on="cross-validated",
    compared_examples=800,
    frozen_accuracy=0.9,
    tuned_accuracy=0.95,
    base_weights_sha256="ab" * 32,
    runs=6,
    epochs=3,
    steps=120,
    stopped_early=False,
    minutes=4.5,
)


def sample_report(fine_tuning: FineTuning | None = None) -> TrainingReport:
    """A report of synthetic calibration data with out_of_scope examples."""
    cal = synthetic(300, 100, seed=1)
    th = choose_thresholds(cal, unfamiliar_sigmas=1.9, max_inscope_loss=0.01)
    texts = [f"text {i} | {cal.labels[t]}" for i, t in enumerate(cal.truth.tolist())]
    return build_report(cal, texts, th, threshold_cost(cal, th), 1.9, fine_tuning)


def test_the_report_reads_back_what_it_wrote(tmp_path: Path) -> None:
    for fine_tuning in (None, TUNED):
        report = sample_report(fine_tuning)
        write_json(tmp_path / "report.json", report.to_json())
        assert TrainingReport.read(tmp_path / "report.json") == report


def test_report_json_keeps_its_keys() -> None:
    data = sample_report(TUNED).to_json()
    assert list(data) == [
        "validation_examples",
        "validation_method",
        "accuracy",
        "macro_f1",
        "intents",
        "worst_intents",
        "confusions",
        "thresholds",
        "familiarity",
        "operating_points",
        "fine_tuning",
    ]
    assert list(sample_report().to_json())[-1] == "operating_points"  # no fine_tuning key
    assert set(data["intents"][0]) == {"intent", "precision", "recall", "f1", "support"}
    assert list(data["thresholds"]) == [
        "confidence",
        "margin",
        "rule",
        "inscope_validation_examples",
        "inscope_accuracy_without_thresholds",
        "inscope_accuracy_with_thresholds",
        "correct_inscope_rejected",
        "oos_validation_examples",
        "oos_recall",
    ]
    assert list(data["familiarity"]) == [
        "threshold",
        "inscope_mean",
        "inscope_std",
        "inscope_min",
        "tradeoff",
        "per_intent",
    ]
    assert set(data["familiarity"]["per_intent"][0]) == {"intent", "answered_right", "turned_away"}
    assert data["fine_tuning"]["summary"] == TUNED.summary()


def test_without_calibration_texts_the_report_holds_nones() -> None:
    cal = Calibration(
        np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.int64), np.zeros(0), LABELS, ""
    )
    report = build_report(cal, [], Thresholds(), threshold_cost(cal, Thresholds()), 1.9)
    assert report.validation_examples == 0 and report.labels.accuracy == 0.0
    assert report.thresholds.inscope_accuracy_with_thresholds is None
    assert report.familiarity.inscope_mean is None and report.familiarity.tradeoff == ()
    assert report.operating_points == ()


def _damaged(tmp_path: Path, change: str) -> Path:
    data = json.loads(json.dumps(sample_report().to_json()))
    if change == "f1":
        data["intents"][1]["f1"] = "high"
    elif change == "rule":
        del data["thresholds"]["rule"]
    elif change == "row":
        data["operating_points"][0] = [1, 2]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data) if change != "json" else "{", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("f1", "intents[1].f1 must be a number, found 'high'"),
        ("rule", "lacks thresholds.rule"),
        ("row", "operating_points[0] must be a JSON object"),
        ("json", "cannot be read"),
    ],
)
def test_a_damaged_report_names_the_file_and_the_key(
    tmp_path: Path, change: str, message: str
) -> None:
    path = _damaged(tmp_path, change)
    with pytest.raises(ReportError) as raised:
        TrainingReport.read(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_confusion_plot_with_many_intents_shows_only_those_with_errors(tmp_path: Path) -> None:
    labels = [f"intent_{i:03d}" for i in range(90)]
    y_true = np.repeat(np.arange(90), 3)
    y_pred = y_true.copy()
    y_pred[[0, 10, 20]] = [5, 6, 7]
    plot_confusion(tmp_path / "c.png", y_true, y_pred, labels)
    from PIL import Image

    with Image.open(tmp_path / "c.png") as image:
        image.verify()
        assert image.size[0] >= 400


def test_a_report_written_before_per_intent_rejections_reads_as_none_listed(
    tmp_path: Path,
) -> None:
    data = sample_report().to_json()
    del data["familiarity"]["per_intent"]
    write_json(tmp_path / "report.json", data)
    assert TrainingReport.read(tmp_path / "report.json").familiarity.per_intent == ()


def test_the_report_counts_what_the_floor_turns_away_per_intent() -> None:
    # Three intents without out_of_scope examples, every answer right; intent "b"'s
    # examples are the least familiar, so the floor turns away three of its ten.
    labels = ("a", "b", "c")
    truth = np.repeat(np.arange(3), 10)
    probs = np.eye(3, dtype=np.float32)[truth] * 0.9 + 0.1 / 3
    familiarity = np.full(30, 0.9, dtype=np.float32)
    familiarity[10:13] = 0.2
    cal = Calibration(probs, truth, familiarity, labels, "cross-validated")
    th = Thresholds(familiarity=0.5)
    report = build_report(cal, [f"t{i}" for i in range(30)], th, threshold_cost(cal, th), 2.2)
    rows = {
        row.intent: (row.answered_right, row.turned_away) for row in report.familiarity.per_intent
    }
    assert rows == {"a": (10, 0), "b": (10, 3), "c": (10, 0)}
    assert intents_needing_examples(report) == ["b (3 of 10 turned away)"]
    assert "add examples to        b (3 of 10 turned away)" in summary_text(report)


def sample_entities(scored: bool = True) -> EntitySection:
    """The held-out entity measurement of two trip examples (one right span of three)."""
    examples, got = trip_scored()
    return EntitySection(24, 2, score_entities(examples, got) if scored else None)


def test_the_entity_section_reads_back_and_comes_last(tmp_path: Path) -> None:
    for section in (sample_entities(), sample_entities(scored=False)):
        report = replace(sample_report(TUNED), entities=section)
        write_json(tmp_path / "report.json", report.to_json())
        assert TrainingReport.read(tmp_path / "report.json") == report
        data = report.to_json()
        assert list(data)[-1] == "entities"
        assert list(data["entities"])[:3] == ["annotated_examples", "held_out_examples", "scores"]
    scores = sample_entities().to_json()["scores"]
    assert [row["entity"] for row in scores["types"]] == ["city", "date", "time"]
    assert {"kind", "example", "source", "line", "truth", "predicted"} <= set(scores["wrong"][0])
    assert "entities" not in sample_report().to_json()  # a bot without annotations


def test_a_head_tuned_with_the_encoder_reports_the_comparisons_slot_f1(tmp_path: Path) -> None:
    tuned = EntitySection(13084, 0, None, tuned_f1=0.9522, tuned_spans=1794)
    report = replace(sample_report(TUNED), entities=tuned)
    write_json(tmp_path / "report.json", report.to_json())
    assert TrainingReport.read(tmp_path / "report.json") == report
    text = markdown(report, "trip", "v1")
    assert "F1 95.22% on 1794 spans the fine-tuning comparison held out" in summary_text(report)
    assert "scored it on 1794 spans of examples it did not train on: slot F1 95.22%" in text
    assert "too few" not in text
    older = report.to_json()  # a report written before the tuned fields existed
    for key in ("tuned_f1", "tuned_spans"):
        del older["entities"][key]
    write_json(tmp_path / "older.json", older)
    assert TrainingReport.read(tmp_path / "older.json").entities == replace(
        tuned, tuned_f1=None, tuned_spans=0
    )


def test_the_example_bot_reports_its_entity_head_held_out(trained_example_model: Path) -> None:
    report = TrainingReport.read(trained_example_model / REPORT_DIR / "report.json")
    annotated = [e for e in load_training_data(EXAMPLES).examples if e.entities]
    section = report.entities
    assert section is not None and section.annotated_examples == len(annotated) >= 20
    assert section.held_out_examples == round(len(annotated) / 5)
    scores = section.scores
    assert scores is not None and {row.entity for row in scores.types} >= {"city", "date"}
    card = ModelCard.read(trained_example_model / MODEL_CARD)
    assert card.entities is not None  # the model card's micro F1 is the report's
    assert (card.entities.val_f1, card.entities.val_spans) == (scores.f1, scores.support)
    by_place = {(str(e.source), e.line): e for e in annotated}
    for wrong in scores.wrong:  # every wrong span names a held-out example's file and line
        assert by_place[(wrong.source, wrong.line)].text == wrong.example
    text = (trained_example_model / REPORT_DIR / "report.md").read_text(encoding="utf-8")
    assert "\n## Entities\n" in text and "| **micro average** |" in text


def test_a_bot_without_annotations_reports_no_entities(trained_entity_model: Path) -> None:
    plain = trained_entity_model.parent / "plain" / REPORT_DIR
    assert "entities" not in json.loads((plain / "report.json").read_text(encoding="utf-8"))
    assert "## Entities" not in (plain / "report.md").read_text(encoding="utf-8")
    slots = TrainingReport.read(trained_entity_model / REPORT_DIR / "report.json")
    assert slots.entities is not None and slots.entities.scores is not None
