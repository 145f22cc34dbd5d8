"""The connection table (who gives way at the cap) and the cause log (one line a minute per
cause, however many clients cause it)."""

from __future__ import annotations

import logging
import time

import pytest

from intent_server.http.connections import (
    READING,
    WAITING,
    WORKING,
    CauseLog,
    Connection,
    ConnectionTable,
)

log = logging.getLogger("test-connections")


def table(limit: int) -> tuple[ConnectionTable, list[str]]:
    return ConnectionTable(limit, CauseLog(log)), []


def opened(connections: ConnectionTable, closed: list[str], name: str) -> Connection | None:
    """A connection whose owner notes its name when told to close; it stays counted (as
    closing) until `connections.close` is called for it, as when its socket is closed."""
    return connections.open(lambda: closed.append(name))


def test_at_the_cap_the_longest_waiting_then_reading_connection_gives_way() -> None:
    connections, closed = table(3)
    first, second, third = (opened(connections, closed, name) for name in ("1", "2", "3"))
    assert first and second and third
    connections.set_state(first, WORKING)  # a request in progress: never cut off
    connections.set_state(second, READING)
    fourth = opened(connections, closed, "4")
    assert fourth is not None and closed == ["3"]  # waiting goes before reading
    assert len(connections) == 4 and connections.counts()["closing"] == 1
    connections.close(third)  # its socket is closed: the count is back at the cap
    assert len(connections) == 3
    fifth = opened(connections, closed, "5")
    assert fifth is not None and closed == ["3", "4"]
    connections.close(fourth)
    assert connections.set_state(fourth, WAITING) is False  # closed meanwhile
    sixth = opened(connections, closed, "6")
    assert sixth is not None and closed == ["3", "4", "5"]
    connections.set_state(sixth, WORKING)
    connections.close(fifth)
    assert opened(connections, closed, "7") is not None
    assert closed == ["3", "4", "5", "2"]  # no connection waits: the reading one gives way


def test_when_all_are_working_a_new_connection_is_refused() -> None:
    connections, closed = table(2)
    for name in ("1", "2"):
        entry = opened(connections, closed, name)
        assert entry is not None
        connections.set_state(entry, WORKING)
    assert opened(connections, closed, "new") is None and closed == []


def test_closing_twice_and_states_of_closed_connections_are_harmless() -> None:
    connections, _ = table(2)
    entry = connections.open(lambda: None)
    assert entry is not None
    connections.close(entry)
    connections.close(entry)
    assert len(connections) == 0
    assert connections.set_state(entry, WAITING) is False
    assert set(connections.counts().values()) == {0}


def test_the_cause_log_writes_one_line_a_minute_per_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    causes = CauseLog(log, every_s=60.0)
    for _ in range(1000):
        causes.note("slow", "a slow client")
    causes.note("other", "another cause")
    assert caplog.text.count("a slow client") == 1 and caplog.text.count("another cause") == 1
    later = CauseLog(log, every_s=0.05)
    for _ in range(5):
        later.note("slow", "again")  # the first is logged, four are counted
    time.sleep(0.06)
    later.note("slow", "again")
    assert caplog.text.count("again") == 2 and "again (5 in the last 0 s)" in caplog.text
