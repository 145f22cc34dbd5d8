"""YAML aliases (`*name`) are refused in training data before anything is built from them:
a few hundred aliases of one example list would otherwise multiply the examples, the
duplicate checks and the warnings (a 40 KB file took 21 s and 853 MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT
from tests.trainer.data.samples import NATIVE, RASA, write
from trainer.data import validate_path

ALIAS_MESSAGE = "YAML aliases are not allowed in training data"


def alias_bomb(aliases: int) -> str:
    """A Rasa file whose intents all reuse one anchored examples block (~40 bytes each)."""
    sentences = "".join(f"    - please book flight number {n}\n" for n in range(30))
    head = f'version: "3.1"\nnlu:\n- intent: book\n  examples: &shared |\n{sentences}'
    items = "".join(f"- intent: book_{n}\n  examples: *shared\n" for n in range(aliases))
    return head + items


def test_native_alias_is_an_error_naming_the_alias_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        """\
        version: 1
        intents:
          greet:
            examples: &hello
              - hi
              - hello
              - hey
          greet_again:
            examples: *hello
        """,
    )
    result = validate_path(path)
    assert result.data is None
    assert [p.line for p in result.errors] == [9]
    problem = result.errors[0]
    assert problem.source == path
    assert ALIAS_MESSAGE in problem.message and "write the examples out" in problem.message
    assert "*hello" in problem.message and "&hello on line 4" in problem.message
    assert problem.format().startswith(f"{path}:9: error: {ALIAS_MESSAGE}")
    assert not result.warnings  # the file is refused whole: no duplicates are reported


def test_merge_keys_and_scalar_aliases_are_refused_too(tmp_path: Path) -> None:
    text = "version: 1\nintents:\n  greet:\n    examples: [&h hi, hello, hey]\n  bye: {<<: *h}\n"
    path = write(tmp_path, "bot.yml", text)
    errors = validate_path(path).errors
    assert [(p.line, ALIAS_MESSAGE in p.message) for p in errors] == [(5, True)]


def test_anchors_without_aliases_and_stars_in_text_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "bot.yml", NATIVE.replace("- hi", "- '*hi* & *bye*'"))
    assert validate_path(path).ok
    anchored = write(tmp_path, "anchored.yml", NATIVE.replace("examples:", "examples: &x", 1))
    assert validate_path(anchored).ok


def test_aliases_in_sections_the_trainer_skips_are_left_alone(tmp_path: Path) -> None:
    rules = "rules:\n- rule: a\n  steps: &steps\n  - intent: greet\n- rule: b\n  steps: *steps\n"
    write(tmp_path, "rules.yml", rules)
    write(tmp_path, "nlu.yml", RASA + rules)
    result = validate_path(tmp_path)
    assert not result.errors, [p.format() for p in result.problems]
    aliased = RASA.replace("examples: |", "examples: &same |", 1)
    path = write(tmp_path, "nlu.yml", aliased + "- intent: bye\n  examples: *same\n" + rules)
    [error] = validate_path(tmp_path).errors
    assert (error.source, error.line) == (path, 14)
    assert error.message.endswith("(*same here repeats &same on line 4)")


def test_a_thousand_aliases_are_refused_with_one_error(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu.yml", alias_bomb(1000))
    assert 35_000 < path.stat().st_size < 60_000
    result = validate_path(path)
    assert result.data is None
    assert len(result.problems) == 1, [p.format() for p in result.problems[:3]]
    problem = result.problems[0]
    assert problem.line == 36 and ALIAS_MESSAGE in problem.message
    assert "1000 aliases in this file" in problem.message


def test_other_files_of_a_folder_are_still_checked(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", alias_bomb(3))
    write(tmp_path, "b.yml", NATIVE)
    result = validate_path(tmp_path)
    assert [p.source.name for p in result.errors if p.source] == ["a.yml"]


@pytest.mark.parametrize("command", ["validate", "train"])
def test_the_commands_report_it_like_other_data_errors(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, "nlu.yml", alias_bomb(1000))
    args = [str(path)] if command == "validate" else ["--data", str(path)]
    args += ["--models-dir", str(tmp_path / "models")] if command == "train" else []
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", command, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"{path}:36: error: {ALIAS_MESSAGE}" in output
    assert "Traceback" not in output and "duplicate" not in output
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
