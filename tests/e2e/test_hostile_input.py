"""Hostile and unlucky input against a real server process: malformed wire bytes, huge
names, invisible text, a port shared by mistake, a busy metrics port, a garbage certificate.
Each gets the right code and a clear, bounded message; memory stays flat."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from intent_server.proto import intent_pb2, intent_pb2_grpc
from tests.fixtures.server import ServerProcess

StartServer = Callable[..., ServerProcess]
CLASSIFY = "/intent.v1.IntentClassifier/ClassifyIntent"
BAD_UTF8 = b"\x0a\x02\xff\xfe"  # field 1 (text), 2 bytes that are not UTF-8


def raw_call(channel: grpc.Channel, payload: bytes) -> grpc.RpcError:
    call = channel.unary_unary(CLASSIFY, request_serializer=None, response_deserializer=None)
    try:
        call(payload, timeout=30)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("a malformed request was answered")


def test_malformed_bytes_get_invalid_argument_and_leak_nothing(
    start_server_process: StartServer,
) -> None:
    server = start_server_process()
    with grpc.insecure_channel(server.address) as channel:
        error = raw_call(channel, BAD_UTF8)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid ClassifyIntentRequest" in (error.details() or "")
        assert "UTF-8" in (error.details() or "")
        for _ in range(500):  # warm-up: allocator pools settle
            raw_call(channel, BAD_UTF8)
        before = server.rss_mb()
        for _ in range(3000):
            raw_call(channel, BAD_UTF8)
        grown = server.rss_mb() - before
    # grpcio's own failure path kept ~17 KB a call: 3,000 calls would be ~50 MB.
    assert grown < 15, f"RSS grew {grown:.1f} MB over 3,000 malformed calls"
    assert "Exception deserializing" not in server.log and "Traceback" not in server.log


def test_a_huge_model_name_is_not_echoed_whole(start_server_process: StartServer) -> None:
    server = start_server_process()
    name = "m" * 900_000
    with grpc.insecure_channel(server.address) as channel:
        stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as info:
            stub.ClassifyIntent(intent_pb2.ClassifyIntentRequest(text="hi", model=name), timeout=30)
        for text in ("\u200b", "\ufeff\x00", "\u0301"):
            with pytest.raises(grpc.RpcError) as invisible:
                stub.ClassifyIntent(intent_pb2.ClassifyIntentRequest(text=text), timeout=30)
            assert invisible.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "no visible character" in (invisible.value.details() or "")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    details = info.value.details() or ""
    assert "900000 characters" in details and len(details) < 300
    assert max(len(line) for line in server.lines) < 1000


def run_server(export_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "intent_server", "--export-dir", str(export_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_a_second_workers_server_refuses_the_port(start_server_process: StartServer) -> None:
    first = start_server_process("--workers", "2")
    export_dir = Path(first.process.args[first.process.args.index("--export-dir") + 1])
    done = run_server(export_dir, "--workers", "2", "--port", str(first.port))
    assert "the port is in use" in one_line_error(done)
    assert first.process.poll() is None  # the first server is untouched


def test_a_busy_metrics_port_is_a_one_line_error(exported_example_model: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_server(exported_example_model, "--port", "0", "--metrics-port", str(port))
    line = one_line_error(done)
    assert f"cannot serve metrics on 127.0.0.1:{port}" in line


def test_a_garbage_certificate_names_the_file(exported_example_model: Path, tmp_path: Path) -> None:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_text("this is not a certificate\n")
    key.write_text("nor a key\n")
    key.chmod(0o600)
    done = run_server(
        exported_example_model, "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    line = one_line_error(done)
    assert str(cert) in line and "not a PEM certificate" in line and "port in use" not in line
