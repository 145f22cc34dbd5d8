"""Run the aiohttp application on its own event-loop thread inside the server process, with
TLS (and client certificates) from the same files as gRPC (`serving.secrets.tls_context`)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from concurrent.futures import Future

from aiohttp import web

log = logging.getLogger(__name__)


class HttpListenError(RuntimeError):
    """The HTTP port could not be opened (in use, bad host)."""


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
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._tls = tls
        self._reuse_port = reuse_port
        self._grace = grace_seconds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> int:
        self._thread.start()
        future: Future[int] = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        try:
            self.port = future.result()
        except OSError as exc:
            self._shutdown_loop()
            raise HttpListenError(
                f"cannot listen for HTTP on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from None
        return self.port

    async def _open(self) -> int:
        # No access log: a line per request would cost more than the request.
        self._runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=self._grace
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self._host,
            self._port,
            ssl_context=self._tls,
            reuse_port=self._reuse_port or None,
        )
        await site.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        """Stop accepting; requests in progress get the grace period to finish."""
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                done.result(timeout=self._grace + 5.0)
            except Exception:
                log.exception("HTTP listener did not stop cleanly")
        self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()
