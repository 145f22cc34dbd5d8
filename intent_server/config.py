"""`intent-server` options: `ServerConfig`, each field a flag and an INTENT_SERVER_<NAME>
environment variable (flags win), declared once with `intent_server.core.options`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from intent_server.core.cpus import auto_threads
from intent_server.core.options import (
    ENCODER_VARIANT,
    EXPORT_DIR,
    MODEL,
    Option,
    Program,
    option,
    options_from_args,
)

ENV_PREFIX = "INTENT_SERVER_"
MIB = 1024 * 1024
AUTO_THREADS = 0  # --threads auto: resolved by ServerConfig from the usable CPUs and --workers
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")

MODELS = "models"
LISTENING = "listening (gRPC and HTTP)"
RUNS = "model runs"
LIMITS = "request limits"
HTTP = "HTTP connections"
AUTO_CONNECTIONS = 0  # --http-max-connections auto: resolved from the open-file limit at start
SECURITY = "security"
OBSERVING = "logs and metrics"


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
    """A positive thread count, or 'auto' (AUTO_THREADS: resolved once --workers is known)."""
    if text.strip().lower() == "auto":
        return AUTO_THREADS
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


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be > 0, got {text}")
    return value


def _connections(text: str) -> int:
    """A positive connection count, or 'auto' (AUTO_CONNECTIONS)."""
    if text.strip().lower() == "auto":
        return AUTO_CONNECTIONS
    return _positive_int(text)


def _models(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError("needs at least one model name")
    return names


def _optional_path(text: str) -> Path | None:
    return Path(text) if text.strip() else None


def _file_option(help_text: str) -> dict[str, Option]:
    """A security file: off unless given (an empty variable is off too)."""
    return option(group=SECURITY, parse=_optional_path, help=help_text)


@dataclass(frozen=True)
class ServerConfig:
    """Every server option, with its default; `ServerConfig()` is the server the command
    line starts without flags (`threads` is resolved from the CPUs when left at auto)."""

    export_dir: Path = field(default=EXPORT_DIR.default, metadata=EXPORT_DIR.meta(group=MODELS))
    models: tuple[str, ...] = field(
        default=(MODEL.default,),
        metadata=MODEL.option.but(
            "; several, comma-separated: the first answers requests that name no model; "
            "'all' loads every model in --export-dir (the default model first when present)",
            group=MODELS,
            parse=_models,
            metavar="NAME[,NAME...]",
        ).meta(),
    )
    encoder_variant: str = field(
        default=ENCODER_VARIANT.default, metadata=ENCODER_VARIANT.meta(group=MODELS)
    )
    watch_seconds: float = field(
        default=0.0,
        metadata=option(
            group=MODELS,
            flag_name="--watch",
            env="WATCH_SECONDS",
            parse=_non_negative_float,
            help="poll each model's 'current' pointer every this many seconds and reload a "
            "model when it changes (0 = off; SIGHUP and the Admin service reload too)",
        ),
    )
    host: str = field(
        default="127.0.0.1",
        metadata=option(group=LISTENING, help="address to listen on (0.0.0.0 for all interfaces)"),
    )
    port: int = field(
        default=50051,
        metadata=option(
            group=LISTENING, parse=_port, help="TCP port; 0 picks a free port (logged at start)"
        ),
    )
    http_port: int | None = field(
        default=None,
        metadata=option(
            group=LISTENING,
            parse=_optional_port,
            shown="off",
            help="also serve HTTP/JSON on this port of --host: /v1/classify, Rasa's "
            "/model/parse, /healthz, /readyz, /openapi.json and a try-it page at / (0 picks a "
            "free port, logged at start); same models, limits, tokens, TLS and metrics as gRPC",
        ),
    )
    fallback_intent: str = field(
        default="nlu_fallback",
        metadata=option(
            group=LISTENING,
            parse=_intent_name,
            help="intent name /model/parse (Rasa's format) answers for out-of-scope messages; "
            "Rasa's own FallbackClassifier uses nlu_fallback",
        ),
    )
    workers: int = field(
        default=1,
        metadata=option(
            group=LISTENING,
            parse=_positive_int,
            help="server processes sharing the port (SO_REUSEPORT; the kernel spreads "
            "connections); each loads its own copy of the models",
        ),
    )
    handler_threads: int = field(
        default=128,
        metadata=option(
            group=LISTENING,
            parse=_positive_int,
            help="gRPC handler threads per process; 2 are kept for health checks, so at most "
            "this minus 2 classification calls run or wait at once (more: RESOURCE_EXHAUSTED)",
        ),
    )
    grace_seconds: float = field(
        default=5.0,
        metadata=option(
            group=LISTENING,
            parse=_non_negative_float,
            help="on SIGTERM/SIGINT, how long in-flight calls may take to finish",
        ),
    )
    reflection: bool = field(
        default=False,
        metadata=option(group=LISTENING, help="enable gRPC server reflection (for grpcurl)"),
    )
    threads: int = field(
        default=AUTO_THREADS,
        metadata=option(
            group=RUNS,
            parse=_threads,
            shown="auto",
            help="onnxruntime intra-op threads per session; auto = the CPUs this process may "
            "use (affinity and cgroup quota) divided among --workers, at most 2",
        ),
    )
    batching: bool = field(
        default=True,
        metadata=option(
            group=RUNS,
            off_flag="--no-batching",
            help="serve each call directly, without micro-batching",
        ),
    )
    max_batch_size: int = field(
        default=32,
        metadata=option(
            group=RUNS, parse=_positive_int, help="most texts one micro-batched model run takes"
        ),
    )
    max_batch_wait_ms: float = field(
        default=1.0,
        metadata=option(
            group=RUNS,
            parse=_non_negative_float,
            help="how long a batch waits for more requests, only when others are already "
            "queued (0 = never wait)",
        ),
    )
    max_queue: int = field(
        default=256,
        metadata=option(
            group=RUNS,
            parse=_positive_int,
            help="requests that may wait for the model; more are refused with RESOURCE_EXHAUSTED",
        ),
    )
    cache_size: int = field(
        default=4096,
        metadata=option(
            group=RUNS,
            parse=_non_negative_int,
            help="answers to remember per model version for repeated single messages (texts "
            "up to 256 characters, whitespace and, for uncased models, case ignored); emptied "
            "on reload; 0 = off",
        ),
    )
    max_batch_texts: int = field(
        default=64,
        metadata=option(group=LIMITS, parse=_positive_int, help="texts per ClassifyIntentBatch"),
    )
    max_text_bytes: int = field(
        default=2048,
        metadata=option(group=LIMITS, parse=_positive_int, help="UTF-8 bytes per text"),
    )
    max_call_tokens: int = field(
        default=8192,
        metadata=option(
            group=LIMITS,
            parse=_positive_int,
            help="tokens (after truncation at the model's limit) all the texts of one call may "
            "hold; bytes alone do not bound the work (2,048 bytes of punctuation are 2,048 "
            "tokens). Batches run in chunks of about 256 tokens, so single calls are answered "
            "in between",
        ),
    )
    max_receive_bytes: int = field(
        default=MIB,
        metadata=option(
            group=LIMITS,
            parse=_positive_int,
            help="largest request message grpc accepts (larger: RESOURCE_EXHAUSTED), and "
            "largest HTTP body, inflated size included (larger: 413)",
        ),
    )
    http_header_timeout: float = field(
        default=10.0,
        metadata=option(
            group=HTTP,
            parse=_positive_float,
            help="seconds a client may take to send a request's headers, from connecting (or "
            "from the first byte of a later request on a kept-alive connection); later: 408 "
            "and the connection is closed (idle and slowloris clients)",
        ),
    )
    http_body_timeout: float = field(
        default=30.0,
        metadata=option(
            group=HTTP,
            parse=_positive_float,
            help="seconds a client may take to send a request's body; later: 408 and the "
            "connection is closed",
        ),
    )
    http_idle_timeout: float = field(
        default=75.0,
        metadata=option(
            group=HTTP,
            parse=_positive_float,
            help="seconds a kept-alive connection may stay idle between requests before the "
            "server closes it (keep it above a load balancer's own idle timeout)",
        ),
    )
    http_max_connections: int = field(
        default=AUTO_CONNECTIONS,
        metadata=option(
            group=HTTP,
            parse=_connections,
            shown="auto",
            help="open HTTP connections per process; at the cap a new connection takes the "
            "place of the longest idle or slow one (503 when all have a request in progress); "
            "auto = the open-file limit less a quarter kept for the server's own files and "
            "gRPC, at most 10000; never more than that",
        ),
    )
    http_max_token_body_bytes: int = field(
        default=64 * 1024,
        metadata=option(
            group=HTTP,
            parse=_positive_int,
            help="with --token-file, the largest /model/parse body read to find the token "
            "Rasa sends in it; a larger body without an Authorization header or ?token= gets "
            "401 unread",
        ),
    )
    tls_cert: Path | None = field(
        default=None, metadata=_file_option("PEM server certificate: serve TLS")
    )
    tls_key: Path | None = field(
        default=None, metadata=_file_option("PEM private key of --tls-cert")
    )
    tls_client_ca: Path | None = field(
        default=None,
        metadata=_file_option("PEM CA bundle: require client certificates it signed (mutual TLS)"),
    )
    token_file: Path | None = field(
        default=None,
        metadata=_file_option(
            "file with bearer tokens, one per line: classification calls need "
            "'authorization: Bearer <token>' (health stays open)"
        ),
    )
    admin_token_file: Path | None = field(
        default=None,
        metadata=_file_option(
            "file with admin bearer tokens for the Admin service (ReloadModels); without it "
            "the Admin service refuses every call"
        ),
    )
    log_level: str = field(
        default="INFO",
        metadata=option(group=OBSERVING, parse=str.upper, choices=LOG_LEVELS, help="log level"),
    )
    log_format: str = field(
        default="text",
        metadata=option(
            group=OBSERVING,
            parse=str.lower,
            choices=LOG_FORMATS,
            help="text, or json (one object per line with a request_id field)",
        ),
    )
    metrics_port: int = field(
        default=0,
        metadata=option(
            group=OBSERVING,
            parse=_port,
            help="serve Prometheus metrics on http://METRICS_HOST:PORT/metrics (0 = off)",
        ),
    )
    metrics_host: str = field(
        default="127.0.0.1",
        metadata=option(
            group=OBSERVING,
            help="address of the metrics listener: loopback unless told otherwise (0.0.0.0 "
            "lets a Prometheus on another host scrape it; the metrics name your models and "
            "versions)",
        ),
    )
    metrics_max_models: int = field(
        default=100,
        metadata=option(
            group=OBSERVING,
            parse=_non_negative_int,
            help="per-model metric series (batch sizes, cache lookups, queue depth, reloads, "
            "batch mode) for at most this many models, the first ones loaded; the others are "
            'counted under model="other" so a server with thousands of bots keeps a '
            "bounded number of series (intent_server_model_loaded still lists every model)",
        ),
    )

    def __post_init__(self) -> None:
        # The one place --threads auto becomes a count: it depends on --workers.
        if self.threads == AUTO_THREADS:
            object.__setattr__(self, "threads", auto_threads(self.workers))


SERVER = Program(
    "intent-server",
    "Serve exported intent models over gRPC (intent.v1.IntentClassifier), and with "
    "--http-port over HTTP/JSON too.",
    options=(ServerConfig,),
    env_prefix=ENV_PREFIX,
)


def build_parser() -> argparse.ArgumentParser:
    return SERVER.parser()


def _options_together(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together: give both or neither")
    if args.tls_client_ca is not None and args.tls_cert is None:
        parser.error("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")


def parse_config(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> ServerConfig:
    """Flags over environment variables over defaults. Exits 2 on a bad flag or variable."""
    parser = SERVER.parser(os.environ if env is None else env)
    args = parser.parse_args(argv)
    _options_together(parser, args)
    return options_from_args(args, ServerConfig)
