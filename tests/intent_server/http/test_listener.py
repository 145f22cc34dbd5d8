"""The HTTP listener's connection layer on real sockets (issue 23): idle, slowloris and
slow-body clients are cut off by their deadlines (short ones here), the connection cap
makes room by closing the longest idle connection, probes are answered on the gate's thread
even while the application's loop is stuck, `/readyz` names models only to authorised
callers, and broken framing gets the JSON error every other refusal has."""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from intent_server.http.listener import ConnectionLimits, HttpListener
from tests.fixtures.http import bare_listener, http_call, parse_raw, raw_exchange, read_until_closed

SHORT = ConnectionLimits(header_timeout=0.4, idle_timeout=0.6, max_connections=50)


@pytest.fixture
def listener() -> Iterator[HttpListener]:
    with bare_listener(SHORT, body_timeout=0.4) as running:
        yield running


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """What the server sent before closing `sock`, and after how long."""
    began = time.perf_counter()
    sock.settimeout(seconds)
    data = read_until_closed(sock)
    return data, time.perf_counter() - began


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(
    listener: HttpListener,
) -> None:
    with connect(listener.port) as sock:
        data, after = closed_within(sock, 5.0)
    assert data == b"" and 0.3 < after < 2.0


def test_slow_headers_get_408_at_the_header_deadline(listener: HttpListener) -> None:
    with connect(listener.port) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        data, after = closed_within(sock, 5.0)
    status, headers, body = parse_raw(data)
    assert status == 408 and after < 2.0
    assert body["error"]["status"] == "DEADLINE_EXCEEDED" and "--http-header-timeout" in str(body)
    assert headers["x-request-id"] == body["error"]["requestId"]


def test_a_slowloris_trickle_is_cut_off_too(listener: HttpListener) -> None:
    """A byte every 0.05 s keeps the connection busy but never finishes the headers."""
    reply = b""
    with connect(listener.port) as sock:
        sock.settimeout(0.05)
        began = time.perf_counter()
        for byte in b"GET /version HTTP/1.1\r\nHost: somewhere.example\r\nX-Slow: 1" * 5:
            try:
                sock.sendall(bytes([byte]))
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset by the server
                break
            reply += chunk
            if not chunk:  # closed by the server
                break
        after = time.perf_counter() - began
    assert after < 2.0 and parse_raw(reply)[0] == 408


def test_a_slow_body_gets_408_and_the_connection_is_closed(listener: HttpListener) -> None:
    with connect(listener.port) as sock:
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        data, after = closed_within(sock, 5.0)
    status, _, body = parse_raw(data)
    assert status == 408 and "--http-body-timeout" in body["error"]["message"]
    assert after < 2.0  # closed at once, not after aiohttp's 10 s of lingering


def test_a_kept_alive_connection_is_closed_when_idle_and_held_to_the_header_deadline(
    listener: HttpListener,
) -> None:
    with connect(listener.port) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5.0)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        data, after = closed_within(sock, 5.0)  # idle after its answer
    assert data == b"" and 0.4 < after < 2.0
    with connect(listener.port) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /version HTTP/1.1\r\n")  # the next request starts, then stalls
        data, after = closed_within(sock, 5.0)
    assert parse_raw(data)[0] == 408 and after < 0.6


def test_at_the_cap_the_longest_idle_connection_makes_room() -> None:
    with bare_listener(ConnectionLimits(header_timeout=30, max_connections=3)) as listener:
        idle = [connect(listener.port) for _ in range(3)]
        time.sleep(0.2)
        reply = http_call(f"http://127.0.0.1:{listener.port}/version", timeout=5)
        assert reply.status == 200
        data, after = closed_within(idle[0], 5.0)  # the oldest gave way
        assert data == b"" and after < 1.0
        for sock in idle:
            sock.close()


def test_when_every_connection_has_a_request_in_progress_a_new_one_gets_503() -> None:
    release = threading.Event()

    async def busy(request: web.Request) -> web.Response:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return web.Response(text="done")

    limits = ConnectionLimits(header_timeout=30, max_connections=2)
    with bare_listener(limits, routes=[("GET", "/busy", busy)]) as listener:
        working = [connect(listener.port) for _ in range(2)]
        for sock in working:
            sock.sendall(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        status, _, body = parse_raw(raw_exchange(listener.port, b""))
        assert status == 503 and "too many connections" in body["error"]["message"]
        release.set()
        for sock in working:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            sock.close()


def test_probes_are_answered_while_the_application_loop_is_stuck() -> None:
    """A probe does not wait behind the API: the gate answers it on its own thread."""

    async def stuck(request: web.Request) -> web.Response:
        time.sleep(1.5)  # blocks the application's event loop, as a flood of calls would
        return web.Response(text="late")

    with bare_listener(SHORT, routes=[("GET", "/stuck", stuck)]) as listener:
        url = f"http://127.0.0.1:{listener.port}"
        blocker = threading.Thread(target=http_call, args=(f"{url}/stuck",))
        blocker.start()
        time.sleep(0.2)
        for path in ("/healthz", "/readyz"):
            began = time.perf_counter()
            reply = http_call(url + path, timeout=5)
            assert reply.status == 200 and time.perf_counter() - began < 0.5, path
            assert reply.headers["X-Request-Id"]
        blocker.join()


def test_readyz_names_the_models_only_to_an_authorised_caller() -> None:
    with bare_listener(SHORT, tokens=("bot-token",)) as listener:
        url = f"http://127.0.0.1:{listener.port}/readyz"
        assert http_call(url).body == {"status": "SERVING"}
        wrong = http_call(url, headers={"Authorization": "Bearer nope"})
        assert wrong.body == {"status": "SERVING"}
        good = http_call(url, headers={"Authorization": "Bearer bot-token"})
        assert good.body == {"status": "SERVING", "models": []}
        # The same on a kept-alive connection, where the application answers.
        client = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=5)
        client.request("GET", "/version")
        client.getresponse().read()
        client.request("GET", "/readyz")
        assert b"models" not in client.getresponse().read()
        client.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS on a plaintext port
    ],
)
def test_broken_framing_gets_a_json_error_and_no_traceback(
    listener: HttpListener, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, headers, body = parse_raw(raw_exchange(listener.port, request_bytes))
    assert 400 <= status < 500 and body["error"]["code"] == status
    assert body["error"]["message"].startswith("malformed HTTP request")
    assert headers["x-request-id"] == body["error"]["requestId"]
    assert "Traceback" not in caplog.text


def test_many_broken_requests_make_one_log_line(
    listener: HttpListener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(20):
        raw_exchange(listener.port, b"GARBAGE\r\n\r\n")
    assert caplog.text.count("refused a malformed request") == 1


def test_the_rest_of_a_refused_body_is_no_late_request() -> None:
    """A 401 comes before the body is read; the body's rest, sent slower than the header
    deadline, is dropped by the server and is not taken for a stalled next request."""
    with bare_listener(SHORT, tokens=("bot-token",)) as listener, connect(listener.port) as sock:
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 6000\r\n\r\n")
        for _ in range(6):
            time.sleep(0.15)  # 0.9 s in all, over the 0.4 s header deadline
            sock.sendall(b"x" * 1000)
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        replies = read_until_closed(sock)
    assert replies.startswith(b"HTTP/1.1 401") and b"HTTP/1.1 200" in replies
    assert b" 408 " not in replies
