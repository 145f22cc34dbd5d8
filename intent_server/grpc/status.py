"""Map request problems and unexpected failures to gRPC status codes (one place)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, NoReturn

import grpc

from intent_server.serving.errors import (
    Cancelled,
    DeadlineExceeded,
    InvalidArgument,
    ModelNotFound,
    Overloaded,
    RequestError,
    Unavailable,
)
from intent_server.serving.logs import current_request_id

log = logging.getLogger(__name__)

STATUS_CODES: dict[type[RequestError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Cancelled: grpc.StatusCode.CANCELLED,
}


def status_code(error: RequestError) -> grpc.StatusCode:
    """The gRPC code for a request problem (INVALID_ARGUMENT for an unlisted subclass)."""
    for kind in type(error).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return grpc.StatusCode.INVALID_ARGUMENT


def abort(context: Any, error: RequestError) -> NoReturn:
    """End the call with the error's status code and message (context.abort raises)."""
    context.abort(status_code(error), error.message)
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
