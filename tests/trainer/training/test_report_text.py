"""report.md and the console summary, rendered from a `TrainingReport`."""

from __future__ import annotations

from dataclasses import replace

from tests.trainer.training.test_report import TUNED, sample_entities, sample_report
from trainer.training.report_text import label_summary_lines, markdown, summary_text


def test_markdown_has_every_section_and_escapes_pipes_in_texts() -> None:
    report = sample_report(TUNED)
    text = markdown(report, "bot", "v1")
    assert text.startswith("# Training report: bot v1\n")
    assert f"Encoder: {TUNED.summary()}." in text
    for header in (
        "| max in-scope loss | confidence | margin | familiarity | in-scope accuracy "
        "| OOS recall |",
        "| sigmas | floor | correct in-scope turned away | out_of_scope caught |",
        "| true | predicted | count | example |",
        "| intent | precision | recall | F1 | support |",
    ):
        assert f"\n{header}\n|---|" in text
    pair = report.labels.confusions[0]
    assert f"| {pair.true} | {pair.predicted} | {pair.count} | " in text
    escaped = pair.example.replace("|", "\\|")
    assert "|" in pair.example and f"| {pair.example} |" not in text
    assert f" | {escaped} |" in text
    row = report.labels.intents[0]
    assert f"| {row.intent} | {row.precision:.3f} | {row.recall:.3f} | {row.f1:.3f} |" in text


def test_summary_names_the_scores_and_the_worst_intents() -> None:
    report = sample_report()
    lines = summary_text(report).splitlines()
    assert lines[1] == f"accuracy              {report.labels.accuracy:.2%}"
    assert lines[2] == f"macro-F1              {report.labels.macro_f1:.2%}"
    assert "OOS recall" in lines[3] and lines[4].startswith("worst intents (F1)    ")
    assert sum(line.startswith("confused") for line in lines) == min(
        5, len(report.labels.confusions)
    )


def test_entities_in_markdown_and_summary_with_the_wrong_spans_file_and_line() -> None:
    report = replace(sample_report(), entities=sample_entities())
    text = markdown(report, "bot", "v1")
    assert "\n## Entities\n" in text and "A head trained without 2 of the 24 annotated" in text
    assert "| city | 1.000 | 0.500 | 0.667 | 2 | 1 |" in text
    assert "| **micro average** | 0.333 | 0.333 | 0.333 | 3 | 3 |" in text
    assert (
        "| trip.yml:3 | wrong type | fly from paris to rome | [rome](city) | [rome](date) |" in text
    )
    assert "| trip.yml:8 | wrong boundary |" in text
    line = summary_text(report).splitlines()[-1 - len(label_summary_lines(report.labels))]
    assert line == (
        "entities (held-out)   2 examples: F1 33.33% (precision 33.33%, recall 33.33%) on 3 "
        "spans; worst time 0.00, city 0.67"
    )
    unscored = replace(sample_report(), entities=sample_entities(scored=False))
    assert "24 annotated examples: too few to hold a fifth out" in markdown(unscored, "b", "v")
    assert "## Entities" not in markdown(sample_report(), "bot", "v1")
    assert "entities" not in summary_text(sample_report())
