"""The benchmark commands' options: declared like every program's, same flags and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import loadgen
from bench import run as bench_run
from bench.datasets import DATASETS_ENV
from bench.finetune import __main__ as finetune_main
from bench.finetune.plan import FineTunePlan


def test_datasets_come_from_the_flag_then_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATASETS_ENV, raising=False)
    assert bench_run.parse_args([]).datasets is None  # datasets_dir() decides
    monkeypatch.setenv(DATASETS_ENV, "/data/sets")
    assert bench_run.parse_args([]).datasets == Path("/data/sets")
    assert finetune_main.parse_args(["--out", "f.json"]).datasets == Path("/data/sets")
    assert bench_run.parse_args(["--datasets", "here"]).datasets == Path("here")


def test_bench_defaults_and_switches() -> None:
    options = bench_run.parse_args(["--small", "--skip-depth"])
    assert options.out == bench_run.DEFAULT_OUT
    assert (options.small, options.skip_depth, options.skip_speed) == (True, True, False)


def test_entity_options(capsys: pytest.CaptureFixture[str]) -> None:
    default = bench_run.parse_args([])
    assert default.entity_subsets == ("full", "70", "10")
    assert (default.skip_entities, default.entity_fine_tune) == (False, False)
    chosen = bench_run.parse_args(["--entity-subsets", "70,10", "--entity-fine-tune"])
    assert (chosen.entity_subsets, chosen.entity_fine_tune) == (("70", "10"), True)
    assert bench_run.parse_args(["--skip-entities"]).skip_entities is True
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--entity-subsets", "all"])
    assert "'all' is neither 'full' nor a count per intent" in capsys.readouterr().err


def test_finetune_options_default_to_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    options = finetune_main.parse_args(["--out", "f.json", "--only", "clinc"])
    assert (options.shots, options.seeds) == (FineTunePlan().shots, FineTunePlan().seeds)
    assert options.only == "clinc"
    assert finetune_main.parse_args(["--out", "f", "--shots", "5,0"]).shots == (5, 0)
    with pytest.raises(SystemExit):
        finetune_main.parse_args(["--out", "f", "--shots", "five"])
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_loadgen_phases() -> None:
    options = loadgen.parse_args(["--target", "h:1", "--texts", "t.json", "--clients", "1", "8"])
    assert (options.clients, options.seconds, options.method) == ((1, 8), 5.0, "classify")
