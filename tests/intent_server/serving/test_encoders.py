"""Bots sharing one encoder (`EncoderPool`) with the real example export: one loaded encoder
for two bots, freed by the last; a batch across bots answers as separate calls; reloading
one bot under traffic to the other fails nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from bench.farm.copies import make_bot
from intent_server.client import IntentClient
from intent_server.core.exports import load_export, resolve_current
from intent_server.core.intent_model import predict_together
from intent_server.core.prediction import Prediction
from intent_server.process import running_server
from intent_server.serving.encoders import EncoderPool
from intent_server.serving.registry import RunnerSettings, ServedModel, load_served_model
from tests.fixtures.export import detach
from tests.fixtures.server import example_server_config
from tests.fixtures.waiting import wait_until

TEXTS = ["wake me up at 7", "what's the weather in paris", "thanks a lot", "play some jazz"]


def pooled_settings(runs: list[list[tuple[str, int]]] | None = None) -> RunnerSettings:
    """Settings with an encoder pool; `runs` collects each shared run's (bot, texts)."""
    settings = RunnerSettings(max_batch_wait_ms=50.0)
    current: list[tuple[str, int]] = []

    def on_batch(name: str, texts: int) -> None:
        current.append((name, texts))

    pool = EncoderPool(settings.shared_batcher, on_batch=on_batch if runs is not None else None)
    if runs is not None:
        runs.append(current)
    return RunnerSettings(max_batch_wait_ms=50.0, encoders=pool)


@pytest.fixture
def bots(two_bots: Path) -> Iterator[tuple[RunnerSettings, ServedModel, ServedModel]]:
    settings = pooled_settings()
    alpha = load_served_model(two_bots, "alpha", 1, "auto", settings)
    beta = load_served_model(two_bots, "beta", 1, "auto", settings)
    yield settings, alpha, beta
    alpha.close()
    beta.close()


def test_two_bots_share_one_encoder_and_the_last_frees_it(
    bots: tuple[RunnerSettings, ServedModel, ServedModel],
) -> None:
    settings, alpha, beta = bots
    pool = settings.encoders
    assert pool is not None
    assert alpha.export.encoder_identity == beta.export.encoder_identity
    assert len(pool) == 1 and pool.users(alpha.export.encoder_identity) == 2
    assert alpha.model.encoder is beta.model.encoder  # type: ignore[attr-defined]
    assert alpha.model.tokenizer is beta.model.tokenizer  # type: ignore[attr-defined]
    # Each keeps its own head: the same text gets other probabilities.
    a, b = alpha.model.predict(TEXTS[:1]), beta.model.predict(TEXTS[:1])
    assert not np.allclose(a.probabilities, b.probabilities, atol=1e-4)
    alpha.close()
    assert len(pool) == 1 and pool.users(alpha.export.encoder_identity) == 1
    assert beta.runner.submit(TEXTS[:1]).result(timeout=30).probabilities.shape[0] == 1
    beta.close()
    assert len(pool) == 0
    alpha.close()  # closing twice drops the reference once
    assert len(pool) == 0


def test_an_export_with_a_known_encoder_is_not_hashed_again(two_bots: Path) -> None:
    version = resolve_current(two_bots, "alpha")
    export = load_export(version)
    encoder = detach(export.encoder_path)  # hard link
    encoder.write_bytes(b"not read")
    with pytest.raises(Exception, match="corrupted"):
        load_export(version)
    assert load_export(version, loaded_encoders={export.encoder_identity}).path == version


def test_a_batch_across_bots_answers_as_separate_calls(
    bots: tuple[RunnerSettings, ServedModel, ServedModel],
) -> None:
    _, alpha, beta = bots
    together = predict_together([(alpha.model, TEXTS), (beta.model, TEXTS[::-1])])  # type: ignore[list-item]
    for answer, served, texts in ((together[0], alpha, TEXTS), (together[1], beta, TEXTS[::-1])):
        alone = served.model.predict(texts)
        np.testing.assert_allclose(answer.probabilities, alone.probabilities, atol=1e-5)
        assert answer.familiarity is not None and alone.familiarity is not None
        np.testing.assert_allclose(answer.familiarity, alone.familiarity, atol=1e-5)


def test_concurrent_calls_of_two_bots_run_in_one_encoder_batch(two_bots: Path) -> None:
    runs: list[list[tuple[str, int]]] = []
    settings = pooled_settings(runs)
    alpha = load_served_model(two_bots, "alpha", 1, "auto", settings)
    beta = load_served_model(two_bots, "beta", 1, "auto", settings)
    try:
        expected = {"alpha": alpha.model.predict(TEXTS), "beta": beta.model.predict(TEXTS)}
        runs[0].clear()
        blocker = threading.Thread(target=_occupy, args=(alpha,))
        blocker.start()
        wait_until(lambda: len(runs[0]) > 0)  # the long run is in progress
        futures: list[tuple[str, Future[Prediction]]] = []
        for text in TEXTS:
            futures.append(("alpha", alpha.runner.submit([text])))
            futures.append(("beta", beta.runner.submit([text])))
        blocker.join()
        for index, (name, future) in enumerate(futures):
            row = index // 2
            got = future.result(timeout=60).probabilities[0]
            np.testing.assert_allclose(got, expected[name].probabilities[row], atol=1e-5)
        shared_runs = [names for names in _runs_by_bot(runs[0]) if names == {"alpha", "beta"}]
        assert shared_runs, f"no run held both bots' texts: {runs[0]}"
    finally:
        alpha.close()
        beta.close()


def _occupy(served: ServedModel) -> None:
    """Keep the shared batcher busy with a run of long texts; other calls queue meanwhile."""
    long_text = " ".join(["please set a very long alarm"] * 40)
    served.runner.submit([long_text] * 8, cost=1).result(timeout=60)


def _runs_by_bot(calls: list[tuple[str, int]]) -> list[set[str]]:
    """Consecutive on_batch calls grouped into runs (each run reports every bot once)."""
    runs: list[set[str]] = []
    for name, _ in calls:
        if not runs or name in runs[-1]:
            runs.append(set())
        runs[-1].add(name)
    return runs


def test_reloading_one_bot_under_traffic_from_both_fails_nothing(two_bots: Path) -> None:
    config = example_server_config(two_bots, models=("all",), grace_seconds=0.3)
    errors: list[BaseException] = []
    answered = {"alpha": 0, "beta": 0}
    stop = threading.Event()
    with running_server(config) as server:
        pool = server.settings.encoders
        assert pool is not None and len(pool) == 1
        identity = server.registry.get("alpha").export.encoder_identity
        beta_version = server.registry.get("beta").version

        def traffic(name: str) -> None:
            with IntentClient(server.address, timeout=30) as client:
                while not stop.is_set():
                    try:
                        client.classify(TEXTS[answered[name] % len(TEXTS)], model=name)
                        answered[name] += 1
                    except Exception as exc:  # every failure is a defect here
                        errors.append(exc)

        threads = [threading.Thread(target=traffic, args=(name,)) for name in answered]
        for thread in threads:
            thread.start()
        source = resolve_current(two_bots, "alpha")
        for number in range(3):
            wait_until(lambda: min(answered.values()) > 0)
            make_bot(source, two_bots, "alpha", seed=100 + number, suffix=f"r{number}")
            [result] = server.reloader.reload(["alpha"])
            assert result.outcome == "swapped", result.error
        seen = dict(answered)
        wait_until(lambda: all(answered[name] > seen[name] + 5 for name in answered))
        stop.set()
        for thread in threads:
            thread.join()
        assert not errors, errors[:3]
        assert server.registry.get("beta").version == beta_version
        assert server.registry.get("alpha").version.endswith("-r2")
        wait_until(lambda: pool.users(identity) == 2)  # the old versions retired
        assert len(pool) == 1
