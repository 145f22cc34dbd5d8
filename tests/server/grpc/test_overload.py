"""Overload, deterministically: N classification calls held inside the model, the next one is
refused with RESOURCE_EXHAUSTED at once, health keeps answering SERVING, and the server
recovers when the held calls are released."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest

from intent_server.admission import RESERVED_THREADS
from intent_server.batching import DirectRunner
from intent_server.client import IntentClient, IntentClientError
from intent_server.model_registry import (
    ModelRegistry,
    RunnerSettings,
    ServedModel,
    load_served_model,
)
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.server import model_health_name, running_server
from tests.fixtures.server import example_server_config

HANDLER_THREADS = 6
HELD = HANDLER_THREADS - RESERVED_THREADS


class Gate:
    """Wraps a real model's predict: every run waits until `release` is set."""

    def __init__(self, served: ServedModel) -> None:
        self.inner = served.model.predict
        self.release = threading.Event()
        self.runs = 0

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        self.runs += 1
        self.release.wait(timeout=60)
        return self.inner(texts)


@pytest.fixture
def gated(exported_example_model: Path) -> Iterator[tuple[ModelRegistry, Gate]]:
    loaded = load_served_model(exported_example_model, "default", 1, "auto", RunnerSettings())
    gate = Gate(loaded)
    # No batching: each held call occupies the model on its own handler thread.
    registry = ModelRegistry()
    registry.add(ServedModel("default", loaded.model, loaded.export, DirectRunner(gate.predict)))
    yield registry, gate
    gate.release.set()
    loaded.runner.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_held_calls_then_refusal_health_serving_and_recovery(
    exported_example_model: Path, gated: tuple[ModelRegistry, Gate]
) -> None:
    registry, gate = gated
    config = example_server_config(exported_example_model, handler_threads=HANDLER_THREADS)
    with running_server(config, registry=registry) as server:
        assert server.admission.limit == HELD
        channel = grpc.insecure_channel(server.address)
        stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]
        request = intent_pb2.ClassifyIntentRequest(text="set an alarm for 7")
        held = [stub.ClassifyIntent.future(request, timeout=60) for _ in range(HELD)]
        wait_until(lambda: gate.runs == HELD)
        with IntentClient(server.address, timeout=10) as client:
            for _ in range(3):  # refused at once, every time, without reaching the model
                with pytest.raises(IntentClientError) as error:
                    client.classify("one too many")
                assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "retry later" in error.value.details
            assert gate.runs == HELD
            assert client.health() == "SERVING"  # probes still answered
            assert client.health(model_health_name("default")) == "SERVING"
            gate.release.set()
            assert [f.result().intent.name for f in held] == ["set_alarm"] * HELD
            wait_until(lambda: server.admission.in_flight == 0)
            assert client.classify("set an alarm for 7").intent == "set_alarm"
            assert len(client.classify_batch(["hello"] * HELD)) == HELD
        channel.close()
