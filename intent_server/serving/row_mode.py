"""How a served INT8 model runs the texts of a batch, chosen on this CPU after start-up.

Two ways give the same answers as single calls (each text alone through the encoder): one
text after the other on the model's multi-thread session, or side by side on one-thread
sessions (`IntentModel.use_parallel_rows`). Which is faster depends on the CPU: on a 2-CPU
AMD EPYC side by side ran 505 texts/s against 311 (2026-11-30), but a machine whose
"CPUs" share one core could differ. So a background thread times both on a few batches
right after the model is served (the server is already answering meanwhile, one text after
the other), keeps the faster, logs the result and reports it through `on_choice`. The
timing stops at the next batch when the version is closed (`RowModeTiming.stop`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from intent_server.core.encoder.runtime import ParallelRows
from intent_server.core.prediction import Prediction

log = logging.getLogger(__name__)

SEQUENTIAL = "one_after_another"
PARALLEL = "side_by_side"
TIMING_ROUNDS = 3
# Real-looking messages of the usual lengths (3-20 words); 16 make a batch.
TIMING_TEXTS = (
    "hi",
    "what's my balance",
    "set an alarm for 7 am tomorrow",
    "how do i transfer money to my savings account",
    "can you tell me what the weather will be like in paris this weekend",
    "play some jazz",
    "cancel my 3 pm meeting with the design team and tell them i am sorry",
    "book a table for four at an italian place near the office tonight at eight",
) * 2


class RowParallelModel(Protocol):
    """What the choice needs of a model (`core.intent_model.IntentModel` provides it)."""

    @property
    def row_wise(self) -> bool: ...

    def predict(self, texts: Sequence[str]) -> Prediction: ...

    def open_parallel_rows(self, workers: int) -> ParallelRows: ...

    def use_parallel_rows(self, rows: ParallelRows | None) -> None: ...


@dataclass(frozen=True)
class RowModeChoice:
    mode: str  # SEQUENTIAL or PARALLEL
    texts_per_second: dict[str, float]  # each mode's timed speed (empty when not timed)


def _rate(model: RowParallelModel, texts: Sequence[str]) -> float:
    began = time.perf_counter()
    model.predict(texts)
    return len(texts) / (time.perf_counter() - began)


def choose_row_mode(
    model: RowParallelModel, workers: int, stop: threading.Event | None = None
) -> RowModeChoice | None:
    """Time both ways in alternating rounds (best round of each) and keep the faster. With
    `stop` set between two timed batches: None, the texts left one after the other."""
    if not model.row_wise or workers < 2:
        return RowModeChoice(SEQUENTIAL, {})
    rows = model.open_parallel_rows(workers)
    best = {SEQUENTIAL: 0.0, PARALLEL: 0.0}
    for _ in range(TIMING_ROUNDS):
        for mode, runner in ((SEQUENTIAL, None), (PARALLEL, rows)):
            if stop is not None and stop.is_set():
                model.use_parallel_rows(None)
                rows.close()
                return None
            model.use_parallel_rows(runner)
            best[mode] = max(best[mode], _rate(model, TIMING_TEXTS))
    chosen = PARALLEL if best[PARALLEL] > best[SEQUENTIAL] else SEQUENTIAL
    model.use_parallel_rows(rows if chosen == PARALLEL else None)
    if chosen == SEQUENTIAL:
        rows.close()
        del rows
    _trim()  # the timing's buffers (and an unused one-thread session) back to the OS
    return RowModeChoice(chosen, best)


def _trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RowModeTiming:
    """`choose_row_mode` of one served version on a background thread. `stop()` ends it
    between two timed batches and waits for the thread, so that no onnxruntime run of the
    timing is still going when the version is retired or the process exits: a run still in
    native code while the interpreter tears the runtime down aborts the process ("terminate
    called without an active exception"). Not a daemon thread for the same reason: an exit
    that forgot `stop()` waits for the timing instead of racing it."""

    def __init__(
        self,
        name: str,
        model: RowParallelModel,
        workers: int,
        on_choice: Callable[[str, RowModeChoice], None] | None = None,
    ) -> None:
        self._name = name
        self._model = model
        self._workers = workers
        self._on_choice = on_choice
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._choose, name=f"row-mode-{name}")

    def start(self) -> RowModeTiming:
        self.thread.start()
        return self

    def _choose(self) -> None:
        name = self._name
        try:
            choice = choose_row_mode(self._model, self._workers, self._stop)
        except Exception:  # a failed timing must not take the server down: keep the default
            log.exception("model %r: timing the batch modes failed; texts run one by one", name)
            self._model.use_parallel_rows(None)
            return
        if choice is None:
            log.info("model %r: timing the batch modes stopped; texts run one by one", name)
            return
        rates = ", ".join(f"{mode} {rate:.0f}/s" for mode, rate in choice.texts_per_second.items())
        log.info("model %r: batches run %s on this CPU (%s)", name, choice.mode, rates)
        if self._on_choice is not None:
            self._on_choice(name, choice)

    def stop(self, timeout: float | None = None) -> None:
        """End the timing at the next batch boundary and wait for the thread."""
        self._stop.set()
        if self.thread.ident is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)


def choose_in_background(
    name: str,
    model: RowParallelModel,
    workers: int,
    on_choice: Callable[[str, RowModeChoice], None] | None = None,
) -> RowModeTiming | None:
    """Start the timing of `model`'s batch modes (None when there is nothing to choose)."""
    if not model.row_wise or workers < 2:
        return None
    return RowModeTiming(name, model, workers, on_choice).start()


def release_parallel_rows(model: object) -> None:
    """Stop a retired model's texts running side by side and free their session and threads
    at once (test fakes without parallel rows are left alone)."""
    use = getattr(model, "use_parallel_rows", None)
    rows = getattr(model, "parallel_rows", None)
    if use is not None:
        use(None)
    if isinstance(rows, ParallelRows):
        rows.close()
