"""Admission control: at most `limit` classification calls in progress, across transports.

Beyond the limit a call is refused at once (`Overloaded`) instead of waiting for a thread, so
health checks and admin calls always find one. gRPC and HTTP share one `Admission`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from intent_server.serving.errors import Overloaded

# Handler threads kept for health checks and admin calls.
RESERVED_THREADS = 2


def admission_limit(handler_threads: int, reserved: int = RESERVED_THREADS) -> int:
    """Classification calls allowed at once with `handler_threads` handler threads."""
    return max(1, handler_threads - reserved)


class Admission:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Count the call while the block runs; `Overloaded` at once when full."""
        with self._lock:
            full = self._in_flight >= self.limit
            if not full:
                self._in_flight += 1
        if full:
            raise Overloaded(
                f"server overloaded: {self.limit} calls already in progress; retry later"
            )
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
