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
        batched = p50_ms(client)
        variant = client.model_info().encoder_variant
    config = example_server_config(exported_example_model, batching=False)
    with running_server(config) as direct, IntentClient(direct.address) as client:
        unbatched = p50_ms(client)
    with capsys.disabled():
        print(
            f"\n[measure] ClassifyIntent, 1 client, loopback, {variant} encoder, 300 calls: "
            f"p50 {batched[0]:.2f} ms (p99 {batched[1]:.2f}) with micro-batching, "
            f"p50 {unbatched[0]:.2f} ms (p99 {unbatched[1]:.2f}) with --no-batching"
        )
    assert batched[0] > 0 and unbatched[0] > 0
