"""What every HTTP handler shares: the dependencies, the middleware each request goes through
(request id, errors as JSON, metrics), bearer tokens, and running the blocking service off
the event loop. The routes are in `routes.py` (and `rasa.py`)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import TypeVar

from aiohttp import web

from intent_server.api.service import CallState, IntentService
from intent_server.http.connections import CauseLog
from intent_server.http.errors import (
    HttpRefusal,
    Unauthenticated,
    error_response,
    request_error_response,
)
from intent_server.http.protocol import REQUEST_TIMEOUT, connection_of
from intent_server.serving.admission import Admission
from intent_server.serving.errors import RequestError
from intent_server.serving.logs import REQUEST_ID_HEADER, request_id_from, request_scope
from intent_server.serving.metrics import ServerMetrics
from intent_server.serving.secrets import bearer_value, token_matches

log = logging.getLogger(__name__)
# Clients too slow to send their body: one line a minute for all of them.
_SLOW_CLIENTS = CauseLog(log)
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpDeps:
    """What the HTTP handlers share with the gRPC side of the server."""

    service: IntentService
    admission: Admission
    executor: ThreadPoolExecutor
    is_ready: Callable[[], bool]
    tokens: tuple[str, ...] = ()
    metrics: ServerMetrics | None = None
    fallback_intent: str = "nlu_fallback"
    max_body_bytes: int = 1024 * 1024  # --max-receive-bytes, inflated bodies included
    body_timeout: float = 30.0  # --http-body-timeout
    token_body_bytes: int = 64 * 1024  # --http-max-token-body-bytes


DEPS = web.AppKey("deps", HttpDeps)


def package_version() -> str:
    try:
        return metadata.version("intent-server")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def deps_of(request: web.Request) -> HttpDeps:
    return request.app[DEPS]


class HttpCall:
    """`CallState` of an HTTP request: active while the client's connection is open."""

    def __init__(self, request: web.Request) -> None:
        self._transport = request.transport

    def is_active(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def time_remaining(self) -> float | None:
        return None


MISSING_TOKEN = "missing token: send the header 'Authorization: Bearer <token>'"


def check_token(request: web.Request, also: object = None) -> None:
    """Unauthenticated unless tokens are off or the request carries a valid one: the
    `Authorization: Bearer` header, or `also` (Rasa sends its token in the body or query)."""
    allowed = deps_of(request).tokens
    if not allowed:
        return
    token = bearer_value(request.headers.get("Authorization", ""))
    if not token and isinstance(also, str):
        token = also
    if not token:
        raise Unauthenticated(MISSING_TOKEN)
    if not token_matches(token, allowed):
        raise Unauthenticated("invalid token")


def has_token_outside_body(request: web.Request) -> bool:
    """The request carries a token in the `Authorization` header or `?token=`."""
    header = bearer_value(request.headers.get("Authorization", ""))
    return bool(header or request.query.get("token"))


async def run_admitted(request: web.Request, work: Callable[[CallState], T]) -> T:
    """Run a blocking service call on the handler pool, counted by the shared admission
    limit (refused at once beyond it), with this request's id on every log line."""
    deps = deps_of(request)
    with deps.admission.admitted():
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(deps.executor, context.run, work, HttpCall(request))


def _route_name(request: web.Request) -> str:
    """The route pattern (bounded label values), or `unmatched`."""
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return f"{request.method} {resource.canonical}"


async def _respond(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        if isinstance(exc, HttpRefusal) and exc.status == REQUEST_TIMEOUT:
            _SLOW_CLIENTS.note("body-timeout", f"HTTP: {exc.message}; closed the connection")
        else:
            _log_refusal(request, exc.message)
        return request_error_response(exc, request_id)
    except web.HTTPException as exc:  # aiohttp's own: unknown route, wrong method, too large
        if exc.status < 400:
            raise
        message = _http_error_text(exc, request)
        _log_refusal(request, message)
        return error_response(exc.status, message, request_id)
    except Exception:
        log.exception("request %s %s %s failed", request_id, request.method, request.path[:200])
        return error_response(
            500,
            f"internal server error (request id {request_id}); the server log has the details",
            request_id,
        )


def _log_refusal(request: web.Request, message: str) -> None:
    log.info("HTTP %s %s refused: %s", request.method, request.path[:200], message)


def _http_error_text(exc: web.HTTPException, request: web.Request) -> str:
    if exc.status == 404:
        return f"no such endpoint: {request.path[:200]} (the endpoints are in /openapi.json)"
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        return f"{request.method} is not allowed on {request.path[:200]}; use {allowed}"
    if exc.status == 413:
        return f"the request body is too large: {exc.text or exc.reason}"
    return exc.text or exc.reason


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id (from `X-Request-Id` when sane), errors as JSON, metrics, failures logged."""
    started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER)
    request_id = request_id_from(incoming) if incoming else uuid.uuid4().hex[:12]
    connection = connection_of(request)
    if connection is not None:
        connection.request_started()
    try:
        with request_scope(request_id):
            response = await _respond(request, handler, request_id)
            response.headers[REQUEST_ID_HEADER] = request_id
    finally:
        if connection is not None:
            connection.request_finished(request.content)
    metrics = deps_of(request).metrics
    if metrics is not None:
        metrics.observe_http(_route_name(request), response.status, time.perf_counter() - started)
    return response
