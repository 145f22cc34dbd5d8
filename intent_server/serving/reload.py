"""Hot reload: load, verify and warm up a model's new version next to the old one, then swap.

The registry swap is one dict assignment under its lock; a call holds the `ServedModel` it
looked up, so it finishes on the version it started with. The old version's runner is
closed `retire_after_s` later (it drains what it accepted first), after which nothing
references its ONNX sessions and their memory is freed. A candidate that fails to load or
verify leaves the old version serving; the failure is logged and kept in `last_results`.

Triggers: `Reloader.reload()` (admin RPC), `ReloadTrigger` (a worker thread that SIGHUP
wakes), `PointerWatcher` (polls each model's `current` pointer).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from intent_server.core.exports import load_export, read_pointer, resolve_current
from intent_server.serving.errors import ModelNotFound
from intent_server.serving.registry import ModelRegistry, RunnerSettings, ServedModel, serve_export
from intent_server.serving.row_mode import release_parallel_rows

if TYPE_CHECKING:
    from intent_server.serving.metrics import ServerMetrics

log = logging.getLogger(__name__)

SWAPPED = "swapped"
UNCHANGED = "unchanged"
FAILED = "failed"

# (model name, version folder) -> a loaded, verified, warmed-up model with a running runner
LoadFn = Callable[[str, Path], ServedModel]


@dataclass(frozen=True)
class ReloadResult:
    """What one reload attempt did for one model."""

    model: str
    outcome: str  # swapped, unchanged or failed
    serving_version: str  # the version serving after the attempt
    previous_version: str
    candidate_version: str  # what `current` pointed at ("" when unreadable)
    error: str  # why the candidate was refused; paths relative to the export dir
    seconds: float


def public_error(exc: BaseException, export_dir: Path) -> str:
    """The error text with the export folder's location removed (clients never see paths)."""
    text = str(exc)
    for prefix in {str(export_dir.resolve()), str(export_dir)}:
        text = text.replace(prefix + "/", "").replace(prefix, "<export-dir>")
    return text


def verified_loader(threads: int, variant: str, settings: RunnerSettings) -> LoadFn:
    """A LoadFn checking every file's sha256 and the head's class count, then warming up.
    With an encoder pool, a new version whose encoder is already loaded costs its head."""

    def load(name: str, version_dir: Path) -> ServedModel:
        export = load_export(version_dir, None if variant == "auto" else variant, verify_all=True)
        return serve_export(name, export, threads, settings)

    return load


def release_freed_memory() -> None:
    """Hand memory freed by a retired model back to the OS. glibc keeps freed arenas mapped,
    so without this RSS creeps up by tens of MB per swap although nothing leaks."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Reloader:
    """Reloads models in `registry` one at a time (a lock serialises concurrent triggers)."""

    def __init__(
        self,
        registry: ModelRegistry,
        load: LoadFn,
        export_dir: Path,
        retire_after_s: float = 5.0,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._registry = registry
        self._load = load
        self._export_dir = export_dir
        self._retire_after_s = retire_after_s
        self._metrics = metrics
        self._lock = threading.Lock()
        self._retiring: list[tuple[threading.Timer, Callable[[], None]]] = []
        self.last_results: dict[str, ReloadResult] = {}

    def reload(self, models: Sequence[str] = (), force: bool = False) -> list[ReloadResult]:
        """Reload the named models (all loaded ones when empty). `force` reloads an unchanged
        version too. Unknown names raise ModelNotFound before anything is loaded."""
        names = list(models) or self._registry.names()
        loaded = set(self._registry.names())
        unknown = [name for name in names if name not in loaded]
        if unknown:
            raise ModelNotFound(
                f"model {unknown[0]!r} is not loaded on this server; loaded: "
                f"{', '.join(sorted(loaded))}"
            )
        with self._lock:
            return [self._reload_one(name, force) for name in names]

    def _reload_one(self, name: str, force: bool) -> ReloadResult:
        started = time.perf_counter()
        holder = [self._registry.get(name)]  # the one reference to the old version we keep
        old_version = holder[0].version
        old_folder = holder[0].export.path.name
        candidate = read_pointer(self._export_dir, name)

        def result(outcome: str, serving: str, error: str = "") -> ReloadResult:
            done = ReloadResult(
                name, outcome, serving, old_version, candidate, error, time.perf_counter() - started
            )
            self.last_results[name] = done
            if self._metrics is not None:
                self._metrics.count_reload(name, outcome)
            return done

        if candidate == old_folder and not force:
            return result(UNCHANGED, old_version)
        try:
            new = self._load(name, resolve_current(self._export_dir, name))
        except Exception as exc:  # any failure: keep serving the old version
            error = public_error(exc, self._export_dir)
            log.error("reload of model %r failed, still serving %s: %s", name, old_version, error)
            return result(FAILED, old_version, error)
        self._registry.add(new)
        if self._metrics is not None:
            self._metrics.set_model_version(name, new.version, new.export.encoder_variant)
        self._retire(holder)
        log.info(
            "reloaded model %r: %s -> %s in %.2f s",
            name,
            old_version,
            new.version,
            time.perf_counter() - started,
        )
        return result(SWAPPED, new.version)

    def _retire(self, holder: list[ServedModel]) -> None:
        """Close the old runner once calls that already hold it have finished, then drop the
        last reference to the old model so its sessions are freed. `holder` has the only
        reference the reloader keeps (emptied here)."""

        def retire() -> None:
            try:
                served = holder.pop()  # atomic: the timer and close() may race
            except IndexError:
                return
            served.close(timeout=60.0)  # its timing stopped; drains what it accepted
            if served.lease is None:  # a shared encoder's rows belong to its pool entry
                release_parallel_rows(served.model)  # its one-thread session and threads
            what = f"{served.name!r} version {served.version}"
            del served
            gc.collect()  # parts of a model sit in reference cycles
            release_freed_memory()
            log.info("retired model %s", what)

        timer = threading.Timer(self._retire_after_s, retire)
        timer.daemon = True
        timer.name = f"retire-{holder[0].name}-{holder[0].version}"
        self._retiring = [(t, fn) for t, fn in self._retiring if t.is_alive()]
        self._retiring.append((timer, retire))
        timer.start()

    def close(self) -> None:
        """Retire pending old versions now (server shutdown, after in-flight calls ended)."""
        pending, self._retiring = self._retiring, []
        for timer, retire in pending:
            timer.cancel()
            retire()
            timer.join()


class ReloadTrigger:
    """A worker thread running `reload()` whenever `request()` is called (safe from a signal
    handler: it only sets an event). Requests during a reload coalesce into one more run."""

    def __init__(self, reloader: Reloader) -> None:
        self._reloader = reloader
        self._wanted = threading.Event()
        self._stopping = False
        self.runs = 0
        self._thread = threading.Thread(target=self._run, name="reload-trigger", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                self._reloader.reload()
            except Exception:
                log.exception("reload failed")
            self.runs += 1

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join(timeout=30)


class PointerWatcher:
    """Polls each model's `current` pointer; a changed pointer reloads that model once
    (a broken candidate is not retried until the pointer changes again)."""

    def __init__(
        self, reloader: Reloader, export_dir: Path, models: Sequence[str], interval_s: float
    ) -> None:
        """`interval_s` <= 0: no polling thread (call `check()` yourself)."""
        self._reloader = reloader
        self._export_dir = export_dir
        self._seen = {name: read_pointer(export_dir, name) for name in models}
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if interval_s > 0:
            self._thread = threading.Thread(target=self._run, name="pointer-watcher", daemon=True)
            self._thread.start()

    def check(self) -> list[ReloadResult]:
        """One poll: reload the models whose pointer changed since the last poll."""
        with self._lock:
            changed = []
            for name, seen in self._seen.items():
                now = read_pointer(self._export_dir, name)
                if now and now != seen:
                    self._seen[name] = now
                    changed.append(name)
            return self._reloader.reload(changed) if changed else []

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check()
            except Exception:
                log.exception("watching the model pointers failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
