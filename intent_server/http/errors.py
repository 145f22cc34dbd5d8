"""Request problems -> HTTP status codes and JSON error bodies (one place).

The codes match the gRPC ones (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, NOT_FOUND 404,
RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...) and the messages are the same. Every error
body is `{"error": {"code", "status", "message", "requestId"}}`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from intent_server.serving.errors import (
    Cancelled,
    DeadlineExceeded,
    InvalidArgument,
    ModelNotFound,
    Overloaded,
    RequestError,
    Unavailable,
)
from intent_server.serving.logs import REQUEST_ID_HEADER

# Status names are gRPC's, so a bot developer sees the same word on both transports.
_STATUS: dict[type[RequestError], tuple[int, str]] = {
    InvalidArgument: (400, "INVALID_ARGUMENT"),
    ModelNotFound: (404, "NOT_FOUND"),
    Unavailable: (503, "UNAVAILABLE"),
    Overloaded: (429, "RESOURCE_EXHAUSTED"),
    DeadlineExceeded: (504, "DEADLINE_EXCEEDED"),
    Cancelled: (499, "CANCELLED"),
}
_HTTP_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "DEADLINE_EXCEEDED",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class Unauthenticated(RequestError):
    """No token, or a wrong one (HTTP 401)."""


class HttpRefusal(RequestError):
    """A refusal only HTTP has (a body too slow, too large once inflated, or in an encoding
    the server does not read), with its own status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def status_of(error: RequestError) -> tuple[int, str]:
    """HTTP status and status name of a request problem (400 for an unlisted kind)."""
    if isinstance(error, Unauthenticated):
        return 401, "UNAUTHENTICATED"
    if isinstance(error, HttpRefusal):
        return error.status, _HTTP_NAMES.get(error.status, "INVALID_ARGUMENT")
    for kind in type(error).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 400, "INVALID_ARGUMENT"


def error_response(status: int, message: str, request_id: str, name: str = "") -> web.Response:
    body: dict[str, Any] = {
        "error": {
            "code": status,
            "status": name or _HTTP_NAMES.get(status, "UNKNOWN"),
            "message": message,
            "requestId": request_id,
        }
    }
    headers = {REQUEST_ID_HEADER: request_id}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def request_error_response(error: RequestError, request_id: str) -> web.Response:
    status, name = status_of(error)
    return error_response(status, error.message, request_id, name)
