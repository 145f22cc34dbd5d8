"""Loaded models by name, each with its runner (micro-batcher or direct); a default model.

With an `EncoderPool` in the settings (the server's), bots sharing an encoder share its
sessions and its micro-batcher (`serving.encoders`); each `ServedModel` then holds a
reference on its encoder, dropped when the version is closed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from intent_server.core.decision import Thresholds
from intent_server.core.exports import (
    LoadedExport,
    check_head_shape,
    load_export,
    resolve_current,
)
from intent_server.core.prediction import Prediction
from intent_server.serving.batching import BotRunner, DirectRunner, MicroBatcher, Runner
from intent_server.serving.cache import AnswerCache
from intent_server.serving.encoders import BotCall, EncoderPool, GroupsFn
from intent_server.serving.errors import ModelNotFound, Unavailable
from intent_server.serving.row_mode import RowModeChoice, RowModeTiming, choose_in_background
from intent_server.serving.validation import shown

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """What the server needs from a model (`core.intent_model.IntentModel` provides it)."""

    def predict(self, texts: Sequence[str]) -> Prediction: ...

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...

    @property
    def lowercases(self) -> bool:
        """The tokenizer lowercases every text (the answer cache may ignore case)."""
        ...


@dataclass(frozen=True)
class RunnerSettings:
    batching: bool = True
    max_batch_size: int = 32
    max_batch_wait_ms: float = 1.0
    max_queue: int = 256
    max_batch_tokens: int = 512  # tokens one micro-batched model run takes at most
    direct_running: int = 2  # --no-batching: model runs at once (the rest wait or are refused)
    cache_size: int = 0  # answers kept per model version for repeated texts (0: no cache)
    # Called with (model name, hit) on every cache lookup (hit/miss metrics).
    on_cache: Callable[[str, bool], None] | None = None
    # Called with (model name, texts in the run) before every model run (batch-size metrics).
    on_batch: Callable[[str, int], None] | None = None
    # Called with (model name, choice) once a served version's batch mode is timed.
    on_row_mode: Callable[[str, RowModeChoice], None] | None = None
    # Bots sharing an encoder share it (None: every served version loads its own).
    encoders: EncoderPool | None = None

    def build_cache(self, name: str, model: Classifier) -> AnswerCache | None:
        """An empty answer cache for a newly served version, or None when off."""
        if self.cache_size <= 0:
            return None
        on_cache = self.on_cache
        return AnswerCache(
            self.cache_size,
            lowercase=model.lowercases,
            exact=bool(getattr(model, "has_entities", False)),
            on_lookup=None if on_cache is None else lambda hit: on_cache(name, hit),
        )

    def build(self, name: str, model: Classifier) -> Runner:
        """A runner feeding `model`, which is served as `name`."""
        predict = model.predict
        on_batch = self.on_batch
        if on_batch is not None:

            def predict(texts: Sequence[str]) -> Prediction:
                on_batch(name, len(texts))
                return model.predict(texts)

        if not self.batching:
            return DirectRunner(predict, max_queue=self.max_queue, max_running=self.direct_running)
        return MicroBatcher(
            predict,
            max_batch_size=self.max_batch_size,
            max_wait_s=self.max_batch_wait_ms / 1000.0,
            max_queue=self.max_queue,
            name=name,
            max_batch_tokens=self.max_batch_tokens,
        )

    def shared_batcher(self, name: str, predict_groups: GroupsFn) -> MicroBatcher | None:
        """The micro-batcher an encoder's bots share (None with --no-batching)."""
        if not self.batching:
            return None
        return MicroBatcher(
            None,
            max_batch_size=self.max_batch_size,
            max_wait_s=self.max_batch_wait_ms / 1000.0,
            max_queue=self.max_queue,
            name=f"encoder-{name}",
            max_batch_tokens=self.max_batch_tokens,
            predict_groups=predict_groups,
        )


class Lease:
    """A served version's reference on its shared encoder, dropped once."""

    def __init__(self, release: Callable[[], object]) -> None:
        self._release: Callable[[], object] | None = release
        self._lock = threading.Lock()

    def drop(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()


@dataclass(frozen=True)
class ServedModel:
    """One loaded model: the classifier, its export metadata and the runner feeding it."""

    name: str
    model: Classifier
    export: LoadedExport
    runner: Runner
    cache: AnswerCache | None = None  # answers to repeated texts (None: --cache-size 0)
    timing: RowModeTiming | None = None  # its batch modes being timed after loading
    lease: Lease | None = None  # its reference on a shared encoder

    def close(self, timeout: float | None = None) -> None:
        """Stop the batch-mode timing and wait for it whatever `timeout` says (it ends within
        one timed batch; no model run of it may be left going), then the runner after the
        work it accepted, then drop its reference on a shared encoder."""
        if self.timing is not None:
            self.timing.stop()
        self.runner.close(timeout)
        if self.lease is not None:
            self.lease.drop()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.export.labels

    @property
    def thresholds(self) -> Thresholds:
        return self.export.thresholds

    @property
    def version(self) -> str:
        return self.export.version


class ModelRegistry:
    """Thread-safe map of model name -> ServedModel; the first model added is the default."""

    def __init__(self) -> None:
        self._models: dict[str, ServedModel] = {}
        self._default = ""
        self._lock = threading.Lock()
        self._names: list[str] = []  # sorted once per change: every model info lists them

    def add(self, served: ServedModel) -> None:
        with self._lock:
            new = served.name not in self._models
            self._models[served.name] = served
            if not self._default:
                self._default = served.name
            if new:
                self._names = sorted(self._models, key=lambda n: (n != self._default, n))

    def get(self, name: str = "") -> ServedModel:
        """The named model, or the default for an empty name."""
        with self._lock:
            if not self._models:
                raise Unavailable(
                    "no model is loaded yet: retry when the health check says SERVING"
                )
            key = name or self._default
            served = self._models.get(key)
            if served is None:
                available = ", ".join(self._names_locked())
                raise ModelNotFound(
                    f"model {shown(name)} is not loaded on this server; available models: "
                    f"{available} (leave model empty for the default)"
                )
            return served

    def names(self) -> list[str]:
        """Loaded model names, the default first."""
        with self._lock:
            return self._names_locked()

    def _names_locked(self) -> list[str]:
        return list(self._names)

    def close(self, timeout: float | None = None) -> None:
        """Stop every model's batch-mode timing, and its runner after the work it accepted."""
        with self._lock:
            served = list(self._models.values())
        for entry in served:
            entry.close(timeout)


def serve_export(
    name: str, export: LoadedExport, threads: int, settings: RunnerSettings
) -> ServedModel:
    """Open a verified export, warm it up and start its runner."""
    if settings.encoders is not None:
        return _serve_shared(name, export, threads, settings, settings.encoders)
    model = export.open(threads)
    model.warm_up()
    timing = None
    if settings.batching:  # --no-batching: single texts, no second session worth its memory
        timing = choose_in_background(name, model, threads, settings.on_row_mode)
    return ServedModel(
        name=name,
        model=model,
        export=export,
        runner=settings.build(name, model),
        cache=settings.build_cache(name, model),
        timing=timing,
    )


def _serve_shared(
    name: str, export: LoadedExport, threads: int, settings: RunnerSettings, pool: EncoderPool
) -> ServedModel:
    """A bot on the pool's encoder for its export: its own head, the shared encoder's
    batcher (or a direct runner of its own with --no-batching)."""
    model, entry = pool.open(name, export, threads)
    lease = Lease(lambda: pool.release(entry))
    try:
        check_head_shape(export.head_path, export.manifest, model.dim, model.classes)
        runner: Runner
        if entry.batcher is not None:
            runner = BotRunner(entry.batcher, BotCall(name, model))
        else:
            runner = settings.build(name, model)
        return ServedModel(
            name=name,
            model=model,
            export=export,
            runner=runner,
            cache=settings.build_cache(name, model),
            lease=lease,
        )
    except BaseException:
        lease.drop()
        raise


def load_served_model(
    export_dir: Path, name: str, threads: int, variant: str, settings: RunnerSettings
) -> ServedModel:
    """Resolve, verify and load one exported model, warm it up and start its runner."""
    started = time.perf_counter()
    pool = settings.encoders
    export = load_export(
        resolve_current(export_dir, name),
        None if variant == "auto" else variant,
        loaded_encoders=set() if pool is None else pool.identities(),
        check_head=pool is None,  # with a pool, checked on the head it opens
    )
    served = serve_export(name, export, threads, settings)
    log.info(
        "loaded model %r version %s (%s encoder, %d onnxruntime thread(s), %d labels, "
        "max %d tokens) from %s in %.2f s",
        name,
        export.version,
        export.encoder_variant,
        threads,
        len(export.labels),
        export.max_tokens,
        export.path,
        time.perf_counter() - started,
    )
    return served
