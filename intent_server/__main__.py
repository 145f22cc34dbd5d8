"""`intent-server` / `python -m intent_server`: serve exported models until SIGTERM/SIGINT.

Only `signals` is imported before `main` runs: it handles SIGTERM, SIGINT and SIGHUP before
the heavy imports (grpc, onnxruntime, aiohttp) start, so a signal sent while the server
starts is acted on instead of killing it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from intent_server import signals

if TYPE_CHECKING:
    from intent_server.config import ServerConfig


def _serve_reporting(config: ServerConfig) -> int:
    from intent_server.core.errors import ExportError
    from intent_server.process import ListenError, serve
    from intent_server.serving.secrets import SecurityConfigError

    try:
        return serve(config)
    except (ExportError, ListenError, SecurityConfigError) as exc:
        # A setup mistake the operator can fix: say what and where, no traceback.
        print(f"intent-server: error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    signals.install()
    import errno

    from intent_server.config import parse_config
    from intent_server.serving.logs import configure_logging
    from intent_server.workers import run_workers

    config = parse_config(argv)
    configure_logging(config.log_level, config.log_format)
    if config.workers == 1:
        return _serve_reporting(config)
    try:
        return run_workers(config, _serve_reporting)
    except OSError as exc:
        ports = f"{config.port}" + (f" or {config.http_port}" if config.http_port else "")
        why = (
            "the port is in use (another server?): choose another port or stop the other one"
            if exc.errno == errno.EADDRINUSE
            else exc.strerror or str(exc)
        )
        print(
            f"intent-server: error: cannot listen on {config.host}:{ports}: {why}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
