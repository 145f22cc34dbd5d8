"""Measured, never asserted: single-client latency over loopback (the bar lives in `make bench`).

Run: .venv/bin/pytest tests/test_server_perf.py -s
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from intent_server.client import IntentClient
from intent_server.server import IntentServer, running_server
from tests.fixtures.server import example_server_config

TEXTS = [
    "wake me up at 6:30 tomorrow",
    "how much money is in my savings account",
    "play some jazz in the kitchen",
    "what's the weather going to be like in paris",
]


def p50_ms(client: IntentClient, calls: int = 300) -> tuple[float, float]:
    for text in TEXTS:
        client.classify(text)
    timings = []
    for i in range(calls):
        started = time.perf_counter()
        client.classify(TEXTS[i % len(TEXTS)])
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(0.99 * len(timings)) - 1]


def test_measure_single_client_latency(
    intent_server: IntentServer, exported_example_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with IntentClient(intent_server.address) as client:
        default_variant = client.model_info().encoder_variant
    lines = []
    for variant in sorted({default_variant, "int8"}):
        for batching in (True, False):
            config = example_server_config(
                exported_example_model, encoder_variant=variant, batching=batching
            )
            with running_server(config) as server, IntentClient(server.address) as client:
                p50, p99 = p50_ms(client)
            mode = "micro-batching" if batching else "--no-batching"
            lines.append(f"{variant} encoder, {mode}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
            assert p50 > 0
    with capsys.disabled():
        print("\n[measure] ClassifyIntent, 1 client, loopback, 300 calls each:")
        for line in lines:
            print(f"[measure]   {line}")
