"""`intent-train evaluate`: the example bot's export scored on its held-out file through the
server's runtime; the report files, the entities against the file's annotations, the
--min-accuracy and --min-entity-f1 gates, unknown intents, and the user mistakes (exit 2,
one message, no traceback)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from intent_server.core.decision import OUT_OF_SCOPE, decide
from intent_server.core.entities.spans import EntitySpan
from intent_server.core.exports import load_export, resolve_current
from tests.fixtures.paths import HELDOUT
from tests.trainer.cli.test_train_cli import run_cli
from trainer.cli.train import main
from trainer.data import load_training_data
from trainer.entity_metrics import score_entities

Answers = tuple[list[str], list[str]]  # (truth, answer) per example


def evaluate(export_dir: Path, *args: str, models_dir: Path | None = None) -> int:
    """`intent-train evaluate` in this process (no progress bar)."""
    models = ["--models-dir", str(models_dir)] if models_dir is not None else []
    return main(["evaluate", "--quiet", "--export-dir", str(export_dir), *models, *args])


def answers_of(export_dir: Path, path: Path) -> Answers:
    """(truth, answer) of every example in `path`, worked out here with the server's runtime."""
    data = load_training_data(path, min_examples=1)
    loaded = load_export(resolve_current(export_dir, "default"))
    prediction = loaded.open().predict(data.texts())
    assert prediction.familiarity is not None
    answers = [
        decide(probs, loaded.labels, loaded.thresholds, float(familiarity)).label
        for probs, familiarity in zip(prediction.probabilities, prediction.familiarity, strict=True)
    ]
    return data.intents(), answers


@pytest.fixture(scope="module")
def runtime_answers(exported_example_model: Path) -> Answers:
    return answers_of(exported_example_model, HELDOUT)


@pytest.fixture(scope="module")
def heldout_run(
    exported_example_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The command itself (`python -m trainer.cli evaluate`) on the held-out file."""
    out = tmp_path_factory.mktemp("evaluation")
    result = run_cli(
        "evaluate",
        "--data", str(HELDOUT),
        "--export-dir", str(exported_example_model),
        "--models-dir", str(out / "no-models"),
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def test_scores_are_the_runtimes_answers(
    heldout_run: tuple[Path, subprocess.CompletedProcess[str]], runtime_answers: Answers
) -> None:
    out, result = heldout_run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    truth, answers = runtime_answers
    right = [a == t for a, t in zip(answers, truth, strict=True)]
    assert report["examples"] == len(truth)
    assert report["accuracy"] == pytest.approx(_share(right), abs=1e-12)
    texts = load_training_data(HELDOUT, min_examples=1).texts()
    assert [w["text"] for w in report["wrong"]] == [
        text for text, r in zip(texts, right, strict=True) if not r
    ]
    said_oos = sum(report["out_of_scope_answers"].values())
    assert said_oos == answers.count(OUT_OF_SCOPE)
    inscope = [r for r, t in zip(right, truth, strict=True) if t != OUT_OF_SCOPE]
    assert report["inscope_examples"] == len(inscope)
    assert report["inscope_accuracy"] == pytest.approx(_share(inscope), abs=1e-12)
    oos = [a == OUT_OF_SCOPE for a, t in zip(answers, truth, strict=True) if t == OUT_OF_SCOPE]
    assert report["oos_examples"] == len(oos) == 15
    assert report["oos_recall"] == pytest.approx(_share(oos), abs=1e-12)
    assert report["unknown_intents"] == {}
    assert report["accuracy"] > 0.9  # the bundled bot answers its held-out file well
    lines = result.stdout.splitlines()
    assert f"accuracy              {report['accuracy']:.2%}" in lines
    assert any(
        line.startswith(f"OOS recall            {report['oos_recall']:.2%} of 15") for line in lines
    )
    assert f"report: {out / 'report.md'}" in lines


def test_report_files_hold_the_tables(
    heldout_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = heldout_run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| intent | precision | recall | F1 | support |" in md
    book_flight = next(row for row in report["intents"] if row["intent"] == "book_flight")
    assert book_flight["support"] == 5
    assert f"| book_flight | {book_flight['precision']:.3f} |" in md
    assert f"OOS recall            {report['oos_recall']:.2%} of 15" in md
    assert (out / "confusion.png").read_bytes().startswith(b"\x89PNG")


@pytest.fixture()
def pizza_file(tmp_path: Path) -> Path:
    """Two intents the model knows the first of: greeting (lines 5-6), order_pizza (9-10)."""
    data = tmp_path / "test.yml"
    data.write_text(
        "version: 1\nintents:\n"
        "  greeting:\n    examples:\n      - hello there\n      - hey, good morning\n"
        "  order_pizza:\n    examples:\n      - one large pepperoni pizza please\n"
        "      - get me a margherita pizza\n"
    )
    return data


def test_unknown_intents_count_as_wrong_and_no_oos_recall_without_oos_examples(
    exported_example_model: Path,
    pizza_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = pizza_file
    assert evaluate(exported_example_model, "--data", str(data), "--out", str(tmp_path)) == 0
    captured = capsys.readouterr()
    assert f"'order_pizza' (2, first at {data}:9)" in captured.err
    assert "OOS recall" not in captured.out and "order_pizza (2): always wrong" in captured.out
    report = json.loads((tmp_path / "report.json").read_text())
    truth, answers = answers_of(exported_example_model, data)
    assert report["accuracy"] == _share([a == t for a, t in zip(answers, truth, strict=True)])
    assert [w["answer"] for w in report["wrong"]] == [
        a for a, t in zip(answers, truth, strict=True) if a != t
    ]
    assert report["unknown_intents"] == {"order_pizza": 2} and report["oos_recall"] is None
    pizza = [w for w in report["wrong"] if w["intent"] == "order_pizza"]
    assert [w["where"] for w in pizza] == [f"{data}:9", f"{data}:10"]
    assert report["accuracy"] <= 0.5
    md = (tmp_path / "report.md").read_text()
    assert "## Wrong answers" in md and "| one large pepperoni pizza please | order_pizza |" in md
    blocked = tmp_path / "report.md" / "out"  # a folder inside a file: cannot be created
    assert evaluate(exported_example_model, "--data", str(data), "--out", str(blocked)) == 2
    assert f"cannot write the report to {blocked}" in capsys.readouterr().err


def test_min_accuracy_gates_the_exit_code(
    exported_example_model: Path,
    pizza_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--data", str(pizza_file), "--out", str(tmp_path)]
    assert evaluate(exported_example_model, *args) == 0
    accuracy = json.loads((tmp_path / "report.json").read_text())["accuracy"]
    capsys.readouterr()
    assert evaluate(exported_example_model, *args, "--min-accuracy", str(accuracy)) == 0
    assert f"accuracy {accuracy:.4f} ({accuracy:.2%}) >= --min-accuracy" in capsys.readouterr().out
    above = str(accuracy + 0.01)
    assert evaluate(exported_example_model, *args, "--min-accuracy", above) == 1
    err = capsys.readouterr().err
    assert f"accuracy {accuracy:.4f} ({accuracy:.2%}) is below --min-accuracy {above}" in err
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is False


def test_a_trained_model_that_is_not_exported_is_refused(
    trained_example_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = evaluate(
        tmp_path / "exported", "--data", str(HELDOUT), models_dir=trained_example_model.parent
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "make export MODEL=default" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_data_file_exits_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nintents:\n  greet:\n    exmaples:\n      - hi\n")
    assert evaluate(tmp_path, "--data", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err and "exmaples" in err and "Traceback" not in err


def test_unknown_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = evaluate(tmp_path, "--data", str(HELDOUT), "--model", "nope", models_dir=tmp_path)
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["90", "-0.1", "nan", "abc"])
def test_min_accuracy_is_a_fraction(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        evaluate(tmp_path, "--data", str(HELDOUT), "--min-accuracy", value)
    assert exited.value.code == 2
    assert "--min-accuracy: is a fraction between 0 and 1" in capsys.readouterr().err


def test_help_says_where_the_report_goes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert "--min-accuracy" in out and "evaluation/MODEL/" in out and "intent-train export" in out


def test_entities_are_scored_as_the_runtime_answers_them(
    heldout_run: tuple[Path, subprocess.CompletedProcess[str]], exported_example_model: Path
) -> None:
    out, result = heldout_run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    data = load_training_data(HELDOUT, min_examples=1)
    loaded = load_export(resolve_current(exported_example_model, "default"))
    entities = loaded.open().predict(data.texts()).entities
    assert entities is not None  # the example bot has an entity head
    spans = [[EntitySpan(e.start, e.end, e.entity, e.value) for e in row] for row in entities]
    expected = score_entities(data.examples, spans)
    assert report["entities"] == json.loads(json.dumps(expected.to_json()))
    annotated = {(str(e.source), e.line) for e in data.examples if e.entities}
    assert report["entities"]["support"] == sum(len(e.entities) for e in data.examples) == 13
    assert {row["entity"] for row in report["entities"]["types"]} >= {"city", "date", "location"}
    for wrong in report["entities"]["wrong"]:  # each names its example's file and line
        example = next(e for e in data.examples if (str(e.source), e.line) == (
            wrong["source"], wrong["line"]))  # fmt: skip
        assert example.text == wrong["example"] and wrong["source"] == str(HELDOUT)
        if wrong["truth"] is not None:
            assert (wrong["source"], wrong["line"]) in annotated
    assert (report["min_entity_f1"], report["entity_passed"]) == (None, None)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Entities" in md and "| entity | precision | recall | F1 |" in md
    f1 = report["entities"]["f1"]
    assert f"entities              F1 {f1:.2%}" in result.stdout


def test_min_entity_f1_gates_the_exit_code(
    exported_example_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(HELDOUT), "--out", str(tmp_path)]
    assert evaluate(exported_example_model, *args, "--min-entity-f1", "0") == 0
    f1 = json.loads((tmp_path / "report.json").read_text())["entities"]["f1"]
    assert f"entity F1 {f1:.4f} ({f1:.2%}) >= --min-entity-f1 0" in capsys.readouterr().out
    assert f1 < 1.0  # the held-out wording is not all answered right: the gate can fail
    above = f"{f1 + 0.001:.4f}"
    assert evaluate(exported_example_model, *args, "--min-entity-f1", above) == 1
    err = capsys.readouterr().err
    assert f"entity F1 {f1:.4f} ({f1:.2%}) is below --min-entity-f1 {float(above):g}" in err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["entity_passed"] is False and report["passed"] is None
    assert f"`--min-entity-f1 {float(above)}`: FAILED." in (tmp_path / "report.md").read_text()


def test_min_entity_f1_without_annotations_is_a_mistake(
    exported_example_model: Path,
    pizza_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--data", str(pizza_file), "--out", str(tmp_path / "out")]
    assert evaluate(exported_example_model, *args, "--min-entity-f1", "0.5") == 2
    err = capsys.readouterr().err
    assert f"{pizza_file} has none: annotate the entities" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    assert evaluate(exported_example_model, *args) == 0  # without the gate: no entity section
    assert json.loads((tmp_path / "out" / "report.json").read_text())["entities"] is None


def test_min_entity_f1_without_an_entity_head_is_a_mistake(
    exported_entity_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(HELDOUT), "--model", "plain", "--out", str(tmp_path / "out")]
    assert evaluate(exported_entity_model, *args, "--min-entity-f1", "0.5") == 2
    err = capsys.readouterr().err
    assert "model 'plain'" in err and "has none: it was trained on examples without" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
