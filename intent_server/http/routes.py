"""The `/v1` API (the proto's JSON mapping), health, the OpenAPI document and the try-it page;
`build_app` puts them together with Rasa's endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from google.protobuf.message import Message

from intent_server.api.service import CallState
from intent_server.http import openapi, page, rasa
from intent_server.http.app import DEPS, HttpDeps, check_token, deps_of, observe, run_admitted
from intent_server.http.codec import json_response, read_json, to_json, to_message
from intent_server.http.health import HEALTHZ, READYZ, Probes
from intent_server.proto import intent_pb2

M = TypeVar("M", bound=Message)


async def _service_call(
    request: web.Request,
    message_type: type[M],
    method: Callable[[M, CallState], Message],
) -> web.Response:
    """Token, JSON -> request message, the service method off the loop, message -> JSON."""
    check_token(request)
    message = to_message(await read_json(request), message_type)
    response = await run_admitted(request, lambda call: method(message, call))
    return json_response(to_json(response))


async def classify(request: web.Request) -> web.Response:
    service = deps_of(request).service
    return await _service_call(request, intent_pb2.ClassifyIntentRequest, service.classify)


async def classify_batch(request: web.Request) -> web.Response:
    service = deps_of(request).service
    return await _service_call(
        request, intent_pb2.ClassifyIntentBatchRequest, service.classify_batch
    )


async def list_models(request: web.Request) -> web.Response:
    check_token(request)
    service = deps_of(request).service
    names = service.registry.names()
    infos = [
        to_json(service.model_info(intent_pb2.GetModelInfoRequest(model=name), listed=True))
        for name in names
    ]
    return json_response({"models": infos, "defaultModel": names[0] if names else ""})


async def get_model(request: web.Request) -> web.Response:
    check_token(request)
    name = request.match_info["name"]
    info = deps_of(request).service.model_info(intent_pb2.GetModelInfoRequest(model=name))
    return json_response(to_json(info))


async def probe(request: web.Request) -> web.Response:
    """`/healthz` and `/readyz` on a kept-alive connection (the gate answers them on a new
    one): `health.Probes`."""
    deps = deps_of(request)
    probes = Probes(deps.is_ready, deps.service.registry.names, deps.tokens)
    status, body = probes.answer(request.path, request.headers.get("Authorization", ""))
    return json_response(body, status=status)


def build_app(deps: HttpDeps) -> web.Application:
    """The application: every route behind the `observe` middleware."""
    app = web.Application(middlewares=[observe], client_max_size=deps.max_body_bytes)
    app[DEPS] = deps
    app.router.add_get("/", page.try_it_page)
    app.router.add_get("/openapi.json", openapi.document)
    app.router.add_get(HEALTHZ, probe)
    app.router.add_get(READYZ, probe)
    app.router.add_post("/v1/classify", classify)
    app.router.add_post("/v1/classify:batch", classify_batch)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{name}", get_model)
    rasa.add_routes(app)
    return app
