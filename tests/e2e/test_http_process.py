"""`intent-server --http-port` as a real process: served beside gRPC, shared by --workers,
a busy port is a one-line error, SIGTERM stops both listeners."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.http import http_call
from tests.fixtures.server import ServerProcess
from tests.fixtures.waiting import wait_until

StartServer = Callable[..., ServerProcess]
_HTTP_LINE = re.compile(r"HTTP/JSON on http://[^:]+:(\d+)")


def http_ports(server: ServerProcess) -> list[int]:
    return [int(m.group(1)) for line in server.lines if (m := _HTTP_LINE.search(line))]


def test_workers_share_the_http_port(start_server_process: StartServer) -> None:
    server = start_server_process("--workers", "2", "--http-port", "0")
    wait_until(lambda: server.log.count(" SERVING ") == 2 and len(http_ports(server)) == 2)
    ports = set(http_ports(server))
    assert len(ports) == 1, server.log
    url = f"http://127.0.0.1:{ports.pop()}"
    for _ in range(10):  # new connections, spread over the workers by the kernel
        reply = http_call(f"{url}/v1/classify", {"text": "set an alarm for 7"})
        assert reply.status == 200 and reply.body["intent"]["name"] == "set_alarm"
    assert server.terminate() == 0
    assert "Traceback" not in server.log


def test_a_busy_http_port_is_a_one_line_error(exported_example_model: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "intent_server",
                "--port",
                "0",
                "--export-dir",
                str(exported_example_model),
                "--http-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
