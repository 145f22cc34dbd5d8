"""`MetricsInterceptor`: counts and times every gRPC call into `ServerMetrics`."""

from __future__ import annotations

import time
from typing import Any

import grpc

from intent_server.grpc.interceptors import Metadata, UnaryBehavior, UnaryInterceptor
from intent_server.serving.metrics import ServerMetrics


def method_name(full_method: str) -> str:
    """`/intent.v1.IntentClassifier/ClassifyIntent` -> `IntentClassifier/ClassifyIntent`."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return f"{service.rpartition('.')[2]}/{method}" if service else method


def _code_of(context: Any, failed: bool) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


class MetricsInterceptor(UnaryInterceptor):
    """Counts and times unary calls (every RPC of this server but health Watch is unary)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def around(self, method: str, metadata: Metadata, behavior: UnaryBehavior) -> UnaryBehavior:
        name = method_name(method)
        metrics = self._metrics

        def timed(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                code = _code_of(context, failed)
                metrics.observe_call(name, code.name, time.perf_counter() - started)

        return timed
