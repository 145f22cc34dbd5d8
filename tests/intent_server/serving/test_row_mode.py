"""Choosing how a served INT8 model runs a batch's texts: both ways timed on the real model,
the faster kept, the result reported; nothing to choose for fp32 or one thread."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest

from intent_server.core.exports import load_export
from intent_server.core.intent_model import IntentModel
from intent_server.serving.metrics import ServerMetrics
from intent_server.serving.row_mode import (
    PARALLEL,
    SEQUENTIAL,
    TIMING_ROUNDS,
    TIMING_TEXTS,
    RowModeChoice,
    choose_in_background,
    choose_row_mode,
)
from tests.fixtures.waiting import wait_until


@pytest.fixture(scope="module")
def int8_model(exported_example_version: Path) -> IntentModel:
    model = load_export(exported_example_version, "int8").open(2)
    model.warm_up()
    return model


def test_both_ways_are_timed_and_the_faster_is_kept(int8_model: IntentModel) -> None:
    single = int8_model.predict(["play some jazz", "hi"]).probabilities
    choice = choose_row_mode(int8_model, 2)
    try:
        assert set(choice.texts_per_second) == {SEQUENTIAL, PARALLEL}
        assert all(rate > 0 for rate in choice.texts_per_second.values())
        faster = max(choice.texts_per_second, key=choice.texts_per_second.__getitem__)
        assert choice.mode == faster
        assert (int8_model.parallel_rows is not None) == (choice.mode == PARALLEL)
        # Whichever way was kept, a batch still gets the single answers.
        batched = int8_model.predict(["play some jazz", "hi"]).probabilities
        np.testing.assert_allclose(batched, single, atol=1e-5)
    finally:
        int8_model.use_parallel_rows(None)


def test_nothing_to_choose_with_one_thread_or_fp32(exported_example_version: Path) -> None:
    fp32 = load_export(exported_example_version, "fp32").open(2)
    assert choose_row_mode(fp32, 2) == RowModeChoice(SEQUENTIAL, {})
    assert choose_in_background("fp32", fp32, 2) is None
    int8 = load_export(exported_example_version, "int8").open(1)
    assert choose_row_mode(int8, 1) == RowModeChoice(SEQUENTIAL, {})
    assert int8.parallel_rows is None


def test_the_choice_runs_in_the_background_and_is_reported(int8_model: IntentModel) -> None:
    seen: list[tuple[str, RowModeChoice]] = []
    done = threading.Event()

    def on_choice(name: str, choice: RowModeChoice) -> None:
        seen.append((name, choice))
        done.set()

    timing = choose_in_background("bot", int8_model, 2, on_choice)
    assert timing is not None and not timing.thread.daemon  # an exit waits rather than races it
    assert done.wait(timeout=120)
    timing.stop()
    int8_model.use_parallel_rows(None)
    [(name, choice)] = seen
    assert name == "bot" and choice.mode in (SEQUENTIAL, PARALLEL)
    metrics = ServerMetrics()
    metrics.observe_row_mode("bot", choice)
    text = generate_latest(metrics.registry).decode()
    assert f'intent_server_batch_row_mode{{mode="{choice.mode}",model="bot"}} 1.0' in text
    assert "intent_server_batch_row_mode_texts_per_second" in text


class FailingModel:
    row_wise = True

    def __init__(self, model: IntentModel) -> None:
        self._model = model
        self.rows_in_use: object = "unset"

    def predict(self, texts: object) -> object:
        raise RuntimeError("boom")

    def open_parallel_rows(self, workers: int) -> object:
        return self._model.open_parallel_rows(workers)

    def use_parallel_rows(self, rows: object) -> None:
        self.rows_in_use = rows


def test_a_failed_timing_leaves_texts_one_after_another(
    int8_model: IntentModel, caplog: pytest.LogCaptureFixture
) -> None:
    model = FailingModel(int8_model)
    timing = choose_in_background("bot", model, 2)  # type: ignore[arg-type]
    assert timing is not None
    timing.thread.join(timeout=60)
    assert model.rows_in_use is None
    assert "timing the batch modes failed" in caplog.text


class SlowModel(FailingModel):
    """Each timed batch takes 50 ms; counts the batches run."""

    def __init__(self, model: IntentModel) -> None:
        super().__init__(model)
        self.batches = 0

    def predict(self, texts: object) -> object:
        self.batches += 1
        time.sleep(0.05)
        return None


def test_stopping_the_timing_ends_it_at_the_next_batch(
    int8_model: IntentModel, caplog: pytest.LogCaptureFixture
) -> None:
    """The server stops the timing before a version is retired or the process exits: no
    batch of it may still be running then (issue 23: an abort at exit)."""
    caplog.set_level(logging.INFO)
    model = SlowModel(int8_model)
    timing = choose_in_background("bot", model, 2)  # type: ignore[arg-type]
    assert timing is not None
    wait_until(lambda: model.batches >= 1)
    began = time.perf_counter()
    timing.stop()
    assert not timing.thread.is_alive() and time.perf_counter() - began < 1.0
    assert model.batches < 2 * TIMING_ROUNDS and model.rows_in_use is None
    assert "timing the batch modes stopped; texts run one by one" in caplog.text


def test_the_timing_texts_make_one_batch() -> None:
    assert len(TIMING_TEXTS) == 16 and all(TIMING_TEXTS)
