"""`intent-server` / `python -m intent_server`: serve exported models until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from intent_server.config import parse_config
from intent_server.export_loader import ExportError
from intent_server.server import ListenError, serve


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return serve(config)
    except (ExportError, ListenError) as exc:
        # A setup mistake the operator can fix: say what and where, no traceback.
        print(f"intent-server: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
