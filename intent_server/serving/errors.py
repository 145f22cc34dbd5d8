"""Request problems a client can fix or wait out. Each transport maps them to its own
status codes (gRPC: `intent_server.grpc.status`)."""

from __future__ import annotations


class RequestError(Exception):
    """A problem with a request; `message` is what the client is told."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(RequestError):
    """The request itself is wrong (empty text, too long, bad top_k)."""


class ModelNotFound(RequestError):
    """The named model is not loaded on this server."""


class Unavailable(RequestError):
    """No model is loaded yet, or the server is shutting down."""


class Overloaded(RequestError):
    """Too much work is queued; retry later."""


class DeadlineExceeded(RequestError):
    """The caller's deadline passed before the answer was ready."""


class Cancelled(RequestError):
    """The caller went away."""
