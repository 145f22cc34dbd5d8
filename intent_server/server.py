"""Build, start and stop the gRPC server: health, reflection, model loading, signals."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from intent_server.config import ServerConfig
from intent_server.model_registry import ModelRegistry, RunnerSettings, load_served_model
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.servicer import IntentServicer
from intent_server.validation import Limits

log = logging.getLogger(__name__)

SERVICE_NAME: str = intent_pb2.DESCRIPTOR.services_by_name["IntentClassifier"].full_name
# Hidden switch for tests: log which top-level modules the serving process imported.
LOG_MODULES_ENV = "INTENT_SERVER_LOG_MODULES"


class ListenError(RuntimeError):
    """The server could not bind its address (port in use, bad host)."""


def runner_settings(config: ServerConfig) -> RunnerSettings:
    return RunnerSettings(
        batching=config.batching,
        max_batch_size=config.max_batch_size,
        max_batch_wait_ms=config.max_batch_wait_ms,
        max_queue=config.max_queue,
    )


class IntentServer:
    """The gRPC server. Listens NOT_SERVING at `start()`; `load_models()` switches to SERVING."""

    def __init__(self, config: ServerConfig, registry: ModelRegistry | None = None) -> None:
        self.config = config
        self.registry = registry if registry is not None else ModelRegistry()
        self.health = health.HealthServicer()
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", config.max_receive_bytes),
                # Without this a second server could bind the same port silently.
                ("grpc.so_reuseport", 0),
            ],
        )
        limits = Limits(
            max_text_bytes=config.max_text_bytes, max_batch_texts=config.max_batch_texts
        )
        intent_pb2_grpc.add_IntentClassifierServicer_to_server(  # type: ignore[no-untyped-call]
            IntentServicer(self.registry, limits), self._server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        if config.reflection:
            from grpc_reflection.v1alpha import reflection

            names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, self._server)
        address = f"{config.host}:{config.port}"
        try:
            self.port: int = self._server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ListenError(f"cannot listen on {address}: {exc} (port in use?)") from None
        self.address = f"{config.host}:{self.port}"
        self._stopped = False

    def _set_health(self, status: Any) -> None:
        self.health.set("", status)
        self.health.set(SERVICE_NAME, status)

    def start(self) -> None:
        self._server.start()
        log.info("listening on %s (NOT_SERVING until the model is loaded)", self.address)

    def load_models(self) -> None:
        """Load, verify and warm up every configured model, then report SERVING."""
        settings = runner_settings(self.config)
        for name in self.config.models:
            self.registry.add(
                load_served_model(
                    self.config.export_dir,
                    name,
                    self.config.threads,
                    self.config.encoder_variant,
                    settings,
                )
            )
        self.mark_serving()

    def mark_serving(self) -> None:
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        if os.environ.get(LOG_MODULES_ENV):  # logged before the SERVING line tests wait for
            top_level = sorted({name.split(".")[0] for name in sys.modules})
            log.info("loaded top-level modules: %s", json.dumps(top_level))
        log.info(
            "SERVING %s on %s (default model %r, batching %s)",
            ", ".join(self.registry.names()),
            self.address,
            self.registry.names()[0] if self.registry.names() else "",
            "on" if self.config.batching else "off",
        )

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, refuse new calls, let in-flight calls finish within the grace period."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.config.grace_seconds if grace is None else grace
        self.health.enter_graceful_shutdown()
        log.info("stopping: finishing in-flight calls (grace %.1f s)", grace)
        self._server.stop(grace).wait()
        self.registry.close(timeout=grace)
        log.info("stopped")


@contextmanager
def running_server(
    config: ServerConfig, registry: ModelRegistry | None = None, load: bool = True
) -> Iterator[IntentServer]:
    """Start a server (use port 0 for a free port; `server.port` is the real one), stop it after.

    With `registry` given, its models are served as they are; otherwise `load` loads the
    configured models (False leaves the server NOT_SERVING, for tests of that state).
    """
    server = IntentServer(config, registry)
    server.start()
    try:
        if registry is not None:
            server.mark_serving()
        elif load:
            server.load_models()
        yield server
    finally:
        server.stop(grace=config.grace_seconds)


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    started = time.perf_counter()
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = IntentServer(config)
    server.start()
    try:
        server.load_models()
    except BaseException:
        server.stop(grace=0)
        raise
    log.info("start to SERVING: %.2f s", time.perf_counter() - started)
    while not stop_requested.wait(0.5):
        pass
    server.stop()
    return 0
