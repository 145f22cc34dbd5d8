"""Micro-batching: coalesce concurrent requests into one model run on one worker thread.

One worker takes the first queued request; if more are already waiting it takes them too
(up to `max_batch_size` texts) and waits at most `max_wait_s` for further arrivals. A lone
request never waits: when the model is idle and nothing is queued, the caller's own thread
runs it (no thread hand-off, which costs milliseconds on a busy host). Only one model run is
in progress at a time. Results come back through futures. The queue is bounded: beyond
`max_queue` waiting requests `submit` refuses at once (RESOURCE_EXHAUSTED for the client).

A run also holds at most `max_batch_tokens` tokens of work (the first request always fits),
so a short message is never answered only after someone else's long chunk. A request's cost
is given by the caller in tokens (batches are tokenised to be chunked) or estimated from its
length.

Bots sharing one encoder share one batcher (`serving.encoders`): each request carries its
bot's model (`submit_for`), a run groups the texts by model, one encoder run serves them
all and each model's head reads its own rows (`predict_groups`). `BotRunner` is one bot's
view of such a shared batcher.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from intent_server.core.prediction import Prediction
from intent_server.serving.errors import Overloaded, Unavailable

log = logging.getLogger(__name__)

PredictFn = Callable[[Sequence[str]], Prediction]
# [(a bot's model, its texts)] -> one Prediction per group, from one encoder run
GroupPredictFn = Callable[[Sequence[tuple[object, Sequence[str]]]], Sequence[Prediction]]
IsActive = Callable[[], bool]
MAX_TEXT_COST = 256  # the encoder truncates every text at its max_tokens (256 here)


def estimated_cost(texts: Sequence[str]) -> int:
    """Tokens `texts` may cost, from their length (about 3 characters a token, plus the two
    special tokens), without running the tokenizer."""
    return sum(min(MAX_TEXT_COST, len(text) // 3 + 2) for text in texts)


class Runner(Protocol):
    """Runs texts through the model; both the batcher and the direct runner implement it."""

    def submit(
        self, texts: Sequence[str], is_active: IsActive | None = None, cost: int | None = None
    ) -> Future[Prediction]:
        """Queue texts (`cost`: their tokens, when known); the future yields their Prediction
        (one row per text)."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Refuse new work and finish what was accepted."""
        ...

    @property
    def submissions(self) -> int:
        """Requests submitted so far (a batch compares it around a chunk to see others)."""
        ...


@dataclass
class _Item:
    texts: list[str]
    is_active: IsActive | None
    cost: int = 0
    group: object = None  # the bot's model on a shared batcher
    future: Future[Prediction] = field(default_factory=Future)

    def wanted(self) -> bool:
        """False when the caller gave up (future cancelled or client gone)."""
        if self.is_active is not None and not self.is_active():
            self.future.cancel()
        return self.future.set_running_or_notify_cancel()


class MicroBatcher:
    """Coalesces concurrent `submit` calls into `predict` runs of up to `max_batch_size` texts
    (`predict_groups` runs, when given, for calls made with `submit_for`)."""

    def __init__(
        self,
        predict: PredictFn | None,
        max_batch_size: int = 32,
        max_wait_s: float = 0.001,
        max_queue: int = 256,
        name: str = "default",
        max_batch_tokens: int = 512,
        predict_groups: GroupPredictFn | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_s < 0 or max_batch_tokens < 1:
            raise ValueError(
                "max_batch_size, max_queue and max_batch_tokens must be >= 1, max_wait_s >= 0"
            )
        self._predict = predict
        self._predict_groups = predict_groups
        self._max_batch_size = max_batch_size
        self._max_batch_tokens = max_batch_tokens
        self._max_wait_s = max_wait_s
        self._max_queue = max_queue
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False  # a model run (inline or by the worker) is in progress
        self._submissions = 0
        self._worker = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def submissions(self) -> int:
        return self._submissions

    def submit(
        self, texts: Sequence[str], is_active: IsActive | None = None, cost: int | None = None
    ) -> Future[Prediction]:
        return self.submit_for(None, texts, is_active, cost)

    def pending_for(self, group: object) -> int:
        """Queued requests of one bot (`submit_for`'s `group`)."""
        with self._cond:
            return sum(1 for item in self._queue if item.group is group)

    def submit_for(
        self,
        group: object,
        texts: Sequence[str],
        is_active: IsActive | None = None,
        cost: int | None = None,
    ) -> Future[Prediction]:
        """`submit` for one bot of a shared batcher: `group` is its model."""
        item = _Item(list(texts), is_active, estimated_cost(texts) if cost is None else cost)
        item.group = group
        with self._cond:
            self._submissions += 1
            if self._closing:
                raise Unavailable("the server is shutting down: retry on another instance")
            if len(self._queue) >= self._max_queue:
                raise Overloaded(
                    f"server overloaded: {len(self._queue)} requests already queued "
                    f"(max_queue {self._max_queue}); retry later"
                )
            inline = not self._busy and not self._queue
            if inline:
                self._busy = True
            else:
                self._queue.append(item)
                self._cond.notify()
        if inline:
            self._run_and_release([item])
        return item.future

    def _run_and_release(self, batch: list[_Item]) -> None:
        try:
            if self._predict_groups is not None:
                run_grouped(self._predict_groups, batch)
            else:
                assert self._predict is not None, "a batcher needs predict or predict_groups"
                run_batch(self._predict, batch)
        finally:
            with self._cond:
                self._busy = False
                if self._queue:  # waking an idle worker for nothing costs the caller time
                    self._cond.notify()

    def close(self, timeout: float | None = None) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._worker.join(timeout)

    def _take_ready(self, batch: list[_Item], size: int) -> int:
        """Move queued items into the batch while they fit (texts and tokens); return the new
        text count."""
        cost = sum(item.cost for item in batch)
        while self._queue:
            head = self._queue[0]
            if size + len(head.texts) > self._max_batch_size:
                break
            if cost + head.cost > self._max_batch_tokens:
                break
            batch.append(self._queue.popleft())
            size += len(head.texts)
            cost += head.cost
        return size

    def _next_batch(self) -> list[_Item] | None:
        with self._cond:
            while (self._busy or not self._queue) and not (self._closing and not self._queue):
                self._cond.wait()
            if not self._queue:
                return None
            self._busy = True
            first = self._queue.popleft()
            batch = [first]
            size = self._take_ready(batch, len(first.texts))
            # Wait for more only under concurrency: a lone request goes straight to the model.
            if len(batch) > 1 and self._max_wait_s > 0:
                deadline = time.monotonic() + self._max_wait_s
                while size < self._max_batch_size and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    size = self._take_ready(batch, size)
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run_and_release(batch)


def run_batch(predict: PredictFn, batch: list[_Item]) -> None:
    """Run the wanted items as one predict call and hand each caller its rows."""
    live = [item for item in batch if item.wanted()]
    if not live:
        return
    texts = [text for item in live for text in item.texts]
    try:
        prediction = predict(texts)
    except BaseException as exc:  # every waiting caller must hear about the failure
        for item in live:
            item.future.set_exception(exc)
        return
    start = 0
    for item in live:
        end = start + len(item.texts)
        item.future.set_result(prediction.slice(start, end))
        start = end


def run_grouped(predict_groups: GroupPredictFn, batch: list[_Item]) -> None:
    """Run the wanted items as one encoder run, their texts grouped by bot, and hand each
    caller its rows."""
    live = [item for item in batch if item.wanted()]
    if not live:
        return
    groups: dict[int, tuple[object, list[str], list[_Item]]] = {}
    for item in live:
        entry = groups.setdefault(id(item.group), (item.group, [], []))
        entry[1].extend(item.texts)
        entry[2].append(item)
    try:
        answers = predict_groups([(group, texts) for group, texts, _ in groups.values()])
    except BaseException as exc:  # every waiting caller must hear about the failure
        for item in live:
            item.future.set_exception(exc)
        return
    for (_, _, items), prediction in zip(groups.values(), answers, strict=True):
        start = 0
        for item in items:
            end = start + len(item.texts)
            item.future.set_result(prediction.slice(start, end))
            start = end


class BotRunner:
    """One bot's runner on a batcher its encoder shares with other bots: calls go to the
    shared queue tagged with the bot's model. `close` refuses this bot's new calls and waits
    for the ones it accepted; the shared batcher keeps running for the other bots."""

    def __init__(self, batcher: MicroBatcher, group: object) -> None:
        self._batcher = batcher
        self._group = group
        self._cond = threading.Condition()
        self._closing = False
        self._open: set[Future[Prediction]] = set()

    @property
    def submissions(self) -> int:
        return self._batcher.submissions

    @property
    def pending(self) -> int:
        return self._batcher.pending_for(self._group)

    def submit(
        self, texts: Sequence[str], is_active: IsActive | None = None, cost: int | None = None
    ) -> Future[Prediction]:
        with self._cond:
            if self._closing:
                raise Unavailable("this model version was retired: retry")
        future = self._batcher.submit_for(self._group, texts, is_active, cost)
        with self._cond:
            self._open.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Prediction]) -> None:
        with self._cond:
            self._open.discard(future)
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._closing = True
            while self._open:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)


class DirectRunner:
    """No batching: each request runs the model in its own handler thread, at most
    `max_running` at once (more would only share the same cores while every other thread,
    health checks included, waits for CPU); up to `max_queue` wait, more are refused."""

    def __init__(self, predict: PredictFn, max_queue: int = 256, max_running: int = 2) -> None:
        if max_running < 1:
            raise ValueError(f"max_running must be >= 1, got {max_running}")
        self._predict = predict
        self._max_queue = max_queue
        self._in_flight = 0
        self._lock = threading.Lock()
        self._running = threading.BoundedSemaphore(max_running)
        self._closing = False
        self.submissions = 0

    def submit(
        self, texts: Sequence[str], is_active: IsActive | None = None, cost: int | None = None
    ) -> Future[Prediction]:
        with self._lock:
            if self._closing:
                raise Unavailable("the server is shutting down: retry on another instance")
            if self._in_flight >= self._max_queue:
                raise Overloaded(
                    f"server overloaded: {self._in_flight} requests in flight "
                    f"(max_queue {self._max_queue}); retry later"
                )
            self._in_flight += 1
            self.submissions += 1
        try:
            item = _Item(list(texts), is_active)
            with self._running:
                run_batch(self._predict, [item])
            return item.future
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            self._closing = True
