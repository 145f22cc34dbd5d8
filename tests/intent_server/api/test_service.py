"""`IntentService` with the real model: batches cost tokens, run in chunks, and stop between
chunks when the caller goes away."""

from __future__ import annotations

import pytest

from intent_server.api.service import IntentService, NoDeadline, chunks
from intent_server.proto import intent_pb2
from intent_server.serving.errors import Cancelled, InvalidArgument
from intent_server.serving.registry import ModelRegistry
from intent_server.serving.validation import Limits

PUNCTUATION = "!?" * 1024  # 2,048 bytes, over 2,000 tokens: truncated to the model's 256


def test_batches_run_in_chunks_of_at_most_256_tokens() -> None:
    assert chunks([256, 256, 10]) == [(0, 1), (1, 2), (2, 3)]
    assert chunks([10] * 30) == [(0, 25), (25, 30)]
    assert chunks([300, 5]) == [(0, 1), (1, 2)]  # a long text is a chunk of its own
    assert chunks([]) == []


def test_a_batch_over_the_token_budget_is_refused(example_registry: ModelRegistry) -> None:
    service = IntentService(example_registry, Limits(max_call_tokens=8192))
    request = intent_pb2.ClassifyIntentBatchRequest(texts=[PUNCTUATION] * 64)
    with pytest.raises(InvalidArgument, match="16384 tokens, over the per-call budget of 8192"):
        service.classify_batch(request, NoDeadline())


def test_a_chunked_batch_answers_like_single_calls(example_registry: ModelRegistry) -> None:
    service = IntentService(example_registry, Limits())
    texts = [PUNCTUATION, "book a flight to Rome", PUNCTUATION, "hi", "set an alarm for 7"]
    batch = service.classify_batch(intent_pb2.ClassifyIntentBatchRequest(texts=texts), NoDeadline())
    for text, result in zip(texts, batch.results, strict=True):
        single = service.classify(intent_pb2.ClassifyIntentRequest(text=text), NoDeadline())
        assert result.intent.name == single.intent.name
        assert result.truncated == single.truncated
        assert result.ranking[0].confidence == pytest.approx(single.ranking[0].confidence, abs=1e-5)


class GoneAfter:
    """A caller that leaves after `checks` activity checks."""

    def __init__(self, checks: int) -> None:
        self.left = checks

    def is_active(self) -> bool:
        self.left -= 1
        return self.left >= 0

    def time_remaining(self) -> float | None:
        return None


def test_a_gone_caller_stops_the_batch_between_chunks(example_registry: ModelRegistry) -> None:
    service = IntentService(example_registry, Limits())
    request = intent_pb2.ClassifyIntentBatchRequest(texts=[PUNCTUATION] * 8)
    with pytest.raises(Cancelled):
        service.classify_batch(request, GoneAfter(checks=4))
