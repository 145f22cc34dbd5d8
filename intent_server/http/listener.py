"""Run the aiohttp application on its own event-loop thread inside the server process, with
TLS (and client certificates) from the same files as gRPC (`serving.secrets.tls_context`).

Connections come in through the gate (`gate.py`, a thread of its own: the connection cap,
the first request's header deadline, `/healthz` and `/readyz`), which hands the others over
to the application's loop, where `protocol.GuardedHandler` serves them with the header and
idle deadlines of `ConnectionLimits`."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from aiohttp import web

from intent_server.http.app import DEPS
from intent_server.http.connections import CauseLog, Connection, ConnectionTable
from intent_server.http.gate import Gate, GateSettings, loop_error_logger
from intent_server.http.health import Probes
from intent_server.http.protocol import GuardedHandler

log = logging.getLogger(__name__)


class HttpListenError(RuntimeError):
    """The HTTP port could not be opened (in use, bad host)."""


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take, and how many connections may be open
    (`--http-header-timeout`, `--http-idle-timeout`, `--http-max-connections`)."""

    header_timeout: float = 10.0
    idle_timeout: float = 75.0
    max_connections: int = 1000


class HttpListener:
    """`start()` binds and returns the real port (0 picks a free one); `stop()` lets requests
    in progress finish within `grace_seconds`."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        tls: ssl.SSLContext | None = None,
        reuse_port: bool = False,
        grace_seconds: float = 5.0,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._tls = tls
        self._grace = grace_seconds
        self.limits = limits or ConnectionLimits()
        self._causes = CauseLog(log)
        self.table = ConnectionTable(self.limits.max_connections, self._causes)
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(loop_error_logger(self._causes))
        self._thread = threading.Thread(target=self._loop.run_forever, name="http", daemon=True)
        self._runner: web.AppRunner | None = None
        deps = app[DEPS]
        metrics = deps.metrics
        self._gate = Gate(
            GateSettings(host, port, reuse_port, tls is not None, self.limits.header_timeout),
            self.table,
            self._causes,
            Probes(deps.is_ready, deps.service.registry.names, deps.tokens),
            self._hand_over,
            None if metrics is None else metrics.observe_http,
        )
        self.port = 0

    def start(self) -> int:
        self._thread.start()
        setup: Future[None] = asyncio.run_coroutine_threadsafe(self._setup(), self._loop)
        setup.result()
        try:
            self.port = self._gate.start()
        except OSError as exc:
            self._cleanup()
            raise HttpListenError(
                f"cannot listen for HTTP on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from None
        return self.port

    async def _setup(self) -> None:
        # No access log: a line per request would cost more than the request.
        self._runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=self._grace
        )
        await self._runner.setup()

    def _hand_over(self, sock: socket.socket, initial: bytes, connection: Connection) -> None:
        """From the gate's thread: serve this connection on the application's loop."""
        asyncio.run_coroutine_threadsafe(self._adopt(sock, initial, connection), self._loop)

    async def _adopt(self, sock: socket.socket, initial: bytes, connection: Connection) -> None:
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        limits = self.limits

        def handler() -> GuardedHandler:
            return GuardedHandler(
                server,
                loop=self._loop,
                table=self.table,
                connection=connection,
                causes=self._causes,
                header_timeout=limits.header_timeout,
                initial=initial,
                keepalive_timeout=limits.idle_timeout,
                access_log=None,
                auto_decompress=False,  # `codec.read_body` inflates, within the body limit
            )

        try:
            await self._loop.connect_accepted_socket(
                handler,
                sock,
                ssl=self._tls,
                ssl_handshake_timeout=limits.header_timeout if self._tls else None,
            )
        except Exception as exc:  # a failed TLS handshake, a client gone meanwhile
            self.table.close(connection)
            sock.close()
            self._causes.note(
                f"adopt-{type(exc).__name__}",
                f"HTTP: a connection failed before its first request: {exc or type(exc).__name__}",
                logging.INFO,
            )

    def stop(self) -> None:
        """Stop accepting; requests in progress get the grace period to finish."""
        if not self._thread.is_alive():
            return
        try:
            self._gate.stop()
        except Exception:
            log.exception("HTTP gate did not stop cleanly")
        self._cleanup()

    def _cleanup(self) -> None:
        if self._runner is not None:
            done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                done.result(timeout=self._grace + 5.0)
            except Exception:
                log.exception("HTTP listener did not stop cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()
