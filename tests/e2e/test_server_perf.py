"""Measured, never asserted: single-client latency over loopback (the bar lives in `make bench`).

Run: .venv/bin/pytest tests/test_server_perf.py -s
Batching on and off are measured interleaved (call by call) so machine noise hits both alike;
the answer cache is off, since the texts repeat.
"""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from intent_server.client import IntentClient
from intent_server.grpc.server import running_server
from tests.fixtures.server import example_server_config

TEXTS = [
    "wake me up at 6:30 tomorrow",
    "how much money is in my savings account",
    "play some jazz in the kitchen",
    "what's the weather going to be like in paris",
]
CALLS = 300


def interleaved_latencies(clients: dict[str, IntentClient]) -> dict[str, list[float]]:
    for client in clients.values():
        for text in TEXTS:
            client.classify(text)
    timings: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for i in range(CALLS):
        for name in names if i % 2 else reversed(names):
            started = time.perf_counter()
            clients[name].classify(TEXTS[i % len(TEXTS)])
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_measure_single_client_latency(
    variant: str, exported_example_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ExitStack() as stack:
        clients = {}
        for mode, batching in (("micro-batching", True), ("--no-batching", False)):
            config = example_server_config(
                exported_example_model, encoder_variant=variant, batching=batching, cache_size=0
            )
            server = stack.enter_context(running_server(config))
            clients[mode] = stack.enter_context(IntentClient(server.address))
        timings = interleaved_latencies(clients)
    with capsys.disabled():
        for mode, values in timings.items():
            values.sort()
            print(
                f"\n[measure] ClassifyIntent, 1 client, loopback, {variant} encoder, {mode}, "
                f"{CALLS} calls: p50 {statistics.median(values):.2f} ms, "
                f"p99 {values[int(0.99 * len(values)) - 1]:.2f} ms"
            )
    assert all(len(values) == CALLS for values in timings.values())
