"""The classification service in the proto's terms, shared by gRPC and HTTP/JSON.

Validate, look the model up, run it through its runner, convert. Problems the caller can fix
or wait out are raised as `serving.errors.RequestError` kinds; each transport maps them to
its own status codes, so both give the same answer and the same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import CancelledError, TimeoutError
from typing import Protocol

from intent_server.api.converters import to_model_info, to_response
from intent_server.core.prediction import Prediction
from intent_server.proto import intent_pb2
from intent_server.serving.errors import Cancelled, DeadlineExceeded
from intent_server.serving.registry import ModelRegistry, ServedModel
from intent_server.serving.validation import Limits, check_text, check_texts, resolve_top_k


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


def predict(served: ServedModel, texts: Sequence[str], call: CallState) -> Prediction:
    """Run texts through the model's runner unless the caller has gone or its deadline passed."""
    remaining = call.time_remaining()
    if not call.is_active():
        raise Cancelled("the call was cancelled before classification started")
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the deadline passed before classification started")
    future = served.runner.submit(texts, is_active=call.is_active)
    try:
        return future.result(timeout=remaining)
    except TimeoutError:
        future.cancel()
        raise DeadlineExceeded("the deadline passed while waiting for the model") from None
    except CancelledError:
        raise Cancelled("the call was cancelled while waiting for the model") from None


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
        prediction = predict(served, [request.text], call)
        return to_response(prediction, 0, served, top_k)

    def classify_batch(
        self, request: intent_pb2.ClassifyIntentBatchRequest, call: CallState
    ) -> intent_pb2.ClassifyIntentBatchResponse:
        texts = list(request.texts)
        check_texts(texts, self.limits)
        served = self.registry.get(request.model)
        top_k = resolve_top_k(request.top_k, request.all_intents, len(served.labels))
        prediction = predict(served, texts, call)
        return intent_pb2.ClassifyIntentBatchResponse(
            results=[to_response(prediction, row, served, top_k) for row in range(len(texts))]
        )

    def model_info(self, request: intent_pb2.GetModelInfoRequest) -> intent_pb2.ModelInfo:
        served = self.registry.get(request.model)
        return to_model_info(served, self.limits, self.registry.names())
