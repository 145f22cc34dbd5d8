"""docs/reference/options.md is what the declarations generate, the same on every machine."""

from __future__ import annotations

import pytest

from intent_server.core.options import Program
from tests.fixtures.paths import ROOT
from tools.options_reference import PROGRAMS, REFERENCE, main, reference


def test_the_committed_reference_is_up_to_date() -> None:
    committed = (ROOT / REFERENCE).read_text(encoding="utf-8")
    assert committed == reference(), "docs/reference/options.md is stale: run 'make options'"


def test_the_reference_is_deterministic() -> None:
    text = reference()
    assert text == reference()
    assert str(ROOT) not in text and "/home/" not in text


def _programs(programs: tuple[Program, ...]) -> list[Program]:
    return [p for program in programs for p in (program, *_programs(program.commands))]


def test_every_program_and_flag_is_listed() -> None:
    text = reference()
    for program in _programs(PROGRAMS):
        assert f"## {program.name}\n" in text
        for item, prefix in program.items():
            if item.option.cli and not item.option.positional:
                assert f"`{item.flag}" in text, item.flag
            if item.env_name(prefix):
                assert f"`{item.env_name(prefix)}`" in text
    assert "`intent-export`" in text


def test_check_names_the_stale_file(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check"]) == 0
    stale = tmp_path_factory.mktemp("ref") / "options.md"
    stale.write_text("old\n", encoding="utf-8")
    assert main(["--check", "--out", str(stale)]) == 1
    assert "is stale: run 'make options' and commit it" in capsys.readouterr().err
