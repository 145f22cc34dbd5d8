"""aiohttp's connection handler with this server's deadlines and errors (`GuardedHandler`).

aiohttp closes a connection only when no request arrived within its keep-alive timeout
(`--http-idle-timeout` here) and answers broken framing with a plain-text 400 and a
traceback in the log. On top of that, each connection here:

- has `--http-header-timeout` seconds to send a request's headers, counted from the
  first byte of the request (or from the start of a TLS connection): a slowloris client that
  sends a byte a second is cut off, with a 408 when it sent something;
- is registered in the `ConnectionTable` (`connections.py`) with what it is doing, so that
  at the connection cap the longest waiting one gives way;
- answers broken framing (a bad request line, a bad `Content-Length`, oversized headers)
  with the JSON error body and request id every other refusal has, logging one line per
  minute for all such clients together.

The body deadline (`--http-body-timeout`) is the handler's (`codec.read_body`), which asks
for the connection to be closed after its 408 (`close_after_response`), without aiohttp's
lingering read of the rest of a body that is not coming.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.web_request import BaseRequest

from intent_server.http.connections import (
    READING,
    WAITING,
    WORKING,
    CauseLog,
    Connection,
    ConnectionTable,
)
from intent_server.http.errors import error_response

log = logging.getLogger(__name__)

# A late request that sent nothing yet is closed without an answer; one that started gets
# this status (Request Timeout) first.
REQUEST_TIMEOUT = 408


class GuardedHandler(web.RequestHandler):
    """One connection on the application's event loop. `initial` holds bytes the gate read
    before handing the connection over; `connection` is its entry in the table."""

    def __init__(
        self,
        manager: web.Server,
        *,
        table: ConnectionTable,
        connection: Connection,
        causes: CauseLog,
        header_timeout: float,
        initial: bytes = b"",
        **settings: Any,
    ) -> None:
        super().__init__(manager, **settings)
        self._table = table
        self.connection = connection
        self._causes = causes
        self._header_timeout = header_timeout
        self._initial = initial
        self._header_clock: asyncio.TimerHandle | None = None
        self._bytes_since_clock = 0
        self._close_after = False
        # The body of the last request when it was answered before it was all read: aiohttp
        # reads and drops the rest (within its lingering time), which is no new request.
        self._unread_body: StreamReader | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        loop = self._loop
        self.connection.closer = lambda: loop.call_soon_threadsafe(self.force_close)
        if not self._table.set_state(self.connection, WAITING):  # evicted on its way here
            self.force_close()
            return
        self._start_header_clock()
        initial, self._initial = self._initial, b""
        if initial:
            self.data_received(initial)

    def data_received(self, data: bytes) -> None:
        if self.connection.state == WAITING and not self._draining():
            if self._header_clock is None:
                self._start_header_clock()
            self._bytes_since_clock += len(data)
        super().data_received(data)

    def _draining(self) -> bool:
        if self._unread_body is not None and self._unread_body.is_eof():
            self._unread_body = None
        return self._unread_body is not None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_clock()
        self._table.close(self.connection)
        super().connection_lost(exc)

    def _start_header_clock(self) -> None:
        self._bytes_since_clock = 0
        self._header_clock = self._loop.call_later(self._header_timeout, self._headers_late)

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _headers_late(self) -> None:
        self._header_clock = None
        if self.connection.state != WAITING or self.transport is None:
            return
        if self._bytes_since_clock:
            self._causes.note("header-timeout", HEADER_TIMEOUT_LINE.format(self._header_timeout))
            message = (
                f"the request headers did not arrive within {self._header_timeout:g} s "
                "(--http-header-timeout)"
            )
            self.transport.write(raw_error(REQUEST_TIMEOUT, message))
        else:
            self._causes.note("idle", IDLE_LINE.format(self._header_timeout), logging.INFO)
        self.force_close()

    def request_started(self) -> None:
        """The middleware got a request: its headers are in, the handler works on it."""
        self._stop_header_clock()
        self._table.set_state(self.connection, WORKING)

    def reading_body(self, reading: bool) -> None:
        self._table.set_state(self.connection, READING if reading else WORKING)

    def request_finished(self, body: StreamReader) -> None:
        """The response is ready; `body` is the request's, perhaps not all read."""
        self._unread_body = None if body.is_eof() else body
        self._table.set_state(self.connection, WAITING)

    def close_after_response(self) -> None:
        """Close the connection once the response is written, reading nothing more."""
        self._close_after = True

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        done = await super().finish_response(request, resp, start_time)
        if self._close_after:
            self.force_close()
        return done

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not frame (or a handler that failed
        outside the middleware): the JSON error body, one log line a minute for all."""
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started")
        text = framing_error_text(status, exc, message)
        self._causes.note(f"framing-{status}", f"HTTP: refused a malformed request: {text}")
        response = error_response(status, text, uuid.uuid4().hex[:12])
        response.force_close()
        return response


def framing_error_text(status: int, exc: BaseException | None, message: str | None) -> str:
    """The parser's complaint, first line only (it may quote the client's bytes)."""
    if status >= 500:
        return "internal server error; the server log has the details"
    detail = (message or (str(exc) if exc is not None else "") or "bad request").strip()
    first = detail.splitlines()[0].strip().rstrip(":") if detail else "bad request"
    return f"malformed HTTP request: {first[:200]}"


def raw_error(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 error response (JSON body, connection closed), for a connection
    that has no request object to answer through."""
    request_id = uuid.uuid4().hex[:12]
    response = error_response(status, message, request_id)
    body = response.body
    assert isinstance(body, bytes)
    head = (
        f"HTTP/1.1 {status} {response.reason}\r\n"
        f"Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-Id: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


HEADER_TIMEOUT_LINE = (
    "HTTP: closed a connection whose request headers did not arrive within {:g} s "
    "(--http-header-timeout)"
)
IDLE_LINE = "HTTP: closed a connection that sent no request within {:g} s (--http-header-timeout)"


def connection_of(request: web.Request) -> GuardedHandler | None:
    """The request's connection handler (None for a test client's plain handler)."""
    protocol = request.protocol
    return protocol if isinstance(protocol, GuardedHandler) else None
