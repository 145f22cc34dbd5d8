"""`intent-train`: exit codes and messages (user mistakes -> 2, one line of why, no traceback)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT
from trainer.cli.train import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_help_lists_options_with_defaults() -> None:
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for option in (
        "--data",
        "--model",
        "--models-dir",
        "--encoder",
        "--cache-dir",
        "--hidden",
        "--dropout",
        "--lr",
        "--epochs",
        "--patience",
        "--batch-size",
        "--seed",
        "--val-fraction",
        "--weight-decay",
        "--label-smoothing",
    ):
        assert option in result.stdout
    assert "default: 0.3" in result.stdout and "default: 13" in result.stdout


def test_bad_data_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nintents:\n  greet:\n    examples:\n      - hi\n")
    result = run_cli("train", "--data", str(bad), "--models-dir", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "bad.yml" in result.stderr
    assert not (tmp_path / "m" / "default").exists()


def test_bad_entity_markup_trains_nothing_and_keeps_the_previous_model(tmp_path: Path) -> None:
    bad = tmp_path / "nlu.yml"
    bad.write_text(
        "nlu:\n- intent: a\n  examples: |\n    - x one\n    - x two\n    - x three\n"
        "- intent: b\n  examples: |\n    - y one\n    - y two\n    - to [Rome]{city}\n"
    )
    previous = tmp_path / "m" / "default"
    previous.mkdir(parents=True)
    (previous / "model.json").write_text("{}")
    result = run_cli("train", "--data", str(bad), "--models-dir", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}:11: error: intent 'b': bad JSON in '[Rome]{{city}}'" in result.stderr
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["default"]
    assert [p.name for p in previous.iterdir()] == ["model.json"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--data", "no/such/folder"], "not found"),
        (["train", "--hidden", "0"], "--hidden"),
        (["train", "--hidden", "abc"], "--hidden"),
        (["train", "--val-fraction", "2"], "--val-fraction"),
        (["train", "--model", "../evil"], "invalid model name"),
        (["train", "--encoder", "/no/such/encoder"], "does not exist"),
    ],
)
def test_user_mistakes_exit_2_with_a_message(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main([*args, "--models-dir", str(tmp_path)]))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_encoder_folder_that_is_not_sentence_transformers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "config.json").write_text("{}")
    code = main(["train", "--encoder", str(tmp_path / "enc"), "--models-dir", str(tmp_path)])
    assert code == 2
    assert "not a sentence-transformers model folder" in capsys.readouterr().err


def test_validate_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "examples" / "assistant")]) == 0
    assert main(["validate", "no/such/file.yml"]) == 2


def test_train_command_writes_the_model(tmp_path: Path, embedding_cache_dir: Path) -> None:
    result = run_cli(
        "train",
        "--data",
        str(ROOT / "tests" / "data" / "assistant_heldout.yml"),
        "--model",
        "cli",
        "--models-dir",
        str(tmp_path),
        "--cache-dir",
        str(embedding_cache_dir),
        "--epochs",
        "5",
        "--min-examples",
        "1",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "cli") in result.stdout
    assert (tmp_path / "cli" / "model.json").is_file()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_training_keeps_the_previous_model(
    sig: signal.Signals,
    code: int,
    tmp_path: Path,
    trained_example_model: Path,
    embedding_cache_dir: Path,
) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained_example_model, models / "default")
    before = (models / "default" / "model.json").read_bytes()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer.cli",
            "train",
            "--models-dir",
            str(models),
            "--cache-dir",
            str(embedding_cache_dir),
            "--epochs",
            "100000",
            "--patience",
            "100000",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored; Ctrl-C reaches a terminal's.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    for line in process.stderr:  # the head starts training right after this line
        if line.startswith("embeddings:"):
            break
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code
    assert "Traceback" not in err
    assert (models / "default" / "model.json").read_bytes() == before
    assert [p.name for p in models.iterdir()] == ["default"]
