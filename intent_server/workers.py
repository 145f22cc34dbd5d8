"""`--workers N`: N server processes sharing one port through SO_REUSEPORT.

The parent reserves the port (a bound, never listening SO_REUSEPORT socket, so port 0 picks
one free port for all), then forks the workers before any gRPC object exists (gRPC's core
does not survive a fork). Each worker loads its own models and serves; the kernel spreads
incoming connections across them. The parent forwards SIGTERM/SIGINT/SIGHUP to every worker
and waits; when one worker dies unexpectedly, the others are stopped too (a supervisor such
as Kubernetes restarts the whole set). With `--metrics-port P`, worker i serves its metrics
on port P + i. `--http-port` is shared the same way as the gRPC port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from intent_server import signals
from intent_server.config import ServerConfig

log = logging.getLogger(__name__)

ServeFn = Callable[[ServerConfig], int]
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _socket_for(host: str, port: int) -> tuple[socket.socket, Any]:
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM
    )[0]
    return socket.socket(family, kind, proto), address


def check_port_free(host: str, port: int) -> None:
    """OSError (EADDRINUSE) when some process already holds `port`, SO_REUSEPORT or not:
    without this check a second `--workers` server would bind the same port and the kernel
    would split connections between two unrelated servers."""
    if port == 0:
        return
    probe, address = _socket_for(host, port)
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        probe.bind(address)


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound SO_REUSEPORT socket holding `port` (0: a free one) for the workers."""
    check_port_free(host, port)
    sock, address = _socket_for(host, port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _worker(config: ServerConfig, index: int, serve: ServeFn) -> int:
    """In the child: its own record of signals (kept until `serve` acts on them), then serve."""
    signals.reset()
    metrics_port = config.metrics_port + index if config.metrics_port else 0
    log.info("worker %d of %d: pid %d", index + 1, config.workers, os.getpid())
    return serve(replace(config, metrics_port=metrics_port))


def _fork(
    config: ServerConfig, index: int, serve: ServeFn, reservations: list[socket.socket]
) -> int:
    """Fork worker `index`; returns its pid (the child never returns into the parent's code)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for reserved in reservations:
            reserved.close()
        code = _worker(config, index, serve)
    except BaseException:
        log.exception("worker %d failed", index + 1)
    finally:
        logging.shutdown()
        os._exit(code)


def run_workers(config: ServerConfig, serve: ServeFn) -> int:
    """Fork `config.workers` processes running `serve`; returns the worst exit code."""
    reservation = reserve_port(config.host, config.port)
    port = int(reservation.getsockname()[1])
    worker_config = replace(config, port=port)
    http_reservation = None
    if config.http_port is not None:
        try:
            http_reservation = reserve_port(config.host, config.http_port)
        except OSError:
            reservation.close()
            raise
        worker_config = replace(worker_config, http_port=int(http_reservation.getsockname()[1]))
    children: list[int] = []
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    held = signals.install()  # what arrived before `forward` took over
    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        if held.stop.is_set():
            log.info("received %s while starting: no worker started", held.stop_signal)
            return 0
        reservations = [r for r in (reservation, http_reservation) if r is not None]
        for index in range(config.workers):
            children.append(_fork(worker_config, index, serve, reservations))
        if held.take_hangups():  # the workers reload once they serve
            forward(signal.SIGHUP, None)
        log.info(
            "listening on %s:%d with %d worker processes (pids %s)",
            config.host,
            port,
            config.workers,
            ", ".join(map(str, children)),
        )
        return _wait(children, lambda: stopping, forward)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reservation.close()
        if http_reservation is not None:
            http_reservation.close()


def _wait(
    children: list[int], stopping: Callable[[], bool], forward: Callable[[int, Any], None]
) -> int:
    worst = 0
    alive = set(children)
    while alive:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover (PEP 475 retries)
            continue
        if pid not in alive:
            continue
        alive.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        worst = max(worst, abs(code))
        if not stopping():
            log.error("worker pid %d exited with %d: stopping the other workers", pid, code)
            worst = max(worst, 1)
            forward(signal.SIGTERM, None)
    return worst
