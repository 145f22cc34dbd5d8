"""`intent-train validate`: problems, a summary, exit 0 or 2 and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.paths import EXAMPLES, ROOT
from tests.trainer.data.samples import native, write
from trainer.cli.validate import run_validate_command


def test_run_validate_command_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_validate_command(EXAMPLES) == 0
    out = capsys.readouterr().out
    assert "OK (0 errors, 0 warnings)" in out
    assert "18 intents, plus out_of_scope, from 6 files" in out
    assert "examples per intent: min " in out and ", max " in out
    assert "  book_flight " in out


def test_run_validate_command_reports_problems_and_returns_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples: [hi, hello, hey, hey]\nbye:\n  examples: [bye]\n"),
    )
    assert run_validate_command(path) == 2
    out = capsys.readouterr().out
    assert f"{path}:5: error: intent 'bye': has 1 example" in out
    assert f"{path}:4: warning: intent 'greet': duplicate example 'hey'" in out
    assert "1 error, 1 warning; fix the errors above" in out


def test_run_validate_command_missing_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_validate_command(tmp_path / "missing") == 2
    assert "missing: error: not found" in capsys.readouterr().out


def test_warnings_only_still_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "bot.yml", native("a:\n  examples: [x, y, z, z]\nb:\n  examples: [u, v, w]\n")
    )
    assert run_validate_command(path) == 0
    assert "OK (0 errors, 1 warning)" in capsys.readouterr().out


def test_intent_train_validate_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "bot.yml", native("greet:\n  examples: [hi]\n"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "trainer.cli", "validate", str(path)]
    bad = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert bad.returncode == 2, bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "has 1 example but at least 3" in bad.stdout + bad.stderr
    good = subprocess.run(
        [*command[:-1], str(EXAMPLES)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=300,
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK" in good.stdout
