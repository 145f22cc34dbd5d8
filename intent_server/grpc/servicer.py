"""Thin gRPC servicer: validate, look the model up, run it, convert. No model logic here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, TimeoutError
from typing import TYPE_CHECKING, Any, TypeVar

from intent_server.core.prediction import Prediction
from intent_server.grpc.converters import to_model_info, to_reload_response, to_response
from intent_server.grpc.status import abort, abort_internal
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.serving.errors import Cancelled, DeadlineExceeded, RequestError
from intent_server.serving.registry import ModelRegistry, ServedModel
from intent_server.serving.validation import Limits, check_text, check_texts, resolve_top_k

if TYPE_CHECKING:
    from intent_server.serving.reload import Reloader

T = TypeVar("T")


def _handle(method: str, context: Any, work: Callable[[], T]) -> T:
    """Run a handler body; client problems get their status, anything else INTERNAL."""
    try:
        return work()
    except RequestError as exc:
        abort(context, exc)
    except Exception as exc:
        abort_internal(context, method, exc)


def _predict(served: ServedModel, texts: Sequence[str], context: Any) -> Prediction:
    """Run texts through the model's runner unless the client has gone or its deadline passed."""
    remaining = context.time_remaining()
    if not context.is_active():
        raise Cancelled("the call was cancelled before classification started")
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the deadline passed before classification started")
    future = served.runner.submit(texts, is_active=context.is_active)
    try:
        return future.result(timeout=remaining)
    except TimeoutError:
        future.cancel()
        raise DeadlineExceeded("the deadline passed while waiting for the model") from None
    except CancelledError:
        raise Cancelled("the call was cancelled while waiting for the model") from None


class IntentServicer(intent_pb2_grpc.IntentClassifierServicer):
    def __init__(self, registry: ModelRegistry, limits: Limits) -> None:
        self._registry = registry
        self._limits = limits

    def ClassifyIntent(
        self, request: intent_pb2.ClassifyIntentRequest, context: Any
    ) -> intent_pb2.ClassifyIntentResponse:
        def work() -> intent_pb2.ClassifyIntentResponse:
            check_text(request.text, self._limits)
            served = self._registry.get(request.model)
            top_k = resolve_top_k(request.top_k, request.all_intents, len(served.labels))
            prediction = _predict(served, [request.text], context)
            return to_response(prediction, 0, served, top_k)

        return _handle("ClassifyIntent", context, work)

    def ClassifyIntentBatch(
        self, request: intent_pb2.ClassifyIntentBatchRequest, context: Any
    ) -> intent_pb2.ClassifyIntentBatchResponse:
        def work() -> intent_pb2.ClassifyIntentBatchResponse:
            texts = list(request.texts)
            check_texts(texts, self._limits)
            served = self._registry.get(request.model)
            top_k = resolve_top_k(request.top_k, request.all_intents, len(served.labels))
            prediction = _predict(served, texts, context)
            return intent_pb2.ClassifyIntentBatchResponse(
                results=[to_response(prediction, row, served, top_k) for row in range(len(texts))]
            )

        return _handle("ClassifyIntentBatch", context, work)

    def GetModelInfo(
        self, request: intent_pb2.GetModelInfoRequest, context: Any
    ) -> intent_pb2.ModelInfo:
        def work() -> intent_pb2.ModelInfo:
            served = self._registry.get(request.model)
            return to_model_info(served, self._limits, self._registry.names())

        return _handle("GetModelInfo", context, work)


class AdminServicer(intent_pb2_grpc.AdminServicer):
    """Operator methods (the token interceptor lets only admin tokens through)."""

    def __init__(self, reloader: Reloader) -> None:
        self._reloader = reloader

    def ReloadModels(
        self, request: intent_pb2.ReloadModelsRequest, context: Any
    ) -> intent_pb2.ReloadModelsResponse:
        def work() -> intent_pb2.ReloadModelsResponse:
            results = self._reloader.reload(list(request.models), force=request.force)
            return to_reload_response(results)

        return _handle("ReloadModels", context, work)
