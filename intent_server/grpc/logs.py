"""Server logging: text or JSON lines, and a request id on every line logged during a call.

`RequestIdInterceptor` gives each call an id (the client's `x-request-id` header when it sent
a sane one, else a fresh one), returns it in the `x-request-id` trailing metadata and logs
failed calls with it, so a client error can be found in the server log.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import grpc

from intent_server.grpc.interceptors import is_unary, wrap_unary

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


def current_request_id() -> str:
    """The id of the call this thread is handling ("" outside a call)."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (and to text lines as a ` [req ID]` suffix)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", "")
        return f"{line} [req {request_id}]" if request_id else line


def configure_logging(level: str, fmt: str = "text") -> None:
    """Root logging on stderr, `text` or `json` lines, with request ids."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else _TextFormatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def _incoming_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and _SANE_ID.match(value):
            return value
    return uuid.uuid4().hex[:12]


class RequestIdInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Sets the call's request id for logging, returns it to the client, logs failures."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if not is_unary(handler):
            return handler
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        behavior = handler.unary_unary

        def with_id(request: Any, context: Any) -> Any:
            request_id = _incoming_id(metadata)
            token = _request_id.set(request_id)
            context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
            try:
                return behavior(request, context)
            finally:
                code = context.code()
                if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK:
                    log.info("%s -> %s: %s", method, code.name, context.details() or "")
                _request_id.reset(token)

        return wrap_unary(handler, with_id)
