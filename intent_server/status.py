"""Map request problems and unexpected failures to gRPC status codes (one place)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, NoReturn

import grpc

from intent_server.logs import current_request_id

log = logging.getLogger(__name__)


class RequestError(Exception):
    """A problem a client can fix or wait out; carries the status code to answer with."""

    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(RequestError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class ModelNotFound(RequestError):
    code = grpc.StatusCode.NOT_FOUND


class Unavailable(RequestError):
    code = grpc.StatusCode.UNAVAILABLE


class Overloaded(RequestError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(RequestError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(RequestError):
    code = grpc.StatusCode.CANCELLED


def abort(context: Any, error: RequestError) -> NoReturn:
    """End the call with the error's status code and message (context.abort raises)."""
    context.abort(error.code, error.message)
    raise AssertionError("context.abort returned")  # pragma: no cover


def abort_internal(context: Any, method: str, exc: BaseException) -> NoReturn:
    """Log the full failure under the call's request id; the client sees only the id."""
    request_id = current_request_id() or uuid.uuid4().hex[:12]
    log.error("request %s in %s failed", request_id, method, exc_info=exc)
    context.abort(
        grpc.StatusCode.INTERNAL,
        f"internal server error (request id {request_id}); the server log has the details",
    )
    raise AssertionError("context.abort returned")  # pragma: no cover
