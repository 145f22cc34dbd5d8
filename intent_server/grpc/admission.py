"""Admission control in front of the handler threads.

grpcio runs each call on a thread of a fixed pool; when every thread is blocked waiting for
the model, further calls, health checks included, wait in grpcio's own queue and probes time
out. This interceptor keeps `reserved` threads free: beyond `limit` classification calls in
progress, a call is refused at once with RESOURCE_EXHAUSTED. Health and admin calls are
never counted or refused. (grpcio's `maximum_concurrent_rpcs` would refuse them too.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import grpc

from intent_server.grpc.interceptors import is_unary, wrap_unary
from intent_server.grpc.security import ADMIN_PREFIX, HEALTH_PREFIX

# Handler threads kept for health checks and admin calls.
RESERVED_THREADS = 2


def admission_limit(handler_threads: int, reserved: int = RESERVED_THREADS) -> int:
    """Classification calls allowed at once with `handler_threads` grpc threads."""
    return max(1, handler_threads - reserved)


class AdmissionInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if not is_unary(handler) or method.startswith((HEALTH_PREFIX, ADMIN_PREFIX)):
            return handler
        behavior = handler.unary_unary

        def admitted(request: Any, context: Any) -> Any:
            with self._lock:
                full = self._in_flight >= self.limit
                if not full:
                    self._in_flight += 1
            if full:
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"server overloaded: {self.limit} calls already in progress; retry later",
                )
            try:
                return behavior(request, context)
            finally:
                with self._lock:
                    self._in_flight -= 1

        return wrap_unary(handler, admitted)
