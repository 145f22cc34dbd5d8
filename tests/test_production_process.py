"""`python -m intent_server` with the production options: SIGHUP and --watch reloads, the
Admin service behind its token, JSON logs with request ids, metrics port, --workers."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from intent_server.client import IntentClient
from intent_server.logs import REQUEST_ID_HEADER
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.security import secure_channel
from tests.fixtures.server import ServerProcess
from tests.test_multi_model import add_model

StartServer = Callable[..., ServerProcess]


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def export_dir(exported_example_version: Path, tmp_path: Path) -> Path:
    export_dir = tmp_path / "exported"
    add_model(export_dir, exported_example_version, "default", "v1")
    return export_dir


def version(address: str) -> str:
    with IntentClient(address, timeout=30) as client:
        return client.classify("set an alarm for 7").model_version


def test_sighup_reloads_and_memory_stays_flat(
    start_server_process: StartServer, export_dir: Path
) -> None:
    server = start_server_process("--export-dir", str(export_dir), "--grace-seconds", "0.1")
    assert version(server.address) == "v1"
    sizes = []
    for i in range(2, 6):
        add_model(export_dir, export_dir / "default" / "v1", "default", f"v{i}")
        server.process.send_signal(signal.SIGHUP)

        def swapped(i: int = i) -> bool:
            return version(server.address) == f"v{i}"

        def retired(i: int = i) -> bool:
            return server.log.count("retired model") == i - 1

        wait_until(swapped)
        wait_until(retired)
        sizes.append(server.rss_mb())
    assert sizes[-1] - sizes[1] < 30, sizes  # old versions are freed
    assert "reloaded model 'default': v1 -> v2" in server.log
    assert "Traceback" not in server.log


def test_watch_picks_up_a_new_pointer(start_server_process: StartServer, export_dir: Path) -> None:
    server = start_server_process("--export-dir", str(export_dir), "--watch", "0.05")
    assert version(server.address) == "v1"
    add_model(export_dir, export_dir / "default" / "v1", "default", "v2")
    wait_until(lambda: version(server.address) == "v2")
    broken = add_model(export_dir, export_dir / "default" / "v1", "default", "v3")
    (broken / "tokenizer.json").unlink()
    wait_until(lambda: "reload of model 'default' failed, still serving v2" in server.log)
    assert version(server.address) == "v2"


def test_admin_reload_needs_the_admin_token_and_reports_failures(
    start_server_process: StartServer, export_dir: Path, tmp_path: Path
) -> None:
    tokens = tmp_path / "admin-tokens"
    tokens.write_text("root-token\n", encoding="utf-8")
    server = start_server_process(
        "--export-dir", str(export_dir), "--admin-token-file", str(tokens)
    )
    request = intent_pb2.ReloadModelsRequest()
    for token, code in [
        ("", grpc.StatusCode.UNAUTHENTICATED),
        ("x", grpc.StatusCode.UNAUTHENTICATED),
    ]:
        with secure_channel(server.address, token=token) as channel:
            with pytest.raises(grpc.RpcError) as error:
                intent_pb2_grpc.AdminStub(channel).ReloadModels(request, timeout=30)  # type: ignore[no-untyped-call]
            assert error.value.code() == code
    broken = add_model(export_dir, export_dir / "default" / "v1", "default", "v2")
    (broken / "head.onnx").unlink()
    with secure_channel(server.address, token="root-token") as channel:
        admin = intent_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        [result] = admin.ReloadModels(request, timeout=60).results
        assert (result.outcome, result.serving_version, result.candidate_version) == (
            "failed",
            "v1",
            "v2",
        )
        assert "head.onnx" in result.error and str(export_dir) not in result.error
        assert version(server.address) == "v1"
        add_model(export_dir, export_dir / "default" / "v1", "default", "v3")
        [result] = admin.ReloadModels(request, timeout=60).results
        assert (result.outcome, result.serving_version) == ("swapped", "v3")
    assert version(server.address) == "v3"


def test_admin_is_refused_without_admin_tokens(start_server_process: StartServer) -> None:
    server = start_server_process()
    with (
        secure_channel(server.address, token="anything") as channel,
        pytest.raises(grpc.RpcError) as error,
    ):
        intent_pb2_grpc.AdminStub(channel).ReloadModels(  # type: ignore[no-untyped-call]
            intent_pb2.ReloadModelsRequest(), timeout=30
        )
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_json_logs_carry_the_request_id_the_client_got(start_server_process: StartServer) -> None:
    metrics_port = free_port()
    server = start_server_process(
        "--log-format", "json", "--metrics-port", str(metrics_port), "--log-level", "INFO"
    )
    with grpc.insecure_channel(server.address) as channel:
        stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as error:
            stub.ClassifyIntent(intent_pb2.ClassifyIntentRequest(text=""), timeout=30)
        trailing = dict(error.value.trailing_metadata() or ())
        request_id = trailing[REQUEST_ID_HEADER]
        stub.ClassifyIntent(intent_pb2.ClassifyIntentRequest(text="hello"), timeout=30)
    wait_until(lambda: request_id in server.log)
    entries = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert entries and len(entries) == len([line for line in server.lines if line.strip()])
    [entry] = [e for e in entries if e.get("request_id") == request_id]
    assert "INVALID_ARGUMENT" in entry["message"] and entry["level"] == "INFO"
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    method = 'method="IntentClassifier/ClassifyIntent"'
    assert f'intent_server_calls_total{{code="INVALID_ARGUMENT",{method}}} 1.0' in text
    assert f'intent_server_calls_total{{code="OK",{method}}} 1.0' in text
    assert 'intent_server_batch_size_count{model="default"}' in text
    loaded = (
        r'intent_server_model_loaded\{encoder_variant="\w+",model="default",version="[^"]+"\} 1'
    )
    assert re.search(loaded, text)


def test_workers_share_one_port(start_server_process: StartServer) -> None:
    server = start_server_process("--workers", "2")
    wait_until(lambda: server.log.count(" SERVING ") == 2)
    pids = {
        line.split("pid ")[1].split()[0]
        for line in server.lines
        if "worker " in line and ": pid " in line
    }
    assert len(pids) == 2
    for _ in range(10):  # new connections, spread over the workers by the kernel
        with IntentClient(server.address, timeout=30) as client:
            assert client.classify("set an alarm for 7").intent == "set_alarm"
    assert server.terminate() == 0
    assert "Traceback" not in server.log


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--token-file", "/nonexistent/tokens"], "token file /nonexistent/tokens: cannot read"),
        (["--tls-cert", "/nonexistent/s.pem", "--tls-key", "/nonexistent/s.key"], "TLS key"),
    ],
)
def test_security_file_mistakes_exit_2_without_traceback(
    exported_example_model: Path, args: list[str], needle: str
) -> None:
    export = ["--export-dir", str(exported_example_model)]
    done = subprocess.run(
        [sys.executable, "-m", "intent_server", "--port", "0", *export, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr
