"""`MetricsInterceptor`: counts and times every gRPC call into `ServerMetrics`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from intent_server.grpc.interceptors import is_unary, wrap_unary
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


class MetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts and times unary calls (every RPC of this server but health Watch is unary)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if not is_unary(handler):
            return handler
        method = method_name(handler_call_details.method)
        behavior = handler.unary_unary
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
                metrics.observe_call(method, code.name, time.perf_counter() - started)

        return wrap_unary(handler, timed)
