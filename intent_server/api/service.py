"""The classification service in the proto's terms, shared by gRPC and HTTP/JSON.

Validate, look the model up, run it through its runner, convert. Problems the caller can fix
or wait out are raised as `serving.errors.RequestError` kinds; each transport maps them to
its own status codes, so both give the same answer and the same message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import CancelledError, TimeoutError
from typing import Protocol

from intent_server.api.converters import to_model_info, to_response
from intent_server.core.prediction import Prediction
from intent_server.proto import intent_pb2
from intent_server.serving.errors import Cancelled, DeadlineExceeded
from intent_server.serving.registry import ModelRegistry, ServedModel
from intent_server.serving.validation import (
    Limits,
    check_call_tokens,
    check_text,
    check_texts,
    resolve_top_k,
)

# A batch runs as chunks of at most this many tokens (a longer text is a chunk of its own),
# one after the other through the runner, so single calls queued meanwhile run between two
# chunks instead of after the whole batch, and a gone caller or passed deadline stops it.
# (The encoder truncates every text at 256 tokens, so no chunk costs more than one such text.)
CHUNK_TOKENS = 256
# When other calls came in while a chunk ran, the batch waits as long as that chunk took
# (at most this) before its next one: the model's time is shared about evenly, and a caller
# sending one message after another finds the model free most of the time.
MAX_YIELD_S = 0.25


def chunks(counts: Sequence[int], budget: int = CHUNK_TOKENS) -> list[tuple[int, int]]:
    """(start, stop) ranges of consecutive texts holding at most `budget` tokens each."""
    ranges: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, count in enumerate(counts):
        if index > start and used + count > budget:
            ranges.append((start, index))
            start, used = index, 0
        used += count
    if counts:
        ranges.append((start, len(counts)))
    return ranges


class CallState(Protocol):
    """What the service asks of a call in progress (a grpc context provides both)."""

    def is_active(self) -> bool:
        """False once the caller has gone away."""
        ...

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline; None without one."""
        ...


class NoDeadline:
    """A call without deadline that stays active (in-process callers, tests)."""

    def is_active(self) -> bool:
        return True

    def time_remaining(self) -> float | None:
        return None


def predict(
    served: ServedModel, texts: Sequence[str], call: CallState, tokens: int | None = None
) -> Prediction:
    """Run texts through the model's runner unless the caller has gone or its deadline passed
    (`tokens`: what they cost, when known)."""
    remaining = call.time_remaining()
    if not call.is_active():
        raise Cancelled("the call was cancelled before classification started")
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the deadline passed before classification started")
    future = served.runner.submit(texts, is_active=call.is_active, cost=tokens)
    try:
        return future.result(timeout=remaining)
    except TimeoutError:
        future.cancel()
        raise DeadlineExceeded("the deadline passed while waiting for the model") from None
    except CancelledError:
        raise Cancelled("the call was cancelled while waiting for the model") from None


def _run_chunks(
    served: ServedModel, texts: Sequence[str], counts: Sequence[int], call: CallState
) -> list[Prediction]:
    """The batch chunk by chunk, yielding to other callers between chunks (MAX_YIELD_S)."""
    runner = served.runner
    parts: list[Prediction] = []
    ranges = chunks(counts)
    for index, (start, stop) in enumerate(ranges):
        seen = runner.submissions
        began = time.monotonic()
        parts.append(predict(served, texts[start:stop], call, sum(counts[start:stop])))
        others = runner.submissions - seen - 1
        if others > 0 and index + 1 < len(ranges):
            time.sleep(min(time.monotonic() - began, MAX_YIELD_S))
    return parts


class IntentService:
    """`intent.v1.IntentClassifier` without a transport."""

    def __init__(self, registry: ModelRegistry, limits: Limits) -> None:
        self.registry = registry
        self.limits = limits

    def classify(
        self, request: intent_pb2.ClassifyIntentRequest, call: CallState
    ) -> intent_pb2.ClassifyIntentResponse:
        check_text(request.text, self.limits)
        served = self.registry.get(request.model)
        top_k = resolve_top_k(request.top_k, request.all_intents, len(served.labels))
        cache = served.cache
        prediction = None if cache is None else cache.get(request.text)
        if prediction is None:
            prediction = predict(served, [request.text], call)
            if cache is not None:
                cache.put(request.text, prediction)
        return to_response(prediction, 0, served, top_k)

    def classify_batch(
        self, request: intent_pb2.ClassifyIntentBatchRequest, call: CallState
    ) -> intent_pb2.ClassifyIntentBatchResponse:
        texts = list(request.texts)
        check_texts(texts, self.limits)
        served = self.registry.get(request.model)
        top_k = resolve_top_k(request.top_k, request.all_intents, len(served.labels))
        counts = served.model.token_counts(texts)
        check_call_tokens(counts, self.limits)
        prediction = Prediction.concat(_run_chunks(served, texts, counts, call))
        return intent_pb2.ClassifyIntentBatchResponse(
            results=[to_response(prediction, row, served, top_k) for row in range(len(texts))]
        )

    def model_info(
        self, request: intent_pb2.GetModelInfoRequest, listed: bool = False
    ) -> intent_pb2.ModelInfo:
        """One model's info; `listed` (an entry of the list of all models) leaves out
        `available_models`, which the list itself is: 1,000 bots would otherwise list
        1,000 names a million times."""
        served = self.registry.get(request.model)
        return to_model_info(served, self.limits, [] if listed else self.registry.names())
