"""report.md and the console summary, rendered from a `TrainingReport`."""

from __future__ import annotations

from tests.trainer.training.test_report import TUNED, sample_report
from trainer.training.report_text import markdown, summary_text


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
