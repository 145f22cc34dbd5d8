"""The process's signals as events, from the first line of `intent-server` on.

SIGTERM and SIGINT ask the server to stop, SIGHUP to reload its models. Without handlers, a
SIGHUP kills a Python process (exit 129) and a SIGTERM ends it without a word; the heavy
imports and the model loading take about a second, and orchestrators send both during that
second (Kubernetes stops pods that are still starting). So `install()` runs before anything
heavy is imported: from then on a signal is only remembered, and the server acts on it once
it can (`process.serve`): a stop once the listeners exist, a reload once the models are
served. Only the standard library is imported here, so installing costs nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ProcessSignals:
    """What arrived: `stop` is set by SIGTERM/SIGINT (`stop_signal` names the first),
    `take_hangups()` counts the SIGHUPs not yet acted on; `changed` wakes a waiter on any."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.changed = threading.Event()
        self.stop_signal = ""
        self._hangups = 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # A handler only records: the main thread may be anywhere (in a lock, in logging).
        if signum == signal.SIGHUP:
            self._hangups += 1
        elif not self.stop.is_set():
            self.stop_signal = signal.Signals(signum).name
            self.stop.set()
        self.changed.set()

    def take_hangups(self) -> int:
        """SIGHUPs received since the last call."""
        count, self._hangups = self._hangups, 0
        return count

    def handle(self) -> None:
        for signum in (*STOP_SIGNALS, signal.SIGHUP):
            signal.signal(signum, self._on_signal)


_installed: ProcessSignals | None = None


def install() -> ProcessSignals:
    """Handle SIGTERM, SIGINT and SIGHUP in this process from now on (main thread only); the
    same object on every call, so what arrived before a later call is kept."""
    global _installed
    if _installed is None:
        _installed = ProcessSignals()
        _installed.handle()
    return _installed


def reset() -> ProcessSignals:
    """A fresh record with the handlers installed (a forked `--workers` child: the parent's
    record is not the child's)."""
    global _installed
    _installed = None
    return install()
