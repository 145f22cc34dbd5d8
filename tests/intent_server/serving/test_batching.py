"""Micro-batcher behaviour with a deterministic fake model (real model: via the server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor

import numpy as np
import pytest

from intent_server.core.prediction import Prediction
from intent_server.serving.batching import BotRunner, DirectRunner, MicroBatcher
from intent_server.serving.errors import Overloaded, Unavailable


def fake_row(text: str) -> np.ndarray:
    row = np.array([len(text), sum(map(ord, text)) % 97, 1.0], dtype=np.float32)
    result: np.ndarray = row / row.sum()
    return result


def fake_prediction(texts: Sequence[str]) -> Prediction:
    """One fake row per text; texts starting with "long" count as truncated."""
    return Prediction(
        np.stack([fake_row(t) for t in texts]), tuple(t.startswith("long") for t in texts)
    )


class FakeModel:
    """Records every batch; optionally blocks the first call until released."""

    def __init__(self, block_first: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not block_first:
            self.release.set()

    def predict(self, texts: Sequence[str]) -> Prediction:
        self.calls.append(list(texts))
        self.started.set()
        self.release.wait(timeout=30)
        return fake_prediction(texts)


def occupy(batcher: MicroBatcher, model: FakeModel) -> threading.Thread:
    """Start a request from another thread and wait until the model is busy with it."""
    thread = threading.Thread(target=batcher.submit, args=(["first"],))
    thread.start()
    assert model.started.wait(10)
    return thread


def test_single_request_gets_its_own_row() -> None:
    model = FakeModel()
    batcher = MicroBatcher(model.predict, max_wait_s=60.0)  # a lone request must not wait
    prediction = batcher.submit(["hello there"]).result(timeout=10)
    np.testing.assert_allclose(prediction.probabilities[0], fake_row("hello there"))
    assert prediction.truncated == (False,)
    assert model.calls == [["hello there"]]
    batcher.close()


def test_lone_request_runs_on_the_callers_thread() -> None:
    threads: list[threading.Thread] = []

    def predict(texts: Sequence[str]) -> Prediction:
        threads.append(threading.current_thread())
        return fake_prediction(texts)

    batcher = MicroBatcher(predict)
    assert batcher.submit(["hi"]).done()
    assert threads == [threading.current_thread()]
    batcher.close()


def test_only_one_model_run_at_a_time_under_concurrency() -> None:
    lock = threading.Lock()
    running = 0
    most = 0

    def predict(texts: Sequence[str]) -> Prediction:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return fake_prediction(texts)

    batcher = MicroBatcher(predict, max_batch_size=8)
    texts = [f"message {i}" for i in range(64)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda t: batcher.submit([t]).result(timeout=30), texts))
    for text, prediction in zip(texts, results, strict=True):
        np.testing.assert_allclose(prediction.probabilities[0], fake_row(text))
    assert most == 1
    batcher.close()


def test_queued_requests_are_coalesced_and_results_routed_back() -> None:
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict, max_batch_size=32, max_wait_s=0.0)
    first = occupy(batcher, model)
    texts = [f"text number {i}" for i in range(10)]
    futures = [batcher.submit([t]) for t in texts]
    multi = batcher.submit(["long a", "b"])
    model.release.set()
    first.join(10)
    for text, future in zip(texts, futures, strict=True):
        prediction = future.result(timeout=10)
        np.testing.assert_allclose(prediction.probabilities[0], fake_row(text))
    prediction = multi.result(timeout=10)
    np.testing.assert_allclose(
        prediction.probabilities, np.stack([fake_row("long a"), fake_row("b")])
    )
    assert prediction.truncated == (True, False)
    assert model.calls[0] == ["first"]
    assert model.calls[1] == [*texts, "long a", "b"]  # one run for everything that queued
    batcher.close()


def test_worker_waits_for_late_arrivals_only_under_concurrency() -> None:
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict, max_batch_size=3, max_wait_s=60.0)
    first = occupy(batcher, model)
    early = [batcher.submit([t]) for t in ("a", "b")]
    model.release.set()
    first.join(10)
    late = batcher.submit(["c"])  # joins the waiting batch, which is then full and runs
    for future in [*early, late]:
        future.result(timeout=30)
    assert model.calls[1] == ["a", "b", "c"]
    batcher.close()


def test_batches_respect_max_batch_size() -> None:
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict, max_batch_size=4, max_wait_s=0.0)
    occupy(batcher, model)
    futures = [batcher.submit([f"t{i}"]) for i in range(10)]
    model.release.set()
    for future in futures:
        future.result(timeout=10)
    assert [len(call) for call in model.calls[1:]] == [4, 4, 2]
    batcher.close()


def test_full_queue_is_refused_immediately() -> None:
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict, max_queue=3)
    occupy(batcher, model)
    accepted = [batcher.submit([f"q{i}"]) for i in range(3)]
    with pytest.raises(Overloaded, match="max_queue 3"):
        batcher.submit(["one too many"])
    model.release.set()
    for future in accepted:
        future.result(timeout=10)
    batcher.close()


def test_items_of_gone_clients_are_dropped() -> None:
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict)
    occupy(batcher, model)
    gone = batcher.submit(["client left"], is_active=lambda: False)
    cancelled = batcher.submit(["caller cancelled"])
    assert cancelled.cancel()
    kept = batcher.submit(["still here"], is_active=lambda: True)
    model.release.set()
    kept.result(timeout=10)
    with pytest.raises(CancelledError):
        gone.result(timeout=10)
    assert model.calls[1] == ["still here"]
    batcher.close()


def test_model_failure_reaches_every_caller_and_worker_survives() -> None:
    calls = 0

    def flaky(texts: Sequence[str]) -> Prediction:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return fake_prediction(texts)

    batcher = MicroBatcher(flaky)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.submit(["a"]).result(timeout=10)
    assert batcher.submit(["b"]).result(timeout=10).truncated == (False,)
    batcher.close()


def test_close_finishes_accepted_work_then_refuses() -> None:
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict)
    running = occupy(batcher, model)
    queued = batcher.submit(["queued"])
    closer = threading.Thread(target=batcher.close)
    closer.start()
    model.release.set()
    closer.join(10)
    running.join(10)
    assert queued.done()
    np.testing.assert_allclose(queued.result().probabilities[0], fake_row("queued"))
    with pytest.raises(Unavailable, match="shutting down"):
        batcher.submit(["late"])


def test_direct_runner_runs_inline_and_bounds_concurrency() -> None:
    model = FakeModel()
    runner = DirectRunner(model.predict, max_queue=1)
    prediction = runner.submit(["a", "b"]).result(timeout=0)
    np.testing.assert_allclose(prediction.probabilities[1], fake_row("b"))
    blocked = FakeModel(block_first=True)
    busy = DirectRunner(blocked.predict, max_queue=1)
    worker = threading.Thread(target=busy.submit, args=(["slow"],))
    worker.start()
    assert blocked.started.wait(10)
    with pytest.raises(Overloaded):
        busy.submit(["second"])
    blocked.release.set()
    worker.join(10)
    runner.close()
    with pytest.raises(Unavailable):
        runner.submit(["late"])


@pytest.mark.parametrize("kwargs", [{"max_batch_size": 0}, {"max_queue": 0}, {"max_wait_s": -1}])
def test_bad_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(FakeModel().predict, **kwargs)  # type: ignore[arg-type]


def test_a_run_holds_at_most_the_token_budget() -> None:
    """A short message queued behind someone's long chunk is not run together with it."""
    model = FakeModel(block_first=True)
    batcher = MicroBatcher(model.predict, max_wait_s=0.0, max_batch_tokens=260)
    holder = occupy(batcher, model)
    heavy = batcher.submit(["long chunk"], cost=256)
    light = [batcher.submit([t], cost=10) for t in ("hi", "yes", "thanks")]
    model.release.set()
    holder.join(10)
    heavy.result(timeout=10)
    for future in light:
        future.result(timeout=10)
    batcher.close()
    assert model.calls[1] == ["long chunk"]  # 256 + 10 > 260: the light ones wait for the next run
    assert model.calls[2] == ["hi", "yes", "thanks"]


def test_the_direct_runner_bounds_the_model_runs_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def predict(texts: Sequence[str]) -> Prediction:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return fake_prediction(texts)

    runner = DirectRunner(predict, max_queue=64, max_running=2)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: runner.submit([t]).result(timeout=30), "abcdefgh"))
    assert len(results) == 8 and most == 2


class FakeBots:
    """A shared encoder's runs: records the groups of each run; blocks the first run until
    released; bot "b" answers with its rows reversed in value (another head)."""

    def __init__(self) -> None:
        self.runs: list[list[tuple[object, list[str]]]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def predict_groups(self, groups: Sequence[tuple[object, Sequence[str]]]) -> list[Prediction]:
        self.runs.append([(bot, list(texts)) for bot, texts in groups])
        self.started.set()
        self.release.wait(timeout=30)
        answers = []
        for bot, texts in groups:
            answer = fake_prediction(texts)
            if bot == "b":
                answer = Prediction(answer.probabilities[:, ::-1].copy(), answer.truncated)
            answers.append(answer)
        return answers


def test_a_shared_batcher_runs_several_bots_in_one_run_grouped_by_bot() -> None:
    bots = FakeBots()
    batcher = MicroBatcher(None, max_wait_s=0.0, predict_groups=bots.predict_groups)
    a, b = BotRunner(batcher, "a"), BotRunner(batcher, "b")
    first = threading.Thread(target=a.submit, args=(["first"],))
    first.start()
    assert bots.started.wait(10)
    queued = [a.submit(["one"]), b.submit(["two", "three"]), a.submit(["four"])]
    assert a.pending == 2 and b.pending == 1
    bots.release.set()
    first.join()
    answers = [future.result(timeout=10) for future in queued]
    assert bots.runs[1] == [("a", ["one", "four"]), ("b", ["two", "three"])]
    np.testing.assert_allclose(answers[0].probabilities[0], fake_row("one"))
    np.testing.assert_allclose(answers[2].probabilities[0], fake_row("four"))
    np.testing.assert_allclose(answers[1].probabilities[1], fake_row("three")[::-1])
    batcher.close()


def test_closing_one_bot_waits_for_its_calls_and_leaves_the_others_running() -> None:
    bots = FakeBots()
    batcher = MicroBatcher(None, max_wait_s=0.0, predict_groups=bots.predict_groups)
    a, b = BotRunner(batcher, "a"), BotRunner(batcher, "b")
    first = threading.Thread(target=b.submit, args=(["first"],))
    first.start()
    assert bots.started.wait(10)
    pending = a.submit(["accepted"])
    closing = threading.Thread(target=a.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()  # waits for the call it accepted
    with pytest.raises(Unavailable):
        a.submit(["refused"])
    bots.release.set()
    closing.join(10)
    assert not closing.is_alive() and pending.result(timeout=10).probabilities.shape == (1, 3)
    assert b.submit(["still served"]).result(timeout=10).probabilities.shape == (1, 3)
    first.join()
    batcher.close()
