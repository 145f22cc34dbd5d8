"""Overload and failures on a real server, deterministically, with the real model behind a
gate: held calls fill the admission limit or the queue, the next call is refused with
RESOURCE_EXHAUSTED at once, health keeps answering SERVING, the server recovers when the
held calls are released; an unexpected failure is INTERNAL with only a request id."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
import pytest

from intent_server.client import IntentClient, IntentClientError
from intent_server.core.prediction import Prediction
from intent_server.grpc.server import model_health_name
from intent_server.process import running_server
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.serving.admission import RESERVED_THREADS
from intent_server.serving.batching import DirectRunner, MicroBatcher, Runner
from intent_server.serving.registry import (
    Classifier,
    ModelRegistry,
    RunnerSettings,
    ServedModel,
    load_served_model,
)
from tests.fixtures.server import example_server_config
from tests.fixtures.waiting import wait_until

HANDLER_THREADS = 6
HELD = HANDLER_THREADS - RESERVED_THREADS


class GatedModel:
    """The real model, but every `predict` waits for `release` (or raises `fail` when set)."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None
        self.runs = 0

    def predict(self, texts: Sequence[str]) -> Prediction:
        self.runs += 1
        self.entered.set()
        self.release.wait(timeout=60)
        if self.fail is not None:
            raise self.fail
        return self.inner.predict(texts)

    lowercases = False

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return self.inner.token_counts(texts)


@pytest.fixture(scope="module")
def loaded(exported_example_model: Path) -> Iterator[ServedModel]:
    served = load_served_model(exported_example_model, "default", 1, "auto", RunnerSettings())
    yield served
    served.runner.close()


def gated_registry(
    loaded: ServedModel, runner: Callable[[GatedModel], Runner]
) -> tuple[ModelRegistry, GatedModel]:
    gated = GatedModel(loaded.model)
    registry = ModelRegistry()
    registry.add(ServedModel("default", gated, loaded.export, runner(gated)))
    return registry, gated


def test_held_calls_then_refusal_health_serving_and_recovery(
    exported_example_model: Path, loaded: ServedModel
) -> None:
    # No batching: each held call occupies the model on its own handler thread.
    registry, gate = gated_registry(
        loaded, lambda gated: DirectRunner(gated.predict, max_running=HELD)
    )
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
    gate.release.set()


def test_full_queue_answers_resource_exhausted_and_health_still_works(
    exported_example_model: Path, loaded: ServedModel
) -> None:
    registry, gated = gated_registry(
        loaded, lambda gated: MicroBatcher(gated.predict, max_queue=2, max_wait_s=0.0)
    )
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
    registry, gated = gated_registry(
        loaded, lambda gated: MicroBatcher(gated.predict, max_queue=8, max_wait_s=0.0)
    )
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
