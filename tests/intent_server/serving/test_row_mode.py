"""Choosing how a served INT8 model runs a batch's texts: both ways timed on the real model,
the faster kept, the result reported; nothing to choose for fp32 or one thread."""

from __future__ import annotations

import threading
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
    TIMING_TEXTS,
    RowModeChoice,
    choose_in_background,
    choose_row_mode,
)


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

    thread = choose_in_background("bot", int8_model, 2, on_choice)
    assert thread is not None and thread.daemon
    assert done.wait(timeout=120)
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
    thread = choose_in_background("bot", model, 2)  # type: ignore[arg-type]
    assert thread is not None
    thread.join(timeout=60)
    assert model.rows_in_use is None
    assert "timing the batch modes failed" in caplog.text


def test_the_timing_texts_make_one_batch() -> None:
    assert len(TIMING_TEXTS) == 16 and all(TIMING_TEXTS)
