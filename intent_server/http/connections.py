"""Every open HTTP connection, what it is doing, and the cap on how many there are.

A connection is `waiting` (for a request's headers: a new one, or a kept-alive one between
requests), `reading` (a request's body) or `working` (a request is being answered). At the
cap (`--http-max-connections`), a new connection takes the place of the one that has been
waiting longest (else reading longest): an idle or slow client gives way to one with a
request, and a client whose request is being answered is never cut off. Only when every
connection is working is the new one refused (503). A connection given way is `closing`
and still counted until its socket is closed, so the gate accepts the next connection only
once the count is back at the cap: the process never holds more than the cap plus one. The
table is shared by the gate's thread and the application's event loop, hence the lock;
closing a connection is left to the callback its owner registered (safe from any thread).

`CauseLog` keeps what hostile or broken clients cause to one log line per cause a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

WAITING = "waiting"
READING = "reading"
WORKING = "working"
HANDSHAKE = "handshake"  # TLS: not yet a connection anyone can evict (bounded by its timeout)
CLOSING = "closing"  # given way, its socket not closed yet
_EVICTABLE = (WAITING, READING)


class Connection:
    """One open connection: its state and how to close it (from any thread)."""

    __slots__ = ("closer", "state")

    def __init__(self, state: str, closer: Callable[[], object]) -> None:
        self.state = state
        self.closer = closer


class ConnectionTable:
    """The open connections by state, oldest first within a state; at most `limit`."""

    def __init__(self, limit: int, causes: CauseLog) -> None:
        self.limit = limit
        self._causes = causes
        self._lock = threading.Lock()
        self._states: dict[str, OrderedDict[Connection, None]] = {
            state: OrderedDict() for state in (WAITING, READING, WORKING, HANDSHAKE, CLOSING)
        }
        self._count = 0

    def __len__(self) -> int:
        """Open connections, those closing included (each holds a file descriptor)."""
        return self._count

    def open(self, closer: Callable[[], object], state: str = WAITING) -> Connection | None:
        """Register a new connection; at the limit the longest waiting (else reading) one is
        closed to make room. None: every connection is busy, refuse this one."""
        evicted, old_state = None, ""
        with self._lock:
            if self._count >= self.limit:
                evicted = self._oldest_evictable()
                if evicted is None:
                    self._causes.note("refused", REFUSED_LINE.format(limit=self.limit))
                    return None
                old_state = evicted.state
                self._move(evicted, CLOSING)
            connection = Connection(state, closer)
            self._states[state][connection] = None
            self._count += 1
        if evicted is not None:
            self._causes.note("evicted", EVICTED_LINE.format(limit=self.limit, state=old_state))
            evicted.closer()
        return connection

    def _oldest_evictable(self) -> Connection | None:
        for state in _EVICTABLE:
            for connection in self._states[state]:
                return connection
        return None

    def set_state(self, connection: Connection, state: str) -> bool:
        """A connection starts waiting, reading or working (it goes last in its new state);
        False when it was closed meanwhile (evicted)."""
        with self._lock:
            if connection.state == CLOSING or connection not in self._states[connection.state]:
                return False
            self._move(connection, state)
            return True

    def _move(self, connection: Connection, state: str) -> None:
        del self._states[connection.state][connection]
        connection.state = state
        self._states[state][connection] = None

    def close(self, connection: Connection) -> None:
        """Forget a connection that was closed (twice is fine)."""
        with self._lock:
            self._forget(connection)

    def _forget(self, connection: Connection) -> None:
        if self._states[connection.state].pop(connection, 0) is None:
            self._count -= 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {state: len(members) for state, members in self._states.items()}


REFUSED_LINE = (
    "HTTP: refused a connection: all {limit} connections (--http-max-connections) have a "
    "request in progress"
)
EVICTED_LINE = (
    "HTTP: closed a {state} connection to make room for a new one ({limit} connections open, "
    "--http-max-connections)"
)


class CauseLog:
    """Log a line per cause at most every `every_s` seconds, with how often it happened: a
    thousand slow clients make one line a minute, not a thousand tracebacks."""

    def __init__(
        self, logger: logging.Logger, every_s: float = 60.0, level: int = logging.WARNING
    ) -> None:
        self._log = logger
        self._every_s = every_s
        self._level = level
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def note(self, cause: str, line: str, level: int | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            count = self._counts.get(cause, 0) + 1
            last = self._last.get(cause)
            if last is not None and now - last < self._every_s:
                self._counts[cause] = count
                return
            self._last[cause] = now
            self._counts[cause] = 0
        times = "" if last is None else f" ({count} in the last {now - last:.0f} s)"
        self._log.log(self._level if level is None else level, "%s%s", line, times)
