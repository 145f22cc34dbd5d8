"""The HTTP port of a real `intent-server` process against hostile clients (issue 23, the
bars): 1,100 idle connections under an open-file limit of 1,024 leave gRPC health, gRPC and
HTTP classification and a SIGHUP reload working; the open-file limit is raised to the hard
one; gzip bombs and 1 MiB unauthenticated bodies cost the server next to nothing; and no
input of the issue's table gets a 500 or a traceback."""

from __future__ import annotations

import json
import resource
import signal
import socket
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from intent_server.client import IntentClient
from tests.fixtures.http import http_call, parse_raw, raw_exchange
from tests.fixtures.server import ServerProcess
from tests.fixtures.waiting import wait_until

StartServer = Callable[..., ServerProcess]
MIB = 1024 * 1024
TOKEN = "bot-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def open_files(soft: int, hard: int) -> Callable[[], None]:
    def limit() -> None:  # in the child, before it runs Python
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def grpc_health(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[no-untyped-call]
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def test_1100_idle_connections_under_1024_open_files(
    start_server_process: StartServer, token_file: Path
) -> None:
    server = start_server_process(
        "--http-port", "0", "--token-file", str(token_file), preexec_fn=open_files(1024, 1024)
    )
    assert "at most 768 connections" in server.log
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    idle = []
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", server.http_port), timeout=5))
        time.sleep(1.0)
        assert server.open_files() < 1024
        began = time.perf_counter()
        assert grpc_health(server.address) == "SERVING"
        with IntentClient(server.address, timeout=5, token=TOKEN) as client:
            assert client.classify("set an alarm for 7").intent == "set_alarm"
        url = f"http://127.0.0.1:{server.http_port}"
        reply = http_call(f"{url}/v1/classify", {"text": "set an alarm for 7"}, headers=BEARER)
        assert reply.status == 200 and reply.body["intent"]["name"] == "set_alarm"
        answered_in = time.perf_counter() - began
        server.process.send_signal(signal.SIGHUP)
        wait_until(lambda: server.log.count("received SIGHUP") == 1)
        time.sleep(1.0)
    finally:
        for sock in idle:
            sock.close()
    assert server.terminate() == 0
    assert "Traceback" not in server.log and "Too many open files" not in server.log
    http_lines = [line for line in server.lines if "HTTP:" in line]
    assert len(http_lines) <= 5, http_lines  # one line per cause, not one per connection
    print(f"\n[measure] 1,100 idle connections, 1,024 files: health + 2 calls {answered_in:.2f} s")


def test_the_open_file_limit_is_raised_to_the_hard_one(start_server_process: StartServer) -> None:
    server = start_server_process("--http-port", "0", preexec_fn=open_files(1024, 4096))
    limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert line.split()[3:5] == ["4096", "4096"]
    assert "open-file limit raised from 1024 to 4096" in server.log
    assert "at most 3072 connections" in server.log


def gzip_bomb(inflated_mib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    return b"".join(packer.compress(zeros) for _ in range(inflated_mib)) + packer.flush()


def server_ms_per_request(server: ServerProcess, send: Callable[[], int], times: int) -> float:
    """Server CPU time per request (measured over `times` requests: the clock ticks 10 ms)."""
    wait_until(lambda: "batches run" in server.log or "timing the batch" in server.log)
    time.sleep(0.5)  # the server is idle now
    before = server.cpu_seconds()
    statuses = {send() for _ in range(times)}
    assert 500 not in statuses
    return (server.cpu_seconds() - before) * 1000 / times


def test_gzip_bombs_and_large_unauthenticated_bodies_cost_little(
    start_server_process: StartServer, token_file: Path
) -> None:
    server = start_server_process("--http-port", "0", "--token-file", str(token_file))
    url = f"http://127.0.0.1:{server.http_port}"
    bomb = gzip_bomb(1000)  # 1 MB that inflates to 1,000 MiB
    large = json.dumps({"text": "a" * (MIB - 20)}).encode()
    gzipped = {"Content-Encoding": "gzip"}
    sends: dict[str, tuple[Callable[[], int], int]] = {
        "gzip bomb, no token": (
            lambda: http_call(f"{url}/model/parse", raw=bomb, headers=gzipped).status,
            401,
        ),
        "gzip bomb, with a token": (
            lambda: http_call(f"{url}/v1/classify", raw=bomb, headers={**gzipped, **BEARER}).status,
            413,
        ),
        "1 MiB /model/parse, no token": (
            lambda: http_call(f"{url}/model/parse", raw=large).status,
            401,
        ),
    }
    costs = {}
    for name, (send, status) in sends.items():
        assert send() == status, name
        costs[name] = server_ms_per_request(server, send, 20)
    shown = ", ".join(f"{name} {ms:.1f} ms" for name, ms in costs.items())
    print(f"\n[measure] server CPU per request: {shown}")
    # The bar is 5 ms; the assertion leaves room for a contended machine (before: 2,380 ms).
    assert all(ms < 20 for ms in costs.values()), costs


TABLE_INPUTS: list[tuple[str, bytes, dict[str, str]]] = [
    ("/v1/classify", b'{"text": 1' + b"1" * 5000 + b"}", BEARER),
    ("/model/parse", b'{"text": 1' + b"1" * 5000 + b"}", {}),
    ("/model/parse", b'{"text": "\\ud800", "token": "bot-token"}', {}),
    ("/model/parse", b'{"text": "hi", "token": "\\ud800"}', {}),
    ("/model/parse?token=bot-token", b'{"text": "\\ud800"}', {}),
]


def test_no_input_of_the_table_gets_a_500_or_a_traceback(
    start_server_process: StartServer, token_file: Path
) -> None:
    server = start_server_process("--http-port", "0", "--token-file", str(token_file))
    url = f"http://127.0.0.1:{server.http_port}"
    for path, raw, headers in TABLE_INPUTS:
        reply = http_call(url + path, raw=raw, headers=headers)
        assert reply.status == 400, (path, reply.body)
    auth = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n"
    status, _, _ = parse_raw(
        raw_exchange(server.http_port, auth + b"Authorization: \xff\r\n\r\n{}")
    )
    assert status == 401
    for broken in (b"GARBAGE\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
        status, headers, body = parse_raw(raw_exchange(server.http_port, broken))
        assert status == 400 and body["error"]["requestId"] == headers["x-request-id"]
    assert http_call(f"{url}/readyz").body == {"status": "SERVING"}
    assert server.terminate() == 0
    assert "Traceback" not in server.log
