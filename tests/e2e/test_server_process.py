"""`python -m intent_server` as a real process: imports, memory, start time, SIGTERM, bad setup."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from intent_server.proto import intent_pb2, intent_pb2_grpc
from tests.fixtures.server import ServerProcess

FORBIDDEN = {"torch", "sentence_transformers", "transformers", "trainer"}


def test_server_process_never_imports_torch(
    start_server_process: Callable[..., ServerProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server_process(env={"INTENT_SERVER_LOG_MODULES": "1"})
    line = next(line for line in server.lines if "loaded top-level modules:" in line)
    modules = set(json.loads(line.split("loaded top-level modules:", 1)[1]))
    assert {"onnxruntime", "grpc", "tokenizers"} <= modules
    assert not modules & FORBIDDEN, sorted(modules & FORBIDDEN)
    with capsys.disabled():  # measured, not asserted (DESIGN.md bars: <= 200 MB, <= 1.5 s)
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
