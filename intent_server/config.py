"""Server options: command-line flags, each also settable as INTENT_SERVER_<NAME> (flags win)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intent_server.core.cpus import auto_threads

ENV_PREFIX = "INTENT_SERVER_"
MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    export_dir: Path = Path("exported")
    models: tuple[str, ...] = ("default",)
    encoder_variant: str = "auto"
    threads: int = 1
    batching: bool = True
    max_batch_size: int = 32
    max_batch_wait_ms: float = 1.0
    max_queue: int = 256
    max_batch_texts: int = 64
    max_text_bytes: int = 2048
    max_call_tokens: int = 8192
    cache_size: int = 4096
    max_receive_bytes: int = MIB
    handler_threads: int = 128
    grace_seconds: float = 5.0
    reflection: bool = False
    log_level: str = "INFO"
    log_format: str = "text"
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    token_file: Path | None = None
    admin_token_file: Path | None = None
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    watch_seconds: float = 0.0
    http_port: int | None = None
    fallback_intent: str = "nlu_fallback"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be within 0..65535, got {value}")
    return value


def _threads(text: str) -> int:
    """A positive thread count, or 'auto' (0 here; resolved once --workers is known)."""
    if text.strip().lower() == "auto":
        return 0
    return _positive_int(text)


def _optional_port(text: str) -> int | None:
    """A port, or off (also empty): the listener is not started."""
    if text.strip().lower() in {"", "off"}:
        return None
    return _port(text)


def _intent_name(text: str) -> str:
    name = text.strip()
    if not name or any(char.isspace() for char in name):
        raise ValueError(f"must be one word, got {text!r}")
    return name


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def _models(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError("needs at least one model name")
    return names


def _optional_path(text: str) -> Path | None:
    return Path(text) if text.strip() else None


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {text!r}")


def _argparse_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = convert.__name__.strip("_")
    return parse


# (flag, dest, converter, default, help); the env var is INTENT_SERVER_<DEST upper>.
_OPTIONS: list[tuple[str, str, Callable[[str], Any], Any, str]] = [
    ("--host", "host", str, "127.0.0.1", "address to listen on (0.0.0.0 for all interfaces)"),
    ("--port", "port", _port, 50051, "TCP port; 0 picks a free port (logged at start)"),
    ("--export-dir", "export_dir", Path, Path("exported"), "folder holding exported models"),
    (
        "--model",
        "models",
        _models,
        "default",
        "model name(s) to load from the export dir, comma separated; the first is the "
        "default for requests that name no model; 'all' loads every model in the export dir "
        "(default model first when present)",
    ),
    (
        "--encoder-variant",
        "encoder_variant",
        str,
        "auto",
        "encoder file to serve: int8, fp32, or auto (the export's default)",
    ),
    (
        "--threads",
        "threads",
        _threads,
        "auto",
        "onnxruntime intra-op threads per session; auto = the CPUs this process may use "
        "(affinity and cgroup quota) divided among --workers, at most 2",
    ),
    (
        "--max-batch-size",
        "max_batch_size",
        _positive_int,
        32,
        "most texts one micro-batched model run takes",
    ),
    (
        "--max-batch-wait-ms",
        "max_batch_wait_ms",
        _non_negative_float,
        1.0,
        "how long a batch waits for more requests, only when others are already queued "
        "(0 = never wait)",
    ),
    (
        "--max-queue",
        "max_queue",
        _positive_int,
        256,
        "requests that may wait for the model; more are refused with RESOURCE_EXHAUSTED",
    ),
    ("--max-batch-texts", "max_batch_texts", _positive_int, 64, "texts per ClassifyIntentBatch"),
    ("--max-text-bytes", "max_text_bytes", _positive_int, 2048, "UTF-8 bytes per text"),
    (
        "--cache-size",
        "cache_size",
        _non_negative_int,
        4096,
        "answers to remember per model version for repeated single messages (texts up to "
        "256 characters, whitespace and, for uncased models, case ignored); emptied on "
        "reload; 0 = off",
    ),
    (
        "--max-call-tokens",
        "max_call_tokens",
        _positive_int,
        8192,
        "tokens (after truncation at the model's limit) all the texts of one call may hold; "
        "bytes alone do not bound the work (2,048 bytes of punctuation are 2,048 tokens). "
        "Batches run in chunks of about 256 tokens, so single calls are answered in between",
    ),
    (
        "--max-receive-bytes",
        "max_receive_bytes",
        _positive_int,
        MIB,
        "largest request message grpc accepts (larger: RESOURCE_EXHAUSTED)",
    ),
    (
        "--handler-threads",
        "handler_threads",
        _positive_int,
        128,
        "gRPC handler threads per process; 2 are kept for health checks, so at most this "
        "minus 2 classification calls run or wait at once (more: RESOURCE_EXHAUSTED)",
    ),
    (
        "--workers",
        "workers",
        _positive_int,
        1,
        "server processes sharing the port (SO_REUSEPORT; the kernel spreads connections); "
        "each loads its own copy of the models",
    ),
    (
        "--grace-seconds",
        "grace_seconds",
        _non_negative_float,
        5.0,
        "on SIGTERM/SIGINT, how long in-flight calls may take to finish",
    ),
    ("--log-level", "log_level", str.upper, "INFO", "DEBUG, INFO, WARNING or ERROR"),
    (
        "--log-format",
        "log_format",
        str.lower,
        "text",
        "text, or json (one object per line with a request_id field)",
    ),
    ("--tls-cert", "tls_cert", _optional_path, None, "PEM server certificate: serve TLS"),
    ("--tls-key", "tls_key", _optional_path, None, "PEM private key of --tls-cert"),
    (
        "--tls-client-ca",
        "tls_client_ca",
        _optional_path,
        None,
        "PEM CA bundle: require client certificates it signed (mutual TLS)",
    ),
    (
        "--token-file",
        "token_file",
        _optional_path,
        None,
        "file with bearer tokens, one per line: classification calls need "
        "'authorization: Bearer <token>' (health stays open)",
    ),
    (
        "--admin-token-file",
        "admin_token_file",
        _optional_path,
        None,
        "file with admin bearer tokens for the Admin service (ReloadModels); without it the "
        "Admin service refuses every call",
    ),
    (
        "--metrics-port",
        "metrics_port",
        _port,
        0,
        "serve Prometheus metrics on http://METRICS_HOST:PORT/metrics (0 = off)",
    ),
    (
        "--metrics-host",
        "metrics_host",
        str,
        "127.0.0.1",
        "address of the metrics listener: loopback unless told otherwise (0.0.0.0 lets a "
        "Prometheus on another host scrape it; the metrics name your models and versions)",
    ),
    (
        "--http-port",
        "http_port",
        _optional_port,
        "off",
        "also serve HTTP/JSON on this port of --host: /v1/classify, Rasa's /model/parse, "
        "/healthz, /readyz, /openapi.json and a try-it page at / (off by default; 0 picks a "
        "free port, logged at start); same models, limits, tokens, TLS and metrics as gRPC",
    ),
    (
        "--fallback-intent",
        "fallback_intent",
        _intent_name,
        "nlu_fallback",
        "intent name /model/parse (Rasa's format) answers for out-of-scope messages; Rasa's "
        "own FallbackClassifier uses nlu_fallback",
    ),
    (
        "--watch",
        "watch_seconds",
        _non_negative_float,
        0.0,
        "poll each model's 'current' pointer every this many seconds and reload a model when "
        "it changes (0 = off; SIGHUP and the Admin service reload too)",
    ),
]

_SWITCHES: list[tuple[str, str, bool, str]] = [
    ("--no-batching", "no_batching", False, "serve each call directly, without micro-batching"),
    ("--reflection", "reflection", False, "enable gRPC server reflection (for grpcurl)"),
]


class ConfigError(ValueError):
    """A bad environment variable value; the message names the variable."""


def _env_name(dest: str) -> str:
    return ENV_PREFIX + dest.upper()


def _env_defaults(env: Mapping[str, str]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    options = [(dest, convert) for _, dest, convert, _, _ in _OPTIONS]
    options += [(dest, _flag) for _, dest, _, _ in _SWITCHES]
    for dest, convert in options:
        name = _env_name(dest)
        # --model's variable reads better singular: INTENT_SERVER_MODEL.
        if dest == "models":
            name = ENV_PREFIX + "MODEL"
        if name in env:
            try:
                defaults[dest] = convert(env[name])
            except ValueError as exc:
                raise ConfigError(f"environment variable {name}={env[name]!r}: {exc}") from None
    return defaults


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intent-server",
        description="Serve exported intent models over gRPC (intent.v1.IntentClassifier). "
        "Every option can also be set as an environment variable INTENT_SERVER_<NAME> "
        "(e.g. INTENT_SERVER_PORT, INTENT_SERVER_MODEL); a flag wins over the variable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for flag, dest, convert, default, help_text in _OPTIONS:
        env = ENV_PREFIX + "MODEL" if dest == "models" else _env_name(dest)
        parser.add_argument(
            flag,
            dest=dest,
            type=_argparse_type(convert),
            default=default,
            help=f"{help_text} [env {env}]",
            metavar="NAME[,NAME...]" if dest == "models" else dest.upper(),
        )
    for flag, dest, default, help_text in _SWITCHES:
        parser.add_argument(
            flag,
            dest=dest,
            action="store_true",
            default=default,
            help=f"{help_text} [env {_env_name(dest)}=1]",
        )
    return parser


def parse_config(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> ServerConfig:
    """Flags over environment variables over defaults. Exits 2 on a bad flag or variable."""
    parser = build_parser()
    try:
        parser.set_defaults(**_env_defaults(os.environ if env is None else env))
    except ConfigError as exc:
        parser.error(str(exc))
    args = parser.parse_args(argv)
    if args.encoder_variant not in {"auto", "int8", "fp32"}:
        parser.error(f"--encoder-variant must be auto, int8 or fp32, got {args.encoder_variant!r}")
    if args.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        parser.error(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {args.log_level!r}")
    if args.log_format not in {"text", "json"}:
        parser.error(f"--log-format must be text or json, got {args.log_format!r}")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together: give both or neither")
    if args.tls_client_ca is not None and args.tls_cert is None:
        parser.error("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    values = vars(args)
    values["batching"] = not values.pop("no_batching")
    if values["threads"] == 0:
        values["threads"] = auto_threads(values["workers"])
    return ServerConfig(**values)
