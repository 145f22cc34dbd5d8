"""Server options (flags over env vars over defaults) and request validation, without a model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from intent_server.config import ServerConfig, build_parser, parse_config
from intent_server.core.cpus import auto_threads
from intent_server.serving.errors import InvalidArgument
from intent_server.serving.validation import Limits, check_text, check_texts, resolve_top_k


def test_defaults_match_the_documented_ones() -> None:
    # --threads defaults to auto, resolved from the usable CPUs when the flags are parsed.
    assert parse_config([], env={}) == replace(ServerConfig(), threads=auto_threads())
    assert ServerConfig().models == ("default",)


def test_http_connection_limits() -> None:
    defaults = parse_config([], env={})
    assert (defaults.http_header_timeout, defaults.http_body_timeout) == (10.0, 30.0)
    assert defaults.http_idle_timeout == 75.0 and defaults.http_max_connections == 0  # auto
    assert defaults.http_max_token_body_bytes == 64 * 1024
    given = parse_config(
        ["--http-header-timeout", "2.5", "--http-max-connections", "500"],
        env={"INTENT_SERVER_HTTP_BODY_TIMEOUT": "5", "INTENT_SERVER_HTTP_MAX_CONNECTIONS": "9"},
    )
    assert (given.http_header_timeout, given.http_body_timeout) == (2.5, 5.0)
    assert given.http_max_connections == 500
    assert parse_config(["--http-max-connections", "auto"], env={}).http_max_connections == 0


def test_threads_auto_is_shared_among_workers() -> None:
    assert parse_config(["--threads", "auto"], env={}).threads == auto_threads()
    assert parse_config(["--threads", "3"], env={}).threads == 3
    workers = parse_config(["--workers", "64"], env={"INTENT_SERVER_THREADS": "auto"})
    assert workers.threads == 1


def test_env_vars_apply_and_flags_win() -> None:
    env = {
        "INTENT_SERVER_PORT": "6000",
        "INTENT_SERVER_HOST": "0.0.0.0",
        "INTENT_SERVER_MODEL": "support, sales",
        "INTENT_SERVER_EXPORT_DIR": "/srv/exports",
        "INTENT_SERVER_THREADS": "2",
        "INTENT_SERVER_NO_BATCHING": "true",
        "INTENT_SERVER_MAX_BATCH_WAIT_MS": "0",
    }
    config = parse_config([], env=env)
    assert (config.port, config.host, config.models) == (6000, "0.0.0.0", ("support", "sales"))
    assert config.export_dir == Path("/srv/exports")
    assert (config.threads, config.batching, config.max_batch_wait_ms) == (2, False, 0.0)
    flagged = parse_config(["--port", "7000", "--model", "other"], env=env)
    assert (flagged.port, flagged.models, flagged.host) == (7000, ("other",), "0.0.0.0")


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--port", "70000"], {}, "--port"),
        (["--http-header-timeout", "0"], {}, "--http-header-timeout"),
        (["--http-max-connections", "-3"], {}, "--http-max-connections"),
        (["--threads", "0"], {}, "--threads"),
        (["--encoder-variant", "fp16"], {}, "--encoder-variant"),
        ([], {"INTENT_SERVER_PORT": "abc"}, "INTENT_SERVER_PORT"),
        ([], {"INTENT_SERVER_REFLECTION": "maybe"}, "INTENT_SERVER_REFLECTION"),
        (["--tls-cert", "server.pem"], {}, "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "ca.pem"], {}, "--tls-client-ca (mutual TLS) needs --tls-cert"),
        (["--log-format", "xml"], {}, "--log-format"),
        (["--workers", "0"], {}, "--workers"),
        (["--watch", "-1"], {}, "--watch"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    argv: list[str], env: dict[str, str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv, env=env)
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


def test_named_values_are_choices_checked_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = parse_config(["--log-level", "debug", "--log-format", "JSON"], env={})
    assert (config.log_level, config.log_format) == ("DEBUG", "json")
    with pytest.raises(SystemExit):
        parse_config(["--log-level", "chatty"], env={})
    assert "invalid choice: 'CHATTY'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_config([], env={"INTENT_SERVER_ENCODER_VARIANT": "fp16"})
    assert "INTENT_SERVER_ENCODER_VARIANT='fp16': must be one of auto" in capsys.readouterr().err


def test_help_names_every_env_var() -> None:
    text = build_parser().format_help()
    for name in ("HOST", "PORT", "EXPORT_DIR", "MODEL", "THREADS", "MAX_QUEUE", "REFLECTION"):
        assert f"INTENT_SERVER_{name}" in text


LIMITS = Limits(max_text_bytes=10, max_batch_texts=3)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "text is empty"), ("  \n\t", "only whitespace"), ("é" * 6, "12 bytes")],
)
def test_bad_texts_name_field_and_limit(text: str, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle):
        check_text(text, LIMITS)


def test_text_at_the_byte_limit_is_fine() -> None:
    check_text("a" * 10, LIMITS)


def test_batch_checks_name_the_index() -> None:
    with pytest.raises(InvalidArgument, match="texts is empty"):
        check_texts([], LIMITS)
    with pytest.raises(InvalidArgument, match="4 entries, over the limit of 3"):
        check_texts(["a"] * 4, LIMITS)
    with pytest.raises(InvalidArgument, match=r"texts\[1\] is only whitespace"):
        check_texts(["ok", " "], LIMITS)


def test_top_k_resolution() -> None:
    assert resolve_top_k(0, False, 25) == 10
    assert resolve_top_k(0, False, 4) == 4
    assert resolve_top_k(3, False, 25) == 3
    assert resolve_top_k(2, True, 25) == 25
    with pytest.raises(InvalidArgument, match="only 25 intents"):
        resolve_top_k(26, False, 25)


def test_production_options() -> None:
    env = {"INTENT_SERVER_TOKEN_FILE": "/run/tokens", "INTENT_SERVER_METRICS_PORT": "9100"}
    config = parse_config(
        ["--tls-cert", "s.pem", "--tls-key", "s.key", "--workers", "3", "--model", "all"], env=env
    )
    assert (config.tls_cert, config.tls_key, config.tls_client_ca) == (
        Path("s.pem"),
        Path("s.key"),
        None,
    )
    assert (config.token_file, config.metrics_port, config.workers) == (
        Path("/run/tokens"),
        9100,
        3,
    )
    assert config.models == ("all",) and config.handler_threads == 128
    assert parse_config([], env={"INTENT_SERVER_TOKEN_FILE": ""}).token_file is None


def test_metrics_stay_on_loopback_unless_told_otherwise() -> None:
    assert parse_config([], env={}).metrics_host == "127.0.0.1"
    config = parse_config(["--host", "0.0.0.0", "--metrics-host", "0.0.0.0"], env={})
    assert config.metrics_host == "0.0.0.0"
    assert parse_config([], env={}).max_call_tokens == 8192
