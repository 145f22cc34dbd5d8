"""Requests meant to make the server work before it has checked who is asking, or to make it
fail (issue 23): compressed bodies inflate only up to the body limit, a token outside the
body is checked before the body is read, and odd numbers, lone surrogates and header bytes
that are not UTF-8 get a 400 or 401, never a 500."""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib
from collections.abc import Iterator

import pytest

from intent_server.http.listener import HttpListener
from tests.fixtures.http import bare_listener, http_call, parse_raw, raw_exchange

MIB = 1024 * 1024
TOKEN = "bot-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body of zeros: about 1 KB for every MiB it inflates to."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    return b"".join(packer.compress(zeros) for _ in range(inflated_mib)) + packer.flush()


@pytest.fixture(scope="module")
def listener() -> Iterator[HttpListener]:
    with bare_listener(tokens=(TOKEN,), max_body_bytes=MIB) as running:
        yield running


def url(listener: HttpListener, path: str) -> str:
    return f"http://127.0.0.1:{listener.port}{path}"


@pytest.mark.parametrize("path", ["/v1/classify", "/model/parse"])
def test_a_gzip_bomb_is_refused_once_it_inflates_past_the_body_limit(
    listener: HttpListener, path: str
) -> None:
    bomb = gzip_bomb(200)
    began = time.perf_counter()
    reply = http_call(url(listener, path), raw=bomb, headers={"Content-Encoding": "gzip", **BEARER})
    assert reply.status == 413 and "inflates to more than 1048576 bytes" in reply.error["message"]
    assert time.perf_counter() - began < 1.0  # 200 MiB were never inflated


def test_compressed_bodies_within_the_limit_are_read(listener: HttpListener) -> None:
    body = json.dumps({"text": "hi"}).encode()
    for encoding, packed in [("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))]:
        reply = http_call(
            url(listener, "/v1/classify"),
            raw=packed,
            headers={"Content-Encoding": encoding, **BEARER},
        )
        assert reply.status == 503, reply.body  # parsed; no model is loaded here


def test_other_encodings_and_broken_gzip_are_refused(listener: HttpListener) -> None:
    body = json.dumps({"text": "hi"}).encode()
    brotli = http_call(
        url(listener, "/v1/classify"), raw=body, headers={"Content-Encoding": "br", **BEARER}
    )
    assert brotli.status == 415 and "gzip or deflate" in brotli.error["message"]
    broken = http_call(
        url(listener, "/v1/classify"),
        raw=gzip.compress(body)[:-12],
        headers={"Content-Encoding": "gzip", **BEARER},
    )
    assert broken.status == 400 and "gzip" in broken.error["message"]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/model/parse", ""),  # no token anywhere: the body is too large to look in
        ("/model/parse", "Authorization: Bearer wrong\r\n"),
        ("/model/parse?token=wrong", ""),
        ("/v1/classify", ""),
    ],
)
def test_the_token_is_checked_before_a_large_body_is_read(
    listener: HttpListener, path: str, headers: str
) -> None:
    """The headers announce 1 MiB and no byte of it is sent: the 401 comes anyway, at
    once (before 23, /model/parse waited for and parsed the body first)."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {MIB}\r\n{headers}\r\n"
    with socket.create_connection(("127.0.0.1", listener.port), timeout=3.0) as sock:
        sock.sendall(head.encode())
        status, _, body = parse_raw(sock.recv(65536))
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"


def test_rasa_still_sends_its_token_in_a_small_body(listener: HttpListener) -> None:
    ok = http_call(url(listener, "/model/parse"), {"text": "hi", "token": TOKEN})
    assert ok.status == 503  # authorised; no model is loaded here
    wrong = http_call(url(listener, "/model/parse"), {"text": "hi", "token": "nope"})
    assert wrong.status == 401 and wrong.error["message"] == "invalid token"
    large = http_call(url(listener, "/model/parse"), {"text": "a" * 70_000, "token": TOKEN})
    assert large.status == 401 and "--http-max-token-body-bytes" in large.error["message"]


HUGE_NUMBER = b'{"text": "hi", "topK": 1' + b"0" * 5000 + b"}"


@pytest.mark.parametrize(
    ("path", "raw", "headers", "status"),
    [
        ("/v1/classify", HUGE_NUMBER, BEARER, 400),
        ("/model/parse", HUGE_NUMBER, BEARER, 400),
        ("/model/parse", b'{"text": "\\ud800", "token": "bot-token"}', {}, 400),
        ("/model/parse", b'{"text": "hi", "token": "\\ud800"}', {}, 400),
        ("/model/parse", b'{"text": "\\ud800"}', BEARER, 400),
        ("/v1/classify", b'{"text": "\\udcff"}', BEARER, 400),
    ],
)
def test_what_a_client_sends_never_gets_a_500(
    listener: HttpListener, path: str, raw: bytes, headers: dict[str, str], status: int
) -> None:
    reply = http_call(url(listener, path), raw=raw, headers=headers)
    assert reply.status == status, reply.body
    assert reply.error["message"] and "internal" not in reply.error["message"]


@pytest.mark.parametrize("path", ["/v1/classify", "/model/parse", "/readyz"])
def test_an_authorization_header_that_is_not_utf8_is_a_401(
    listener: HttpListener, path: str
) -> None:
    body = b'{"text": "hi"}'
    request = (
        (
            f"{'GET' if path == '/readyz' else 'POST'} {path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        + b"Authorization: Bearer \xff\xfe\xc3\r\n\r\n"
        + body
    )
    status, _, reply = parse_raw(raw_exchange(listener.port, request))
    if path == "/readyz":
        assert status == 200 and reply == {"status": "SERVING"}
    else:
        assert status == 401 and reply["error"]["message"] == "invalid token"
