"""The intent server as a separate process: start, time to SERVING, RSS, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from intent_server.client import IntentClient, IntentClientError

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


@dataclass(frozen=True)
class RunningServer:
    process: subprocess.Popen[bytes]
    target: str
    start_to_serving_s: float

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)


def _wait_serving(
    process: subprocess.Popen[bytes], target: str, started: float, timeout_s: float
) -> float:
    with IntentClient(target, timeout=1.0) as client:
        while time.perf_counter() - started < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"intent server exited with code {process.returncode}")
            try:
                if client.health() == "SERVING":
                    return time.perf_counter() - started
            except IntentClientError:
                pass  # not listening yet
            time.sleep(0.005)
    raise RuntimeError(f"intent server not SERVING after {timeout_s:.0f} s")


@contextmanager
def intent_server(
    export_dir: Path,
    model: str,
    extra_args: Sequence[str] = (),
    log_path: Path | None = None,
    *,
    code_root: Path | None = None,
    timeout_s: float = START_TIMEOUT_S,
    log_level: str = "WARNING",
) -> Iterator[RunningServer]:
    """`python -m intent_server` on a free loopback port (from another checkout's
    `code_root` when given); stopped with SIGTERM on exit."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "intent_server",
        "--export-dir",
        str(export_dir),
        "--model",
        model,
        "--port",
        str(port),
        "--log-level",
        log_level,
        *extra_args,
    ]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if code_root is not None:
        env.update(PYTHONPATH=str(code_root), PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=code_root)
    try:
        target = f"127.0.0.1:{port}"
        yield RunningServer(process, target, _wait_serving(process, target, started, timeout_s))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]
