"""Prometheus metrics: calls by transport, method and status, latency, batch sizes, queue depth,
model versions.

`ServerMetrics` owns its own `CollectorRegistry` (so tests and several servers in one process
never collide); each transport records its calls (`observe_call`); `start_http(port)` exposes
`/metrics`. Queue depth is read when scraped, from callbacks the server registers per model.

Per-model series are bounded for servers with many bots: the first `max_models` models get
their own `model` label, every later one is counted under `model="other"` (`ModelLabels`);
only `intent_server_model_loaded` (one gauge per model, the inventory) names every model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from intent_server.serving.row_mode import RowModeChoice

PREFIX = "intent_server"
OTHER_MODELS = "other"


class ModelLabels:
    """The `model` label of a model's series: its name for the first `limit` names seen,
    `other` for the rest (so per-model series stay bounded with thousands of bots)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._named: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: str) -> str:
        with self._lock:
            if model in self._named:
                return model
            if len(self._named) < self._limit:
                self._named.add(model)
                return model
            return OTHER_MODELS


LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class _QueueDepthCollector(Collector):
    """Reads each model's queue length at scrape time."""

    def __init__(self, label: ModelLabels) -> None:
        self._sources: dict[str, Callable[[], int]] = {}
        self._lock = threading.Lock()
        self._label = label

    def watch(self, model: str, pending: Callable[[], int]) -> None:
        with self._lock:
            self._sources[model] = pending

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_queue_depth",
            "requests waiting for the model (not counting the one running)",
            labels=["model"],
        )
        with self._lock:
            sources = list(self._sources.items())
        depths: dict[str, float] = {}
        for model, pending in sources:
            label = self._label(model)
            depths[label] = depths.get(label, 0.0) + float(pending())
        for label, depth in depths.items():
            family.add_metric([label], depth)
        yield family


def _row_mode_gauges(registry: CollectorRegistry) -> tuple[Gauge, Gauge]:
    """The batch mode chosen per model (1 / 0) and each mode's timed texts/s."""
    chosen = Gauge(
        f"{PREFIX}_batch_row_mode",
        "1 for the way a model runs the texts of a batch (one_after_another or "
        "side_by_side), chosen by timing both on this CPU after loading",
        ["model", "mode"],
        registry=registry,
    )
    rate = Gauge(
        f"{PREFIX}_batch_row_mode_texts_per_second",
        "texts/s of each way to run a batch's texts, as timed after loading",
        ["model", "mode"],
        registry=registry,
    )
    return chosen, rate


class ServerMetrics:
    """All server metrics in one registry; per-model series for at most `max_models` models."""

    def __init__(self, max_models: int = 100) -> None:
        self.registry = CollectorRegistry()
        self.model_label = ModelLabels(max_models)
        self.calls = Counter(
            f"{PREFIX}_calls",
            "finished gRPC calls by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_call_seconds",
            "gRPC call handling time in seconds, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "finished HTTP requests by route and status code",
            ["route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            f"{PREFIX}_http_request_seconds",
            "HTTP request handling time in seconds, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            f"{PREFIX}_answer_cache_lookups",
            "answer cache lookups of single messages by model and result (hit, miss)",
            ["model", "result"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size",
            "texts per model run (micro-batches and batch requests)",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            f"{PREFIX}_model_loaded",
            "1 for each model version being served",
            ["model", "version", "encoder_variant"],
            registry=self.registry,
        )
        self.reloads = Counter(
            f"{PREFIX}_reloads",
            "model reload attempts by model and result (ok, failed, unchanged)",
            ["model", "result"],
            registry=self.registry,
        )
        self.row_mode, self.row_mode_rate = _row_mode_gauges(self.registry)
        self._queues = _QueueDepthCollector(self.model_label)
        self.registry.register(self._queues)
        self._versions: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self.http_port = 0

    def observe_call(self, method: str, code: str, seconds: float) -> None:
        """A finished gRPC call (`code` is the status name, OK included)."""
        self.calls.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)

    def observe_http(self, route: str, status: int, seconds: float) -> None:
        """A finished HTTP request (`route` is the route pattern, e.g. `POST /v1/classify`)."""
        self.http_requests.labels(route, str(status)).inc()
        self.http_latency.labels(route).observe(seconds)

    def observe_cache(self, model: str, hit: bool) -> None:
        self.cache_lookups.labels(self.model_label(model), "hit" if hit else "miss").inc()

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_size.labels(self.model_label(model)).observe(size)

    def observe_row_mode(self, model: str, choice: RowModeChoice) -> None:
        """The batch mode of an encoder (`model`: the first bot that loaded it)."""
        label = self.model_label(model)
        for mode, rate in choice.texts_per_second.items():
            self.row_mode_rate.labels(label, mode).set(rate)
            self.row_mode.labels(label, mode).set(1 if mode == choice.mode else 0)

    def watch_queue(self, model: str, pending: Callable[[], int]) -> None:
        self._queues.watch(model, pending)

    def set_model_version(self, model: str, version: str, encoder_variant: str) -> None:
        """Record the version now served (the previous one's series is removed)."""
        with self._lock:
            old = self._versions.get(model)
            if old is not None and old != (version, encoder_variant):
                self.model_loaded.remove(model, *old)
            self._versions[model] = (version, encoder_variant)
            self.model_loaded.labels(model, version, encoder_variant).set(1)

    def count_reload(self, model: str, result: str) -> None:
        self.reloads.labels(self.model_label(model), result).inc()

    def start_http(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve `/metrics` on a daemon thread; returns the real port (0 picks a free one)."""
        httpd, _thread = start_http_server(port, addr=host, registry=self.registry)
        self.http_port = int(httpd.server_address[1])
        return self.http_port
