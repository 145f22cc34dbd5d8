"""`intent-client`: classify text, show model info or health from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import grpc

from intent_server.client.client import (
    DEFAULT_TARGET,
    Classification,
    Entity,
    IntentClient,
    IntentClientError,
    ModelDetails,
)
from intent_server.core.options import Program, option
from intent_server.serving.secrets import SecurityConfigError, load_tokens

ENV_PREFIX = "INTENT_CLIENT_"

_USER_MISTAKES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
_REASON_TEXT = {
    "unfamiliar": "the text is unlike every example the model was trained on",
    "low_confidence": "the best intent's confidence is below the model's threshold",
    "ambiguous": "the two best intents are too close to tell apart",
    "out_of_scope_class": "the model's best class is out_of_scope itself",
}


CONNECTION = "connection (before or after the command)"


@dataclass(frozen=True)
class ConnectionOptions:
    """Where and how to reach the server; accepted before and after the command."""

    target: str = field(
        default=DEFAULT_TARGET, metadata=option(group=CONNECTION, help="server address host:port")
    )
    timeout: float = field(default=5.0, metadata=option(group=CONNECTION, help="seconds per call"))
    json: bool = field(
        default=False, metadata=option(group=CONNECTION, help="print JSON instead of a table")
    )
    tls: bool = field(
        default=False,
        metadata=option(group=CONNECTION, help="use TLS with the system's trusted CAs"),
    )
    tls_ca: Path | None = field(
        default=None,
        metadata=option(group=CONNECTION, parse=Path, help="PEM CA to trust; implies TLS"),
    )
    tls_cert: Path | None = field(
        default=None,
        metadata=option(group=CONNECTION, parse=Path, help="PEM client certificate for mutual TLS"),
    )
    tls_key: Path | None = field(
        default=None, metadata=option(group=CONNECTION, parse=Path, help="PEM key of --tls-cert")
    )
    token_file: Path | None = field(
        default=None,
        metadata=option(
            group=CONNECTION,
            parse=Path,
            help=f"file whose first line is the bearer token (or set {ENV_PREFIX}TOKEN)",
        ),
    )
    token: str = field(
        default="",
        metadata=option(
            group=CONNECTION,
            cli=False,
            help="the bearer token itself, when --token-file is not given",
        ),
    )


MODEL = option(shown="the server's default", help="model name")


@dataclass(frozen=True)
class ClassifyOptions:
    texts: tuple[str, ...] = field(
        default=(),
        metadata=option(positional=True, nargs="*", metavar="TEXT", help="message(s) to classify"),
    )
    top_k: int = field(
        default=0,
        metadata=option(help="intents to rank; 0 = the server default of 10 or all if fewer"),
    )
    all: bool = field(default=False, metadata=option(help="rank every intent"))
    model: str = field(default="", metadata=MODEL)


@dataclass(frozen=True)
class InfoOptions:
    model: str = field(default="", metadata=MODEL)


@dataclass(frozen=True)
class HealthOptions:
    service: str = field(default="", metadata=option(help="service name; empty = the whole server"))


CLASSIFY = Program(
    "intent-client classify",
    "Classify each TEXT; with no TEXT or '-', classify each line of stdin (blank lines "
    "skipped). --json prints one JSON object per text.",
    options=(ClassifyOptions,),
    summary="classify text",
)
INFO = Program(
    "intent-client info",
    "Show the model's labels, version, thresholds, limits and metrics.",
    options=(InfoOptions,),
    summary="show the model's labels, version, thresholds, metrics",
)
HEALTH = Program(
    "intent-client health",
    "Print SERVING or NOT_SERVING; exit 0 only if SERVING.",
    options=(HealthOptions,),
    summary="print SERVING or NOT_SERVING (exit 0 only if SERVING)",
)
CLIENT = Program(
    "intent-client",
    "Talk to a running intent-server. The connection options are accepted before and after "
    "the command.",
    options=(ConnectionOptions,),
    env_prefix=ENV_PREFIX,
    commands=(CLASSIFY, INFO, HEALTH),
    repeat_options=True,
)


def build_parser() -> argparse.ArgumentParser:
    return CLIENT.parser()


def _texts(args: argparse.Namespace, stdin: TextIO) -> Iterator[str]:
    if not args.texts or args.texts == ["-"]:
        for line in stdin:
            if line.strip():
                yield line.rstrip("\n")
    else:
        yield from args.texts


def _entity_line(found: Entity) -> str:
    """`city (role from) = 'Paris' [5:10] 0.98 EntityHead`, plus the synonym mapper."""
    name = found.entity
    extras = [f"role {found.role}"] if found.role else []
    extras += [f"group {found.group}"] if found.group else []
    if extras:
        name += f" ({', '.join(extras)})"
    line = f"{name} = {found.value!r} [{found.start}:{found.end}] {found.confidence:.2f}"
    line += f" {found.extractor}"
    return line + "".join(f", {processor}" for processor in found.processors)


def format_classification(text: str, result: Classification) -> str:
    lines = [
        f"text:          {text}",
        f"intent:        {result.intent}",
        f"confidence:    {result.confidence:.4f}",
    ]
    if result.familiarity is not None:
        lines.append(f"familiarity:   {result.familiarity:.4f}")
    if result.out_of_scope:
        why = _REASON_TEXT.get(result.reason, result.reason)
        lines.append(f"out of scope:  yes ({result.reason}: {why})")
        lines.append(
            f"best guess:    {result.top_intent.name} ({result.top_intent.confidence:.4f})"
        )
    else:
        lines.append("out of scope:  no")
    for found in result.entities:
        lines.append(f"entity:        {_entity_line(found)}")
    if result.truncated:
        lines.append("truncated:     yes (only the start of the text was classified)")
    lines.append(f"model:         {result.model} {result.model_version}")
    width = max([len("intent"), *(len(score.name) for score in result.ranking)])
    lines.append(f"  {'rank':>4}  {'intent':<{width}}  confidence")
    for rank, score in enumerate(result.ranking, start=1):
        lines.append(f"  {rank:>4}  {score.name:<{width}}  {score.confidence:10.4f}")
    return "\n".join(lines)


def format_details(info: ModelDetails) -> str:
    lines = [
        f"model:            {info.name}",
        f"version:          {info.version}",
        f"created:          {info.created_at}",
        f"encoder:          {info.encoder} ({info.encoder_variant})",
        f"thresholds:       confidence {info.confidence_threshold:.4f}, "
        f"margin {info.margin_threshold:.4f}"
        + (
            f", familiarity {info.familiarity_threshold:.4f}"
            if info.familiarity_threshold is not None
            else ""
        ),
        f"threshold rule:   {info.threshold_rule}",
        f"limits:           {info.max_text_bytes} bytes/text, {info.max_batch_texts} texts/batch, "
        f"{info.max_tokens} tokens",
        f"models on server: {', '.join(info.available_models)}",
        f"labels ({len(info.labels)}):",
        *(f"  {label}" for label in info.labels),
        "metrics:",
        *(f"  {key}: {value:.4f}" for key, value in sorted(info.metrics.items())),
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace, client: IntentClient, out: TextIO, stdin: TextIO) -> int:
    if args.command == "health":
        status = client.health(args.service)
        print(json.dumps({"status": status}) if args.json else status, file=out)
        return 0 if status == "SERVING" else 1
    if args.command == "info":
        info = client.model_info(args.model)
        print(json.dumps(asdict(info), indent=2) if args.json else format_details(info), file=out)
        return 0
    first = True
    for text in _texts(args, stdin):
        result = client.classify(text, top_k=args.top_k, model=args.model, all_intents=args.all)
        if args.json:
            print(json.dumps({"text": text, **asdict(result)}), file=out)
        else:
            print(("" if first else "\n") + format_classification(text, result), file=out)
        first = False
        out.flush()
    return 0


def _token(args: argparse.Namespace) -> str:
    if args.token_file is None:
        return str(args.token)
    return str(load_tokens(args.token_file)[0])


def main(argv: Sequence[str] | None = None) -> int:
    args = CLIENT.parse_args(argv)
    try:
        client = IntentClient(
            args.target,
            timeout=args.timeout,
            token=_token(args),
            ca=args.tls_ca,
            cert=args.tls_cert,
            key=args.tls_key,
            tls=True if args.tls else None,
        )
    except SecurityConfigError as exc:
        print(f"intent-client: error: {exc}", file=sys.stderr)
        return 2
    try:
        with client:
            return _run(args, client, sys.stdout, sys.stdin)
    except IntentClientError as exc:
        hint = ""
        if exc.code == grpc.StatusCode.UNAVAILABLE:
            hint = f" (is intent-server running on {args.target}?)"
        print(f"intent-client: error: {exc}{hint}", file=sys.stderr)
        return 2 if exc.code in _USER_MISTAKES else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, and keep Python from complaining
        # again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
