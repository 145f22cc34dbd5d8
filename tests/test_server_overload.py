"""Admission control and failure mapping on a real server, with the real model behind a gate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import numpy as np
import pytest

from intent_server.batching import MicroBatcher
from intent_server.client import IntentClient, IntentClientError
from intent_server.decision import Thresholds
from intent_server.model_registry import (
    Classifier,
    ModelRegistry,
    RunnerSettings,
    ServedModel,
    load_served_model,
)
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.server import running_server
from tests.fixtures.server import example_server_config


class GatedModel:
    """The real model, but `predict` waits for `release` (or raises `fail` when set)."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.labels: tuple[str, ...] = inner.labels
        self.thresholds: Thresholds = inner.thresholds
        self.version: str = inner.version
        self.name: str = inner.name
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        self.entered.set()
        self.release.wait(timeout=60)
        if self.fail is not None:
            raise self.fail
        return self.inner.predict(texts)


@pytest.fixture(scope="module")
def loaded(exported_example_model: Path) -> Iterator[ServedModel]:
    served = load_served_model(exported_example_model, "default", 1, "auto", RunnerSettings())
    yield served
    served.runner.close()


def gated_registry(loaded: ServedModel, max_queue: int) -> tuple[ModelRegistry, GatedModel]:
    gated = GatedModel(loaded.model)
    runner = MicroBatcher(gated.predict, max_queue=max_queue, max_wait_s=0.0)
    registry = ModelRegistry()
    registry.add(ServedModel("default", gated, loaded.export, runner))
    return registry, gated


def wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_full_queue_answers_resource_exhausted_and_health_still_works(
    exported_example_model: Path, loaded: ServedModel
) -> None:
    registry, gated = gated_registry(loaded, max_queue=2)
    runner = registry.get().runner
    assert isinstance(runner, MicroBatcher)
    config = example_server_config(exported_example_model)
    with running_server(config, registry=registry) as server:
        channel = grpc.insecure_channel(server.address)
        stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]

        def request(text: str) -> intent_pb2.ClassifyIntentRequest:
            return intent_pb2.ClassifyIntentRequest(text=text)

        running = stub.ClassifyIntent.future(request("set an alarm for 7"), timeout=60)
        assert gated.entered.wait(30)
        queued = [stub.ClassifyIntent.future(request(t), timeout=60) for t in ("hi", "thanks")]
        wait_until(lambda: runner.pending == 2)
        with pytest.raises(grpc.RpcError) as info:
            stub.ClassifyIntent(request("one too many"), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_queue 2" in info.value.details()
        with IntentClient(server.address) as client:
            assert client.health() == "SERVING"  # probes are not throttled by the queue
        gated.release.set()
        assert running.result().intent.name == "set_alarm"
        assert [f.result().intent.name for f in queued] == ["greeting", "thanks"]
        channel.close()


def test_unexpected_failure_is_internal_with_request_id_only(
    exported_example_model: Path, loaded: ServedModel
) -> None:
    registry, gated = gated_registry(loaded, max_queue=8)
    gated.fail = RuntimeError("/very/secret/path exploded")
    gated.release.set()
    config = example_server_config(exported_example_model)
    with (
        running_server(config, registry=registry) as server,
        IntentClient(server.address) as client,
    ):
        with pytest.raises(IntentClientError) as info:
            client.classify("hello")
        assert info.value.code == grpc.StatusCode.INTERNAL
        assert "request id" in info.value.details and "secret" not in info.value.details
        gated.fail = None
        assert client.classify("hello").intent == "greeting"
