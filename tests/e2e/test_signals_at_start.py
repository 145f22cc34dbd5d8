"""Signals while `intent-server` starts (issue 23): a SIGTERM at any instant from launch to
SERVING + 2 s stops it cleanly, never an abort; a SIGHUP while it imports and loads is kept
and acted on once the models are served, never fatal."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.fixtures.server import ServerProcess
from tests.fixtures.waiting import wait_until

# Exit codes of a clean stop: 0, or the signal itself before the handlers exist.
CLEAN = {0, -signal.SIGTERM}


def launch(export_dir: Path, *args: str) -> ServerProcess:
    return ServerProcess(["--port", "0", "--export-dir", str(export_dir), *args], dict(os.environ))


def stop_at(export_dir: Path, after_serving: float | None, delay: float = 0.0) -> ServerProcess:
    """A server sent SIGTERM `delay` seconds after launch, or `after_serving` seconds after it
    logs SERVING; waits for it to exit."""
    server = launch(export_dir)
    if after_serving is None:
        time.sleep(delay)
    else:
        server.wait_serving()
        time.sleep(after_serving)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(60)
    server.terminate()  # joins the log reader
    return server


def abort_message(server: ServerProcess) -> str:
    return f"exit {server.process.returncode}:\n{server.log[-2000:]}"


@pytest.mark.parametrize("after_serving", [0.0, 0.05, 0.15, 0.3])
def test_sigterm_while_the_batch_mode_is_timed_stops_cleanly(
    exported_example_model: Path, after_serving: float
) -> None:
    """Right after SERVING the batch modes are still being timed on a background thread
    (two onnxruntime sessions); the process used to abort with "terminate called without an
    active exception" (exit 134) when it exited under that thread."""
    server = stop_at(exported_example_model, after_serving)
    assert server.process.returncode == 0, abort_message(server)
    assert "terminate called" not in server.log and "Traceback" not in server.log
    assert "received SIGTERM" in server.log and "stopped" in server.log


def test_sigterm_while_loading_the_models_stops_cleanly(exported_example_model: Path) -> None:
    server = launch(exported_example_model)
    wait_until(lambda: "listening on" in server.log or server.process.poll() is not None)
    server.process.send_signal(signal.SIGTERM)  # the models are being loaded now
    assert server.process.wait(60) == 0, abort_message(server)
    server.terminate()
    assert "received SIGTERM" in server.log and "Traceback" not in server.log


def test_sigterm_at_twenty_random_instants_never_aborts(exported_example_model: Path) -> None:
    """The bar of issue 23: 20 trials from launch to SERVING + 2 s."""
    server = launch(exported_example_model)
    server.wait_serving()
    serving = server.serving_after_s
    server.terminate()
    chance = random.Random(23)
    codes = []
    for _ in range(20):
        instant = chance.uniform(0.0, serving + 2.0)
        trial = stop_at(exported_example_model, None, delay=instant)
        codes.append(trial.process.returncode)
        assert trial.process.returncode in CLEAN, abort_message(trial)
        assert "terminate called" not in trial.log
    print(f"\n[measure] 20 SIGTERM trials within {serving + 2.0:.1f} s: exit codes {codes}")


def imports_running(pid: int) -> bool:
    """The server process is importing its heavy modules (grpc or onnxruntime are mapped)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return True  # gone: let the caller see the exit
    return "cygrpc" in maps or "onnxruntime" in maps


def test_sighup_while_starting_is_kept_and_acted_on_once_serving(
    exported_example_model: Path,
) -> None:
    server = launch(exported_example_model)
    wait_until(lambda: imports_running(server.process.pid), interval=0.002)
    server.process.send_signal(signal.SIGHUP)  # before 23 this killed it: exit 129
    server.wait_serving()
    wait_until(lambda: "received SIGHUP while starting" in server.log)
    assert server.process.poll() is None
    server.process.send_signal(signal.SIGHUP)  # once serving, as before
    wait_until(lambda: "received SIGHUP: reloading models" in server.log)
    assert server.terminate() == 0
    assert "Traceback" not in server.log
