"""gRPC request ids: `RequestIdInterceptor` gives each call an id (the client's `x-request-id`
header when it sent a sane one, else a fresh one), returns it in the `x-request-id` trailing
metadata and logs failed calls with it."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from intent_server.grpc.interceptors import Metadata, UnaryBehavior, UnaryInterceptor
from intent_server.serving.logs import REQUEST_ID_HEADER, request_id_from, request_scope

log = logging.getLogger(__name__)


def _text(details: str | bytes | None) -> str:
    """grpcio hands details back as bytes once set: log them as text, not b'...'."""
    if isinstance(details, bytes):
        return details.decode("utf-8", errors="replace")
    return details or ""


def _incoming_id(metadata: Metadata) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER:
            return request_id_from(value)
    return request_id_from(None)


class RequestIdInterceptor(UnaryInterceptor):
    """Sets the call's request id for logging, returns it to the client, logs failures."""

    def around(self, method: str, metadata: Metadata, behavior: UnaryBehavior) -> UnaryBehavior:
        def with_id(request: Any, context: Any) -> Any:
            with request_scope(_incoming_id(metadata)) as request_id:
                context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
                try:
                    return behavior(request, context)
                finally:
                    code = context.code()
                    if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK:
                        log.info("%s -> %s: %s", method, code.name, _text(context.details()))

        return with_id
