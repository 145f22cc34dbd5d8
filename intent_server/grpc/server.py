"""The gRPC transport of the server process: a `grpc.Server` with its interceptors and
services, bound to its address (TLS when configured), and its health statuses.

Interceptors, outermost first: request id (logs), metrics, bearer tokens, admission control.
Services: the classifier, Admin (reloads through `serving.reload.Reloader`), health and,
with `--reflection`, reflection. `intent_server.process` builds the process around it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from intent_server.config import ServerConfig
from intent_server.grpc.admission import AdmissionInterceptor
from intent_server.grpc.logs import RequestIdInterceptor
from intent_server.grpc.metrics import MetricsInterceptor
from intent_server.grpc.security import TlsFiles, TokenAuthInterceptor, server_credentials
from intent_server.grpc.servicer import AdminServicer, IntentServicer
from intent_server.grpc.wire import add_service
from intent_server.proto import intent_pb2
from intent_server.serving.admission import Admission
from intent_server.serving.metrics import ServerMetrics
from intent_server.serving.registry import ModelRegistry
from intent_server.serving.reload import Reloader
from intent_server.serving.validation import Limits

log = logging.getLogger(__name__)

SERVICE_NAME: str = intent_pb2.DESCRIPTOR.services_by_name["IntentClassifier"].full_name
ADMIN_SERVICE_NAME: str = intent_pb2.DESCRIPTOR.services_by_name["Admin"].full_name


class GrpcListenError(RuntimeError):
    """The gRPC port could not be opened (in use, bad host)."""


@dataclass(frozen=True)
class GrpcDeps:
    """What the gRPC side shares with the rest of the server process."""

    registry: ModelRegistry
    limits: Limits
    reloader: Reloader
    admission: Admission
    metrics: ServerMetrics
    tokens: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()


def model_health_name(model: str) -> str:
    """Health service name reporting one model: `intent.v1.IntentClassifier/MODEL`."""
    return f"{SERVICE_NAME}/{model}"


def interceptors(deps: GrpcDeps) -> list[grpc.ServerInterceptor]:
    """Outermost first: request id, metrics, bearer tokens, admission."""
    return [
        RequestIdInterceptor(),
        MetricsInterceptor(deps.metrics),
        TokenAuthInterceptor(deps.tokens, deps.admin_tokens),
        AdmissionInterceptor(deps.admission),
    ]


def _grpc_server(config: ServerConfig, chain: list[grpc.ServerInterceptor]) -> grpc.Server:
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.handler_threads, thread_name_prefix="grpc"),
        interceptors=chain,
        options=[
            ("grpc.max_receive_message_length", config.max_receive_bytes),
            # Without this a second server could bind the same port silently; several
            # worker processes share it on purpose.
            ("grpc.so_reuseport", 1 if config.workers > 1 else 0),
        ],
    )


def _bind(server: grpc.Server, config: ServerConfig) -> int:
    """Listen on the configured address (TLS when configured); the real port."""
    address = f"{config.host}:{config.port}"
    try:
        if config.tls_cert is not None and config.tls_key is not None:
            files = TlsFiles(config.tls_cert, config.tls_key, config.tls_client_ca)
            return int(server.add_secure_port(address, server_credentials(files)))
        return int(server.add_insecure_port(address))
    except RuntimeError as exc:
        raise GrpcListenError(f"cannot listen on {address}: {exc} (port in use?)") from None


class GrpcServer:
    """Bound at construction (`port`, `address`); health NOT_SERVING until `report_serving`."""

    def __init__(self, config: ServerConfig, deps: GrpcDeps) -> None:
        self.health = health.HealthServicer()
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if deps.admin_tokens and config.tls_cert is None:
            log.warning(
                "the Admin service (model reloads) is on without TLS: its token crosses the "
                "network in clear text; serve TLS (--tls-cert/--tls-key) or keep --host on "
                "loopback"
            )
        self._server = _grpc_server(config, interceptors(deps))
        self._add_services(deps, config.reflection)
        self.port = _bind(self._server, config)
        self.address = f"{config.host}:{self.port}"
        self.tls = config.tls_cert is not None

    def _add_services(self, deps: GrpcDeps, reflection: bool) -> None:
        add_service(self._server, "IntentClassifier", IntentServicer(deps.registry, deps.limits))
        add_service(self._server, "Admin", AdminServicer(deps.reloader))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        if reflection:
            from grpc_reflection.v1alpha import reflection as service

            names = (SERVICE_NAME, ADMIN_SERVICE_NAME, health.SERVICE_NAME, service.SERVICE_NAME)
            service.enable_server_reflection(names, self._server)

    def _set_health(self, status: Any) -> None:
        self.health.set("", status)
        self.health.set(SERVICE_NAME, status)

    def report_serving(self, models: Sequence[str]) -> None:
        """SERVING under each model's health name, then for the server as a whole."""
        for name in models:
            self.health.set(model_health_name(name), health_pb2.HealthCheckResponse.SERVING)
        self._set_health(health_pb2.HealthCheckResponse.SERVING)

    def start(self) -> None:
        self._server.start()

    def enter_graceful_shutdown(self) -> None:
        """Every health status NOT_SERVING from now on (load balancers stop sending calls)."""
        self.health.enter_graceful_shutdown()

    def stop(self, grace: float) -> threading.Event:
        """Refuse new calls; the event is set once the calls in flight have finished (at the
        latest after `grace` seconds)."""
        stopped: threading.Event = self._server.stop(grace)
        return stopped
