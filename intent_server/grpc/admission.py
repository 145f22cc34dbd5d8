"""Admission control in front of the handler threads.

grpcio runs each call on a thread of a fixed pool; when every thread is blocked waiting for
the model, further calls, health checks included, wait in grpcio's own queue and probes time
out. This interceptor keeps threads free: beyond the shared `Admission` limit a
classification call is refused at once with RESOURCE_EXHAUSTED. Health and admin calls are
never counted or refused. (grpcio's `maximum_concurrent_rpcs` would refuse them too.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from intent_server.grpc.interceptors import is_unary, wrap_unary
from intent_server.grpc.security import ADMIN_PREFIX, HEALTH_PREFIX
from intent_server.grpc.status import abort
from intent_server.serving.admission import Admission
from intent_server.serving.errors import Overloaded


class AdmissionInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    @property
    def limit(self) -> int:
        return self.admission.limit

    @property
    def in_flight(self) -> int:
        return self.admission.in_flight

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
            try:
                with self.admission.admitted():
                    return behavior(request, context)
            except Overloaded as exc:
                abort(context, exc)

        return wrap_unary(handler, admitted)
