"""Admission control in front of the handler threads.

grpcio runs each call on a thread of a fixed pool; when every thread is blocked waiting for
the model, further calls, health checks included, wait in grpcio's own queue and probes time
out. This interceptor keeps threads free: beyond the shared `Admission` limit a
classification call is refused at once with RESOURCE_EXHAUSTED. Health and admin calls are
never counted or refused. (grpcio's `maximum_concurrent_rpcs` would refuse them too.)
"""

from __future__ import annotations

from typing import Any

from intent_server.grpc.interceptors import Metadata, UnaryBehavior, UnaryInterceptor
from intent_server.grpc.security import ADMIN_PREFIX, HEALTH_PREFIX
from intent_server.grpc.status import abort
from intent_server.serving.admission import Admission
from intent_server.serving.errors import Overloaded


class AdmissionInterceptor(UnaryInterceptor):
    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    @property
    def limit(self) -> int:
        return self.admission.limit

    @property
    def in_flight(self) -> int:
        return self.admission.in_flight

    def around(self, method: str, metadata: Metadata, behavior: UnaryBehavior) -> UnaryBehavior:
        if method.startswith((HEALTH_PREFIX, ADMIN_PREFIX)):
            return behavior

        def admitted(request: Any, context: Any) -> Any:
            try:
                with self.admission.admitted():
                    return behavior(request, context)
            except Overloaded as exc:
                abort(context, exc)

        return admitted
