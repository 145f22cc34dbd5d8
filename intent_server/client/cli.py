"""`intent-client`: classify text, show model info or health from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import grpc

from intent_server.client.client import (
    DEFAULT_TARGET,
    Classification,
    IntentClient,
    IntentClientError,
    ModelDetails,
)
from intent_server.serving.secrets import SecurityConfigError, load_tokens

TOKEN_ENV = "INTENT_CLIENT_TOKEN"

_USER_MISTAKES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
_REASON_TEXT = {
    "unfamiliar": "the text is unlike every example the model was trained on",
    "low_confidence": "the best intent's confidence is below the model's threshold",
    "ambiguous": "the two best intents are too close to tell apart",
    "out_of_scope_class": "the model's best class is out_of_scope itself",
}


def _common(defaults: bool = True) -> argparse.ArgumentParser:
    """Connection options. They are accepted before and after the command; the copy after it
    has no defaults (argparse.SUPPRESS), so it cannot overwrite a value given before it."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--target",
        default=default(DEFAULT_TARGET),
        help=f"server address host:port (default: {DEFAULT_TARGET})",
    )
    common.add_argument(
        "--timeout", type=float, default=default(5.0), help="seconds per call (default: 5.0)"
    )
    common.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON instead of a table"
    )
    common.add_argument(
        "--tls",
        action="store_true",
        default=default(False),
        help="use TLS with the system's trusted CAs (default: off)",
    )
    common.add_argument(
        "--tls-ca",
        type=Path,
        default=default(None),
        help="PEM CA to trust; implies TLS (default: none)",
    )
    common.add_argument(
        "--tls-cert",
        type=Path,
        default=default(None),
        help="PEM client certificate for mutual TLS",
    )
    common.add_argument("--tls-key", type=Path, default=default(None), help="PEM key of --tls-cert")
    common.add_argument(
        "--token-file",
        type=Path,
        default=default(None),
        help=f"file whose first line is the bearer token (or set {TOKEN_ENV}) (default: none)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intent-client",
        description="Talk to a running intent-server.",
        parents=[_common()],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common(defaults=False)
    classify = commands.add_parser(
        "classify",
        parents=[common],
        help="classify text",
        description="Classify each TEXT; with no TEXT or '-', classify each line of stdin "
        "(blank lines skipped). --json prints one JSON object per text.",
    )
    classify.add_argument("texts", nargs="*", metavar="TEXT", help="message(s) to classify")
    classify.add_argument(
        "--top-k",
        type=int,
        default=0,
        help="intents to rank; 0 = the server default of 10 or all if fewer (default: 0)",
    )
    classify.add_argument("--all", action="store_true", help="rank every intent")
    classify.add_argument("--model", default="", help="model name (default: server's default)")
    info = commands.add_parser(
        "info", parents=[common], help="show the model's labels, version, thresholds, metrics"
    )
    info.add_argument("--model", default="", help="model name (default: server's default)")
    health = commands.add_parser(
        "health", parents=[common], help="print SERVING or NOT_SERVING (exit 0 only if SERVING)"
    )
    health.add_argument("--service", default="", help="service name; empty = whole server")
    return parser


def _texts(args: argparse.Namespace, stdin: TextIO) -> Iterator[str]:
    if not args.texts or args.texts == ["-"]:
        for line in stdin:
            if line.strip():
                yield line.rstrip("\n")
    else:
        yield from args.texts


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
        return os.environ.get(TOKEN_ENV, "")
    return str(load_tokens(args.token_file)[0])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
