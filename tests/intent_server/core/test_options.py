"""Options declared once as dataclass fields: flags, environment variables, checks, shared
declarations, and the programs built from them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import pytest

from intent_server.config import SERVER, ServerConfig, parse_config
from intent_server.core.cpus import auto_threads
from intent_server.core.options import (
    EXPORT_DIR,
    MODEL,
    Checked,
    OptionsError,
    Program,
    declared,
    env_values,
    option,
    options_from_args,
)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class Sample(Checked):
    options_what: ClassVar[str] = "sample options"

    name: str = field(default="x", metadata=option(help="a name"))
    count: int = field(default=2, metadata=option(parse=_count, group="numbers", help="how many"))
    ratio: float = field(
        default=0.5,
        metadata=option(check=lambda v: 0 < v < 1, must="be in (0, 1)", help="a ratio"),
    )
    colour: str = field(
        default="red", metadata=option(parse=str.lower, choices=("red", "blue"), help="colour")
    )
    verbose: bool = field(default=False, metadata=option(help="say more"))
    cached: bool = field(default=True, metadata=option(off_flag="--no-cache", help="no cache"))
    secret: str = field(default="", metadata=option(cli=False, help="env only"))
    folder: Path | None = field(
        default=None, metadata=option(parse=Path, env="FOLDER_PATH", help="a folder")
    )


SAMPLE = Program("sample", "A sample program.", options=(Sample,), env_prefix="SAMPLE_")


def parse(argv: list[str], env: dict[str, str] | None = None) -> Sample:
    return options_from_args(SAMPLE.parse_args(argv, env=env or {}), Sample)


def test_no_flags_no_variables_give_the_declared_defaults() -> None:
    assert parse([]) == Sample()


def test_flags_win_over_variables_and_variables_over_defaults() -> None:
    env = {"SAMPLE_COUNT": "7", "SAMPLE_NAME": "from-env", "SAMPLE_COLOUR": "BLUE"}
    assert parse([], env) == Sample(count=7, name="from-env", colour="blue")
    assert parse(["--count", "3"], env) == Sample(count=3, name="from-env", colour="blue")


def test_variable_names_follow_the_flags() -> None:
    names = {item.name: item.env_name("SAMPLE_") for item in declared(Sample)}
    assert names["cached"] == "SAMPLE_NO_CACHE"  # named after --no-cache
    assert names["secret"] == "SAMPLE_SECRET"  # no flag: after the field
    assert names["folder"] == "SAMPLE_FOLDER_PATH"  # named in the declaration
    assert {item.name: item.env_name("") for item in declared(Sample)}["count"] == ""


def test_switch_variables_read_as_switches() -> None:
    env = {"SAMPLE_VERBOSE": "yes", "SAMPLE_NO_CACHE": "1", "SAMPLE_SECRET": "s3"}
    assert parse([], env) == Sample(verbose=True, cached=False, secret="s3")
    assert parse([], {"SAMPLE_NO_CACHE": "off"}).cached is True


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SAMPLE_COUNT": "-1"}, "environment variable SAMPLE_COUNT='-1': must be >= 0"),
        ({"SAMPLE_COUNT": "many"}, "environment variable SAMPLE_COUNT='many'"),
        ({"SAMPLE_VERBOSE": "maybe"}, "SAMPLE_VERBOSE='maybe': expected 1/0"),
        ({"SAMPLE_COLOUR": "green"}, "SAMPLE_COLOUR='green': must be one of red, blue"),
    ],
)
def test_a_bad_variable_is_an_error_naming_it(
    env: dict[str, str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(OptionsError, match=needle.split(":")[0]):
        env_values(Sample, "SAMPLE_", env)
    with pytest.raises(SystemExit) as exited:
        parse([], env)
    assert exited.value.code == 2
    assert needle in capsys.readouterr().err


def test_choices_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(["--colour", "BLUE"]).colour == "blue"  # parsed, then checked
    with pytest.raises(SystemExit) as exited:
        parse(["--colour", "green"])
    assert exited.value.code == 2
    assert "--colour: invalid choice: 'green'" in capsys.readouterr().err


def test_checks_list_every_problem() -> None:
    with pytest.raises(OptionsError) as raised:
        Sample(ratio=2.0)
    assert str(raised.value) == "invalid sample options:\n  --ratio must be in (0, 1), got 2.0"


def test_help_shows_groups_defaults_and_variables() -> None:
    text = SAMPLE.parser().format_help()
    assert "numbers:" in text and "(default: 2) [env SAMPLE_COUNT]" in text
    assert "[env SAMPLE_VERBOSE=1]" in text and "--no-cache" in text
    assert "SAMPLE_SECRET: env only" in text  # no flag: listed after the options


def test_the_shared_model_option_is_one_declaration() -> None:
    from trainer.cli.options import EvaluateOptions, ExportOptions, TrainCommandOptions

    def model_of(kind: type) -> tuple[object, str, str]:
        (item,) = [item for item in declared(kind) if item.flag == "--model"]
        return item.default, item.option.help, item.option.metavar

    shared = (MODEL.default, MODEL.option.help, MODEL.option.metavar)
    for kind in (TrainCommandOptions, EvaluateOptions, ExportOptions):
        assert model_of(kind) == shared
    server_default, server_help, _ = model_of(ServerConfig)
    assert server_default == (MODEL.default,)
    assert server_help.startswith(MODEL.option.help) and "'all'" in server_help
    (export_dir,) = [item for item in declared(ServerConfig) if item.name == "export_dir"]
    assert export_dir.default == EXPORT_DIR.default == Path("exported")


def test_server_config_is_what_no_flags_give() -> None:
    assert parse_config([], env={}) == ServerConfig()
    # --threads defaults to auto, resolved in one place (ServerConfig) from the usable CPUs.
    assert replace(ServerConfig(), threads=auto_threads()) == ServerConfig()
    assert ServerConfig(workers=64).threads == 1
    assert isinstance(parse_config(["--threads", "auto"], env={}).threads, int)


def test_every_server_field_is_an_option_with_a_variable() -> None:
    names = {item.name: item.env_name(SERVER.env_prefix) for item in declared(ServerConfig)}
    assert all(names.values())
    assert names["models"] == "INTENT_SERVER_MODEL"
    assert names["batching"] == "INTENT_SERVER_NO_BATCHING"
    assert names["watch_seconds"] == "INTENT_SERVER_WATCH_SECONDS"
