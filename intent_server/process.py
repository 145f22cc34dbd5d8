"""One server process: the parts every transport shares, both transports, and its lifecycle.

`IntentServer` builds the model registry, hot reload (`Reloader`, the SIGHUP trigger, the
`--watch` pointer watcher), admission, metrics and tokens, hands them to the gRPC server
(`grpc.server.GrpcServer`) and, with `--http-port`, to the HTTP listener (`http.listener`),
and runs the health transitions: listening NOT_SERVING, models loaded, SERVING, stopped.
`running_server` is that for tests; `serve` runs it until SIGTERM/SIGINT (`signals.py`).
`--workers N` forks N such processes (`workers.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

from intent_server import signals
from intent_server.api.service import IntentService
from intent_server.config import ServerConfig
from intent_server.core.cpus import usable_cpus
from intent_server.core.errors import ExportError
from intent_server.core.exports import list_models
from intent_server.grpc.server import GrpcDeps, GrpcListenError, GrpcServer
from intent_server.http.app import HttpDeps
from intent_server.http.listener import ConnectionLimits, HttpListener, HttpListenError
from intent_server.http.routes import build_app
from intent_server.open_files import connection_cap, open_file_limit, raise_open_file_limit
from intent_server.serving.admission import Admission, admission_limit
from intent_server.serving.encoders import EncoderPool
from intent_server.serving.metrics import ServerMetrics
from intent_server.serving.registry import (
    ModelRegistry,
    RunnerSettings,
    ServedModel,
    load_served_model,
)
from intent_server.serving.reload import (
    PointerWatcher,
    Reloader,
    ReloadTrigger,
    release_freed_memory,
    verified_loader,
)
from intent_server.serving.secrets import load_tokens, tls_context
from intent_server.serving.validation import Limits

log = logging.getLogger(__name__)

ALL_MODELS = "all"
# Hidden switch for tests: log which top-level modules the serving process imported.
LOG_MODULES_ENV = "INTENT_SERVER_LOG_MODULES"


class ListenError(RuntimeError):
    """The server could not bind its address (port in use, bad host)."""


def runner_settings(config: ServerConfig, metrics: ServerMetrics | None = None) -> RunnerSettings:
    """The runner settings, with the encoder pool bots sharing an encoder share."""
    settings = RunnerSettings(
        batching=config.batching,
        max_batch_size=config.max_batch_size,
        max_batch_wait_ms=config.max_batch_wait_ms,
        max_queue=config.max_queue,
        direct_running=max(2, usable_cpus()),
        cache_size=config.cache_size,
        on_batch=None if metrics is None else metrics.observe_batch,
        on_cache=None if metrics is None else metrics.observe_cache,
        on_row_mode=None if metrics is None else metrics.observe_row_mode,
    )
    pool = EncoderPool(settings.shared_batcher, settings.on_row_mode, settings.on_batch)
    return dataclasses.replace(settings, encoders=pool)


def model_names(config: ServerConfig) -> list[str]:
    """The configured models; `all` means every model in the export dir, default first."""
    if config.models != (ALL_MODELS,):
        return list(config.models)
    names = list_models(config.export_dir)
    if not names:
        raise ExportError(f"{config.export_dir} holds no exported model (--model all)")
    return sorted(names, key=lambda name: (name != "default", name))


def _pending(registry: ModelRegistry, name: str) -> int:
    """Queued requests of the version serving now (the direct runner has no queue)."""
    return int(getattr(registry.get(name).runner, "pending", 0))


class IntentServer:
    """The server process. Listens NOT_SERVING at `start()`; `load_models()` switches to
    SERVING. gRPC always; HTTP/JSON too with `--http-port`."""

    def __init__(self, config: ServerConfig, registry: ModelRegistry | None = None) -> None:
        self.config = config
        self.registry = registry if registry is not None else ModelRegistry()
        self.metrics = ServerMetrics(config.metrics_max_models)
        self.admission = Admission(admission_limit(config.handler_threads))
        tokens = load_tokens(config.token_file) if config.token_file else ()
        self.serving = False
        admin_tokens = load_tokens(config.admin_token_file) if config.admin_token_file else ()
        self.settings = runner_settings(config, self.metrics)
        self.reloader = Reloader(
            self.registry,
            verified_loader(config.threads, config.encoder_variant, self.settings),
            config.export_dir,
            retire_after_s=config.grace_seconds,
            metrics=self.metrics,
        )
        self.limits = Limits(
            max_text_bytes=config.max_text_bytes,
            max_batch_texts=config.max_batch_texts,
            max_call_tokens=config.max_call_tokens,
        )
        deps = GrpcDeps(
            registry=self.registry,
            limits=self.limits,
            reloader=self.reloader,
            admission=self.admission,
            metrics=self.metrics,
            tokens=tokens,
            admin_tokens=admin_tokens,
        )
        try:
            self.grpc = GrpcServer(config, deps)
        except GrpcListenError as exc:
            raise ListenError(str(exc)) from None
        self.port = self.grpc.port
        self.http = None if config.http_port is None else self._http_listener(tokens)
        self.address = self.grpc.address
        self.tls = self.grpc.tls
        self._stopped = False
        self._trigger: ReloadTrigger | None = None
        self._watcher: PointerWatcher | None = None

    def _http_listener(self, tokens: tuple[str, ...]) -> HttpListener:
        """The HTTP/JSON listener, sharing models, limits, admission, tokens and metrics."""
        config = self.config
        self._http_pool = futures.ThreadPoolExecutor(
            max_workers=config.handler_threads, thread_name_prefix="http"
        )
        deps = HttpDeps(
            service=IntentService(self.registry, self.limits),
            admission=self.admission,
            executor=self._http_pool,
            is_ready=lambda: self.serving,
            tokens=tokens,
            metrics=self.metrics,
            fallback_intent=config.fallback_intent,
            max_body_bytes=config.max_receive_bytes,
            body_timeout=config.http_body_timeout,
            token_body_bytes=config.http_max_token_body_bytes,
        )
        tls = None
        if config.tls_cert is not None and config.tls_key is not None:
            tls = tls_context(config.tls_cert, config.tls_key, config.tls_client_ca)
        limits = ConnectionLimits(
            header_timeout=config.http_header_timeout,
            idle_timeout=config.http_idle_timeout,
            max_connections=connection_cap(config.http_max_connections, open_file_limit()),
        )
        return HttpListener(
            build_app(deps),
            config.host,
            config.http_port or 0,
            tls=tls,
            reuse_port=config.workers > 1,
            grace_seconds=config.grace_seconds,
            limits=limits,
        )

    @property
    def http_port(self) -> int:
        """The HTTP listener's real port (0: no HTTP listener)."""
        return 0 if self.http is None else self.http.port

    def start(self) -> None:
        self.grpc.start()
        log.info(
            "listening on %s (%s; NOT_SERVING until the model is loaded)",
            self.address,
            "TLS" if self.tls else "plaintext",
        )
        if self.http is not None:
            try:
                port = self.http.start()
            except HttpListenError as exc:
                self.grpc.stop(0)
                raise ListenError(str(exc)) from None
            scheme = "https" if self.tls else "http"
            log.info(
                "HTTP/JSON on %s://%s:%d (try-it page at /; at most %d connections)",
                scheme,
                self.config.host,
                port,
                self.http.limits.max_connections,
            )
        if self.config.metrics_port:
            host = self.config.metrics_host
            try:
                port = self.metrics.start_http(self.config.metrics_port, host)
            except OSError as exc:
                self.stop(grace=0)
                raise ListenError(
                    f"cannot serve metrics on {host}:{self.config.metrics_port}: "
                    f"{exc.strerror or exc} (--metrics-port; in use by another process?)"
                ) from None
            log.info("metrics on http://%s:%d/metrics", host, port)

    def load_models(self) -> None:
        """Load, verify and warm up every configured model, then report SERVING.

        Bots load in parallel (one thread per usable CPU): with a shared encoder a bot is
        mostly file reads, hashing and a small head session, work that overlaps well. All
        load before SERVING, so a ready server answers every bot at once and a broken
        export stops the start-up with its message (no lazy loading: a first call that
        waits for a load, or fails on a broken export, is worse than a slower start)."""
        names = model_names(self.config)
        load = functools.partial(
            load_served_model,
            self.config.export_dir,
            threads=self.config.threads,
            variant=self.config.encoder_variant,
            settings=self.settings,
        )
        workers = max(1, min(len(names), usable_cpus()))
        with futures.ThreadPoolExecutor(workers, thread_name_prefix="load") as pool:
            loading = [pool.submit(load, name=name) for name in names]
            try:
                loaded = [future.result() for future in loading]
            except BaseException:
                for future in loading:
                    future.cancel()
                futures.wait(loading)
                self._close_loaded(loading)
                raise
        for served in loaded:  # in order: the first is the default
            self.registry.add(served)
        release_freed_memory()  # the parsed ONNX files, freed after the sessions were built
        self.mark_serving()

    @staticmethod
    def _close_loaded(loading: list[futures.Future[ServedModel]]) -> None:
        """Close the models that did load when another failed (start-up is abandoned)."""
        for future in loading:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().close(0)

    def start_reload_triggers(self) -> None:
        """The SIGHUP worker thread and, with `--watch`, the pointer watcher."""
        self._trigger = ReloadTrigger(self.reloader)
        if self.config.watch_seconds > 0:
            self._watcher = PointerWatcher(
                self.reloader,
                self.config.export_dir,
                self.registry.names(),
                self.config.watch_seconds,
            )

    def request_reload(self) -> None:
        """Reload every model in the background (safe from a signal handler)."""
        if self._trigger is not None:
            self._trigger.request()

    def mark_serving(self) -> None:
        for name in self.registry.names():
            served = self.registry.get(name)
            self.metrics.model_label(name)  # the default and the first names keep a label
            self.metrics.set_model_version(name, served.version, served.export.encoder_variant)
            self.metrics.watch_queue(name, functools.partial(_pending, self.registry, name))
        self.grpc.report_serving(self.registry.names())
        self.serving = True
        if os.environ.get(LOG_MODULES_ENV):  # logged before the SERVING line tests wait for
            top_level = sorted({name.split(".")[0] for name in sys.modules})
            log.info("loaded top-level modules: %s", json.dumps(top_level))
        names = self.registry.names()
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        log.info(
            "now SERVING %s on %s (default model %r, batching %s)",
            shown,
            self.address,
            self.registry.names()[0] if self.registry.names() else "",
            "on" if self.config.batching else "off",
        )

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, refuse new calls, let in-flight calls finish within the grace period."""
        if self._stopped:
            return
        self._stopped = True
        self.serving = False
        grace = self.config.grace_seconds if grace is None else grace
        self.grpc.enter_graceful_shutdown()
        if self._watcher is not None:
            self._watcher.stop()
        if self._trigger is not None:
            self._trigger.stop()
        log.info("stopping: finishing in-flight calls (grace %.1f s)", grace)
        stopped = self.grpc.stop(grace)
        if self.http is not None:
            self.http.stop()
            self._http_pool.shutdown(wait=False)
        stopped.wait()
        self.reloader.close()
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
        server.start_reload_triggers()
        yield server
    finally:
        server.stop(grace=config.grace_seconds)


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code. Signals are handled from
    `signals.install()` on (`__main__` calls it before the heavy imports): a stop asked for
    while starting ends the server once it listens, without loading the models; SIGHUPs
    while starting reload the models once, when they are served."""
    started = time.perf_counter()
    held = signals.install()
    raise_open_file_limit()
    server = IntentServer(config)
    server.start()
    try:
        if not held.stop.is_set():
            server.load_models()
    except BaseException:
        server.stop(grace=0)
        raise
    server.start_reload_triggers()
    if not held.stop.is_set():
        log.info("start to SERVING: %.2f s", time.perf_counter() - started)
    if held.take_hangups():
        log.info("received SIGHUP while starting: reloading the models now that they are served")
        server.request_reload()
    _serve_until_stopped(server, held)
    server.stop()
    return 0


def _serve_until_stopped(server: IntentServer, held: signals.ProcessSignals) -> None:
    while not held.stop.is_set():
        held.changed.wait(0.5)
        held.changed.clear()
        if held.take_hangups():
            log.info("received SIGHUP: reloading models")
            server.request_reload()
    log.info("received %s", held.stop_signal)
