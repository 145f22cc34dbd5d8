"""Prometheus metrics on a real server: calls by method and code, latency, HTTP exposition."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import generate_latest

from intent_server.client.channel import secure_channel
from intent_server.grpc.metrics import MetricsInterceptor, method_name
from intent_server.grpc.security import TokenAuthInterceptor
from intent_server.grpc.servicer import IntentServicer
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.serving.metrics import ServerMetrics
from intent_server.serving.registry import ModelRegistry
from intent_server.serving.validation import Limits

CLASSIFY = "IntentClassifier/ClassifyIntent"


@pytest.fixture
def served(example_registry: ModelRegistry) -> Iterator[tuple[ServerMetrics, str]]:
    metrics = ServerMetrics()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[MetricsInterceptor(metrics), TokenAuthInterceptor(tokens=["t"])],
    )
    intent_pb2_grpc.add_IntentClassifierServicer_to_server(  # type: ignore[no-untyped-call]
        IntentServicer(example_registry, Limits()), server
    )
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield metrics, f"127.0.0.1:{port}"
    server.stop(0)


def count(metrics: ServerMetrics, method: str, code: str) -> float:
    value = metrics.registry.get_sample_value(
        "intent_server_calls_total", {"method": method, "code": code}
    )
    return value or 0.0


def call(target: str, text: str, token: str = "t", model: str = "") -> grpc.StatusCode:
    with secure_channel(target, token=token) as channel:
        stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]
        try:
            stub.ClassifyIntent(
                intent_pb2.ClassifyIntentRequest(text=text, model=model), timeout=10
            )
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
    return grpc.StatusCode.OK


def test_calls_are_counted_by_method_and_status(served: tuple[ServerMetrics, str]) -> None:
    metrics, target = served
    assert call(target, "set an alarm for 7") == grpc.StatusCode.OK
    assert call(target, "hello") == grpc.StatusCode.OK
    assert call(target, "") == grpc.StatusCode.INVALID_ARGUMENT
    assert call(target, "hi", model="nope") == grpc.StatusCode.NOT_FOUND
    assert call(target, "hi", token="wrong") == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(target) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert count(metrics, CLASSIFY, "OK") == 2
    assert count(metrics, CLASSIFY, "INVALID_ARGUMENT") == 1
    assert count(metrics, CLASSIFY, "NOT_FOUND") == 1
    assert count(metrics, CLASSIFY, "UNAUTHENTICATED") == 1
    assert count(metrics, "Health/Check", "OK") == 1
    observed = metrics.registry.get_sample_value(
        "intent_server_call_seconds_count", {"method": CLASSIFY}
    )
    assert observed == 5
    total = metrics.registry.get_sample_value(
        "intent_server_call_seconds_sum", {"method": CLASSIFY}
    )
    assert total is not None and total > 0


def test_versions_batches_and_queue_depth_in_the_http_exposition() -> None:
    metrics = ServerMetrics()
    depth = [3]
    metrics.watch_queue("default", lambda: depth[0])
    metrics.set_model_version("default", "v1", "int8")
    metrics.set_model_version("default", "v2", "int8")  # a swap replaces the series
    for size in (1, 1, 5, 40):
        metrics.observe_batch("default", size)
    metrics.count_reload("default", "ok")
    port = metrics.start_http(0, host="127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'intent_server_queue_depth{model="default"} 3.0' in text
    assert (
        'intent_server_model_loaded{encoder_variant="int8",model="default",version="v2"} 1.0'
        in (text)
    )
    assert 'version="v1"' not in text
    assert 'intent_server_batch_size_bucket{le="4.0",model="default"} 2.0' in text
    assert 'intent_server_batch_size_count{model="default"} 4.0' in text
    assert 'intent_server_reloads_total{model="default",result="ok"} 1.0' in text
    depth[0] = 0
    assert b'intent_server_queue_depth{model="default"} 0.0' in generate_latest(metrics.registry)


def test_method_name() -> None:
    assert method_name("/intent.v1.IntentClassifier/ClassifyIntent") == CLASSIFY
    assert method_name("/grpc.health.v1.Health/Check") == "Health/Check"
    assert method_name("odd") == "odd"


class _Context:
    """The few ServicerContext methods the interceptors use, for a socket-free measure."""

    def code(self) -> None:
        return None

    def details(self) -> None:
        return None

    def set_trailing_metadata(self, metadata: object) -> None:
        pass


class _Details:
    method = "/intent.v1.IntentClassifier/ClassifyIntent"
    invocation_metadata = (("authorization", "Bearer tok"),)


def test_measure_interceptor_chain_cost() -> None:
    """CPU per call of the server's interceptor chain (printed; no timed assertion)."""
    import time

    from intent_server.grpc.admission import AdmissionInterceptor
    from intent_server.grpc.logs import RequestIdInterceptor
    from intent_server.serving.admission import Admission

    metrics = ServerMetrics()
    chain: list[grpc.ServerInterceptor] = [
        RequestIdInterceptor(),
        MetricsInterceptor(metrics),
        TokenAuthInterceptor(tokens=["tok"]),
        AdmissionInterceptor(Admission(100)),
    ]
    base = grpc.unary_unary_rpc_method_handler(lambda request, _context: request * 2)

    def resolve(index: int, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        if index == len(chain):
            return base
        handler: grpc.RpcMethodHandler = chain[index].intercept_service(
            lambda d: resolve(index + 1, d), details
        )
        return handler

    details, context = _Details(), _Context()
    calls = 5000
    started = time.thread_time()
    for i in range(calls):
        assert resolve(0, details).unary_unary(i, context) == 2 * i
    per_call_us = (time.thread_time() - started) / calls * 1e6
    print(
        f"\n[measure] interceptor chain (request id, metrics, token, admission): "
        f"{per_call_us:.1f} us CPU per call"
    )
    assert count(metrics, CLASSIFY, "OK") == calls
