"""`intent-train export` and its alias `intent-export`: the same options, the same exit codes
(the exports themselves: tests/trainer/export/)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from trainer.cli.export import build_parser as export_parser
from trainer.cli.export import main as export_main
from trainer.cli.train import build_parser as train_parser
from trainer.cli.train import main as train_main


def _flags(parser: argparse.ArgumentParser) -> list[tuple[object, ...]]:
    return [
        (tuple(a.option_strings), a.dest, a.default, a.choices, a.required, a.nargs, a.help)
        for a in parser._actions
    ]


def _export_subparser() -> argparse.ArgumentParser:
    (sub,) = [a for a in train_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser: argparse.ArgumentParser = sub.choices["export"]
    return parser


def test_intent_train_export_and_intent_export_take_the_same_options() -> None:
    assert _flags(_export_subparser()) == _flags(export_parser())
    argv = ["--model", "m", "--keep", "0", "--skip-int8", "--opset", "18"]
    assert vars(_export_subparser().parse_args(argv)) == vars(export_parser().parse_args(argv))


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--opset", "5"], "--opset must be between 13 and 21, got 5"),
        (["--keep", "-1"], "--keep must be 0 (keep all) or more"),
        (["--skip-int8", "--require-int8"], "--skip-int8 and --require-int8 exclude each other"),
        (["--model", "missing"], "no trained model"),
    ],
)
def test_mistakes_exit_2_with_the_same_message_from_both(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = ["--models-dir", str(tmp_path / "models"), "--export-dir", str(tmp_path / "out")]
    assert export_main([*argv, *folders, "--quiet"]) == 2
    alias_err = capsys.readouterr().err
    assert train_main(["export", *argv, *folders, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err == alias_err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_bad_flag_value_exits_2_from_both(capsys: pytest.CaptureFixture[str]) -> None:
    for run in (lambda: export_main(["--opset", "x"]), lambda: train_main(["export", "--keep"])):
        with pytest.raises(SystemExit) as exited:
            run()
        assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
