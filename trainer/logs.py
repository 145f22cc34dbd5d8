"""What the trainer tells its user: log lines on stderr and progress bars that follow them.

Every trainer module logs through `logging.getLogger(__name__)` (children of `trainer`).
`intent-train` / `intent-export` call `configure` (INFO, or WARNING with `--quiet`); as a
library the trainer is quiet unless the caller enables INFO for `trainer`. Progress bars
show exactly when INFO lines do, so there is no `quiet` flag to pass around.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

ROOT = "trainer"
T = TypeVar("T")
_HANDLER_NAME = "trainer-console"


def configure(quiet: bool = False) -> None:
    """Plain message lines on stderr for the trainer's loggers; INFO, or WARNING when quiet."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def verbose() -> bool:
    """True when the trainer's INFO lines (and so its progress bars) are shown."""
    return logging.getLogger(ROOT).isEnabledFor(logging.INFO)


def progress(iterable: Iterable[T] | None = None, **options: Any) -> tqdm[T]:
    """A tqdm bar on stderr, shown only when `verbose()`."""
    return tqdm(iterable, file=sys.stderr, disable=not verbose(), **options)
