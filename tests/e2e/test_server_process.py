"""`python -m intent_server` as a real process: no torch imported, memory and start time,
SIGTERM draining, setup mistakes; and the production options: SIGHUP and --watch reloads,
the Admin service behind its token, JSON logs with request ids, --workers."""

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
from intent_server.client.channel import secure_channel
from intent_server.core.manifest import Manifest
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.serving.logs import REQUEST_ID_HEADER
from tests.fixtures.export import add_model
from tests.fixtures.server import ServerProcess
from tests.fixtures.waiting import wait_until

FORBIDDEN = {"torch", "sentence_transformers", "transformers", "trainer"}


def test_server_process_never_imports_torch(
    start_server_process: Callable[..., ServerProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server_process(env={"INTENT_SERVER_LOG_MODULES": "1"})
    line = next(line for line in server.lines if "loaded top-level modules:" in line)
    modules = set(json.loads(line.split("loaded top-level modules:", 1)[1]))
    assert {"onnxruntime", "grpc", "tokenizers"} <= modules
    assert not modules & FORBIDDEN, sorted(modules & FORBIDDEN)
    with capsys.disabled():  # measured, not asserted (docs/TARGETS.md: <= 200 MB, <= 1.5 s)
        print(
            f"\n[measure] server process RSS {server.rss_mb():.0f} MiB; "
            f"start to SERVING {server.serving_after_s:.2f} s (from process launch)"
        )


def test_sigterm_lets_in_flight_calls_finish(
    start_server_process: Callable[..., ServerProcess],
) -> None:
    server = start_server_process("--grace-seconds", "30")
    channel = grpc.insecure_channel(server.address)
    stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]
    texts = [f"please set an alarm for {hour} in the morning" for hour in range(64)]
    request = intent_pb2.ClassifyIntentBatchRequest(texts=texts)
    calls = [stub.ClassifyIntentBatch.future(request, timeout=60) for _ in range(12)]
    while not any(call.done() for call in calls):  # the server is working on them
        time.sleep(0.005)
    assert sum(call.done() for call in calls) < len(calls)  # the rest are still in flight
    code = server.terminate(timeout=60)
    for call in calls:
        results = call.result().results
        assert len(results) == 64 and results[0].intent.name == "set_alarm"
    assert code == 0, server.log
    assert "received SIGTERM" in server.log and "stopped" in server.log
    channel.close()


def run_server_main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intent_server", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_export_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    done = run_server_main("--export-dir", str(tmp_path), "--port", "0", "--model", "shop")
    assert done.returncode == 2
    assert "no export for model 'shop'" in done.stderr and "Traceback" not in done.stderr


def test_port_in_use_exits_2(exported_example_model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_server_main("--export-dir", str(exported_example_model), "--port", str(port))
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


StartServer = Callable[..., ServerProcess]


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

        def chosen() -> bool:  # the encoder's batch mode, timed once (versions share it)
            return server.log.count("batches run") >= 1

        wait_until(swapped)
        wait_until(retired)
        if "batches run" in server.log:  # a 2+ CPU server: measure once the timing is over
            wait_until(chosen)
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
    manifest = Manifest.read(broken)
    served_head = manifest.head_for(manifest.default_encoder)
    (broken / served_head).unlink()
    with secure_channel(server.address, token="root-token") as channel:
        admin = intent_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        [result] = admin.ReloadModels(request, timeout=60).results
        assert (result.outcome, result.serving_version, result.candidate_version) == (
            "failed",
            "v1",
            "v2",
        )
        assert served_head in result.error and str(export_dir) not in result.error
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
        (
            ["--tls-cert", "/nonexistent/s.pem", "--tls-key", "/nonexistent/s.key"],
            "TLS certificate /nonexistent/s.pem: cannot read",
        ),
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
