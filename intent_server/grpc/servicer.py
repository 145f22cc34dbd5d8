"""Thin gRPC servicers: the shared `IntentService` behind each method, errors to status codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from intent_server.api.converters import to_reload_response
from intent_server.api.service import IntentService
from intent_server.grpc.status import abort, abort_internal
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.serving.errors import RequestError
from intent_server.serving.registry import ModelRegistry
from intent_server.serving.validation import Limits

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


class IntentServicer(intent_pb2_grpc.IntentClassifierServicer):
    def __init__(self, registry: ModelRegistry, limits: Limits) -> None:
        self._service = IntentService(registry, limits)

    def ClassifyIntent(
        self, request: intent_pb2.ClassifyIntentRequest, context: Any
    ) -> intent_pb2.ClassifyIntentResponse:
        return _handle("ClassifyIntent", context, lambda: self._service.classify(request, context))

    def ClassifyIntentBatch(
        self, request: intent_pb2.ClassifyIntentBatchRequest, context: Any
    ) -> intent_pb2.ClassifyIntentBatchResponse:
        return _handle(
            "ClassifyIntentBatch", context, lambda: self._service.classify_batch(request, context)
        )

    def GetModelInfo(
        self, request: intent_pb2.GetModelInfoRequest, context: Any
    ) -> intent_pb2.ModelInfo:
        return _handle("GetModelInfo", context, lambda: self._service.model_info(request))


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
