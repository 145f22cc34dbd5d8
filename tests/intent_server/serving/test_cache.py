"""The answer cache: keys, bounds, eviction and lookups counted; with the real model, a
repeated message is answered from it with exactly the computed answer."""

from __future__ import annotations

import numpy as np
import pytest

from intent_server.api.service import IntentService, NoDeadline
from intent_server.core.prediction import Prediction
from intent_server.proto import intent_pb2
from intent_server.serving.cache import MAX_CACHED_CHARS, AnswerCache, cache_key
from intent_server.serving.registry import ModelRegistry, RunnerSettings, serve_export
from intent_server.serving.validation import Limits


def row(value: float) -> Prediction:
    return Prediction(np.array([[value, 1 - value]], dtype=np.float32), (False,))


def test_keys_ignore_what_the_tokenizer_ignores() -> None:
    assert cache_key("  Hi \t there\n", lowercase=True) == "hi there"
    assert cache_key("Hi there", lowercase=False) == "Hi there"
    assert cache_key("x" * (MAX_CACHED_CHARS + 1), lowercase=True) is None


def test_a_model_with_entities_shares_answers_only_between_identical_texts() -> None:
    # Its answers hold character offsets and values of the text as received.
    assert cache_key("  Hi \t there\n", lowercase=True, exact=True) == "  Hi \t there\n"
    cache = AnswerCache(4, lowercase=True, exact=True)
    cache.put("Fly to  Paris", row(0.2))
    assert cache.get("fly to paris") is None and cache.get("Fly to  Paris") is not None


def test_least_recently_used_entries_go_first() -> None:
    lookups: list[bool] = []
    cache = AnswerCache(2, lowercase=True, on_lookup=lookups.append)
    cache.put("a", row(0.1))
    cache.put("b", row(0.2))
    assert cache.get("A") is not None  # "a" is now the most recent
    cache.put("c", row(0.3))
    assert cache.get("b") is None and cache.get("c") is not None and len(cache) == 2
    assert lookups == [True, False, True]
    cache.put("long " * 100, row(0.4))  # too long: never cached
    assert len(cache) == 2
    with pytest.raises(ValueError):
        AnswerCache(0)


def test_a_repeat_is_answered_from_the_cache_exactly(example_registry: ModelRegistry) -> None:
    served = example_registry.get()
    hits: list[tuple[str, bool]] = []
    settings = RunnerSettings(cache_size=16, on_cache=lambda name, hit: hits.append((name, hit)))
    cached = serve_export("default", served.export, 1, settings)
    registry = ModelRegistry()
    registry.add(cached)
    service = IntentService(registry, Limits())
    try:
        first = service.classify(
            intent_pb2.ClassifyIntentRequest(text="Book a flight"), NoDeadline()
        )
        again = service.classify(
            # the bundled bot extracts entities, so only the exact text is the same question
            intent_pb2.ClassifyIntentRequest(text="Book a flight", all_intents=True),
            NoDeadline(),
        )
        assert hits == [("default", False), ("default", True)]
        assert again.intent == first.intent and again.familiarity == first.familiarity
        assert len(again.ranking) == len(served.labels)  # top_k applies to the cached row
        reloaded = serve_export("default", served.export, 1, settings)
        assert reloaded.cache is not None and len(reloaded.cache) == 0  # a new version starts empty
        reloaded.runner.close()
    finally:
        registry.close()
