"""The HTTP port's gate: accepts every connection on its own thread and event loop, before
the application's loop sees it.

- The connection cap: each connection is registered in the `ConnectionTable`; at the cap
  the longest waiting one gives way, and when every connection has a request in progress
  the new one gets a 503 and is closed.
- The first request's header deadline: a plaintext connection stays here until its first
  request's headers are in (`--http-header-timeout`), so idle and slowloris connections
  never reach the application's loop.
- Probes: a plaintext `GET /healthz` or `GET /readyz` is answered here, on this thread, so a
  probe never waits behind classification traffic on the application's loop.
- Everything else is handed over (`hand_over`: the socket, and the bytes already read) to
  the application's loop, where `protocol.GuardedHandler` serves it. TLS connections are
  handed over at once (their bytes cannot be read here); their TLS handshake, and so their
  probes, run on the application's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from intent_server.http.connections import (
    HANDSHAKE,
    WAITING,
    CauseLog,
    Connection,
    ConnectionTable,
)
from intent_server.http.health import PROBE_PATHS, Probes
from intent_server.http.protocol import HEADER_TIMEOUT_LINE, IDLE_LINE, raw_error
from intent_server.serving.logs import request_id_from

log = logging.getLogger(__name__)

# Bytes read looking for the end of the first request's headers before handing the
# connection over anyway (aiohttp then enforces its header limits).
MAX_PEEK_BYTES = 16 * 1024
BACKLOG = 128  # also the most connections accepted in one go, before any is evicted
REFUSED = 503

# (socket, bytes read, its table entry) -> the application's loop takes the connection
HandOver = Callable[[socket.socket, bytes, Connection], None]
# (route, status, seconds) for the request metrics
Observe = Callable[[str, int, float], None]


@dataclass(frozen=True)
class GateSettings:
    host: str
    port: int
    reuse_port: bool
    tls: bool
    header_timeout: float


class Gate:
    """`start()` binds (OSError when it cannot) and returns the port; `stop()` closes the
    listening sockets and the connections still held here."""

    def __init__(
        self,
        settings: GateSettings,
        table: ConnectionTable,
        causes: CauseLog,
        probes: Probes,
        hand_over: HandOver,
        observe: Observe | None = None,
    ) -> None:
        self.settings = settings
        self.table = table
        self.causes = causes
        self.probes = probes
        self.hand_over = hand_over
        self.observe = observe
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(loop_error_logger(causes))
        self._thread = threading.Thread(target=self.loop.run_forever, name="http-gate", daemon=True)
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._held: set[Sorter] = set()

    def start(self) -> int:
        self._listeners = listening_sockets(
            self.settings.host, self.settings.port, self.settings.reuse_port
        )
        self._thread.start()
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._open(), self.loop)
        future.result()
        return int(self._listeners[0].getsockname()[1])

    async def _open(self) -> None:
        self._accepting = [self.loop.create_task(self._accept(sock)) for sock in self._listeners]

    async def _accept(self, listener: socket.socket) -> None:
        """One connection a turn of the loop, and none while the table is over the cap: a
        connection that gave way must be closed before the next is accepted."""
        while True:
            while len(self.table) > self.table.limit:
                await asyncio.sleep(0.005)
            try:
                sock, _ = await self.loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, most likely: wait a moment
                self.causes.note(f"accept-{exc.errno}", f"HTTP: cannot accept connections: {exc}")
                await asyncio.sleep(0.1)
                continue
            self._admit(sock)
            await asyncio.sleep(0)

    def _admit(self, sock: socket.socket) -> None:
        sorter = Sorter(self)
        state = HANDSHAKE if self.settings.tls else WAITING
        connection = self.table.open(sorter.abort, state)
        if connection is None:
            message = "the server has too many connections open: retry later"
            with contextlib.suppress(OSError):
                sock.send(raw_error(REFUSED, message))
            sock.close()
            return
        sorter.connection = connection
        if self.settings.tls:
            sock.setblocking(False)
            self.hand_over(sock, b"", connection)
            return
        self.loop.create_task(self._serve(sock, sorter))

    async def _serve(self, sock: socket.socket, sorter: Sorter) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: sorter, sock)
        except OSError:  # gone already
            sorter.connection_lost(None)
            sock.close()

    def stop(self) -> None:
        """Stop accepting and close what is held here (not what was handed over)."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=5.0)
        self._end_loop()

    async def _close(self) -> None:
        for task in self._accepting:
            task.cancel()
        for sock in self._listeners:
            sock.close()
        for sorter in list(self._held):
            sorter.abort()

    def _end_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self.loop.close()

    def hold(self, sorter: Sorter, held: bool) -> None:
        if held:
            self._held.add(sorter)
        else:
            self._held.discard(sorter)


def listening_sockets(host: str, port: int, reuse_port: bool) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address of `host` (port 0: one free
    port, the same for all); OSError when one cannot be bound."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    made: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if made[1:] and port == 0:  # the others take the first one's free port
                address = (address[0], made[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made


class Sorter(asyncio.Protocol):
    """One new connection on the gate: registered, timed, answered (a probe) or handed over."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._transport: asyncio.Transport | None = None
        self.connection: Connection | None = None  # set by the gate, or None: refused
        self._buffer = bytearray()
        self._clock: asyncio.TimerHandle | None = None
        self._started = time.perf_counter()
        self._aborted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._aborted:  # it gave way before its transport existed
            transport.abort()
            return
        self._gate.hold(self, True)
        self._clock = self._gate.loop.call_later(self._gate.settings.header_timeout, self._late)

    def data_received(self, data: bytes) -> None:
        if self.connection is None:
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_PEEK_BYTES:
                self._pass_on()
            return
        path, authorization, request_id = probe_request(bytes(self._buffer[:end]))
        if path is None or len(self._buffer) > end + 4:  # not a probe, or more behind it
            self._pass_on()
            return
        self._answer_probe(path, authorization, request_id)

    def eof_received(self) -> bool:
        return False  # the client is done sending: close

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_clock()
        self._gate.hold(self, False)
        if self.connection is not None:
            self._gate.table.close(self.connection)
            self.connection = None

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _late(self) -> None:
        self._clock = None
        timeout = self._gate.settings.header_timeout
        if self._transport is None or self.connection is None:
            return
        if self._buffer:
            self._gate.causes.note("header-timeout", HEADER_TIMEOUT_LINE.format(timeout))
            message = f"the request headers did not arrive within {timeout:g} s"
            self._transport.write(raw_error(408, message + " (--http-header-timeout)"))
            self._transport.close()
        else:
            self._gate.causes.note("idle", IDLE_LINE.format(timeout), logging.INFO)
            self._transport.close()

    def abort(self) -> None:
        """Close at once (the table's closer: it runs on the gate's thread)."""
        self._aborted = True
        if self._transport is not None:
            self._transport.abort()

    def _answer_probe(self, path: str, authorization: str, request_id: str) -> None:
        assert self._transport is not None
        self._stop_clock()
        status, body = self._gate.probes.answer(path, authorization)
        self._transport.write(probe_response(status, body, request_id))
        self._transport.close()
        if self._gate.observe is not None:
            self._gate.observe(f"GET {path}", status, time.perf_counter() - self._started)

    def _pass_on(self) -> None:
        """Hand the socket and what was read to the application's loop."""
        transport, connection = self._transport, self.connection
        assert transport is not None and connection is not None
        self._stop_clock()
        transport.pause_reading()
        raw = transport.get_extra_info("socket")
        try:
            sock = raw.dup()
        except OSError as exc:  # out of file descriptors: this one cannot be served
            self._gate.causes.note("dup", f"HTTP: could not hand a connection over: {exc}")
            transport.abort()
            return
        self.connection = None  # the application's loop owns it from here
        self._gate.hold(self, False)
        transport.abort()
        sock.setblocking(False)
        self._gate.hand_over(sock, bytes(self._buffer), connection)


def probe_request(head: bytes) -> tuple[str | None, str, str]:
    """(probe path or None, Authorization header, request id) of a request's head: a probe is
    `GET /healthz` or `GET /readyz` (a query string allowed) without a body."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/1."):
        return None, "", ""
    path = parts[1].split("?", 1)[0]
    if path not in PROBE_PATHS:
        return None, "", ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None, "", ""  # not a header line: let aiohttp say what is wrong
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") or headers.get("content-length", "0") != "0":
        return None, "", ""
    incoming = headers.get("x-request-id", "")
    request_id = request_id_from(incoming) if incoming else uuid.uuid4().hex[:12]
    return path, headers.get("authorization", ""), request_id


def probe_response(status: int, body: dict[str, object], request_id: str) -> bytes:
    data = json.dumps(body).encode("utf-8")
    reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Unknown")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\n"
        f"X-Request-Id: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


def loop_error_logger(
    causes: CauseLog,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, object]], None]:
    """An event loop's error handler that logs one line per kind of error a minute, without
    the traceback (`accept()` out of file descriptors would otherwise log one per try)."""

    def handle(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        message = str(context.get("message") or "event loop error")
        error = context.get("exception")
        detail = f": {type(error).__name__}: {error}" if error is not None else ""
        with contextlib.suppress(Exception):
            causes.note(f"loop-{message}", f"HTTP: {message}{detail}"[:500])

    return handle
