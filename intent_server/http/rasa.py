"""Rasa's NLU server endpoints, so a Rasa assistant can point `endpoints.yml` (`nlu: url:`)
at this server: `POST /model/parse`, `GET /status`, `GET /version`.

Rasa's `RasaNLUHttpInterpreter` posts `{"text", "message_id", "token"}` and reads `intent`
(`name`, `confidence`), `entities` and `text` back. Out of scope answers the fallback intent
(`--fallback-intent`, Rasa's `nlu_fallback` by default); `intent_ranking` holds the model's
real probabilities; `entities` are Rasa's entity dicts (`entity`, `start`, `end`,
`confidence_entity`, `value`, `extractor`, and `role`, `group`, `processors` when set, as
Rasa writes them), empty for a model without entity annotations. The server's own view of
the decision is under `intent_server`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from intent_server.http.app import (
    MISSING_TOKEN,
    check_token,
    deps_of,
    has_token_outside_body,
    package_version,
    run_admitted,
)
from intent_server.http.codec import client_text, json_object, json_response, read_json
from intent_server.http.errors import Unauthenticated
from intent_server.proto import intent_pb2
from intent_server.serving.errors import InvalidArgument


def _reason_name(reason: int) -> str:
    return intent_pb2.OutOfScopeReason.Name(reason).removeprefix("OUT_OF_SCOPE_REASON_")


def _score(name: str, confidence: float) -> dict[str, Any]:
    # The model computes in float32: 8 significant digits say all it knows.
    return {"name": name, "confidence": float(f"{confidence:.8g}")}


def rasa_entity(found: intent_pb2.Entity) -> dict[str, Any]:
    """One entity as Rasa's extractors write it (keys absent rather than null)."""
    out: dict[str, Any] = {
        "entity": found.entity,
        "start": found.start,
        "end": found.end,
        "confidence_entity": float(f"{found.confidence:.8g}"),
        "value": found.value,
        "extractor": found.extractor,
    }
    if found.HasField("role"):
        out["role"] = found.role
    if found.HasField("group"):
        out["group"] = found.group
    if found.processors:
        out["processors"] = list(found.processors)
    return out


def to_rasa(
    text: str, response: intent_pb2.ClassifyIntentResponse, fallback: str
) -> dict[str, Any]:
    """A classification in Rasa's parse format."""
    intent = fallback if response.out_of_scope else response.intent.name
    extra: dict[str, Any] = {
        "model": response.model,
        "model_version": response.model_version,
        "out_of_scope": response.out_of_scope,
        "out_of_scope_reason": _reason_name(response.out_of_scope_reason),
        "top_intent": {
            "name": response.top_intent.name,
            "confidence": response.top_intent.confidence,
        },
        "truncated": response.truncated,
    }
    if response.HasField("familiarity"):
        extra["familiarity"] = float(f"{response.familiarity:.8g}")
    return {
        "text": text,
        "intent": _score(intent, response.intent.confidence),
        "entities": [rasa_entity(found) for found in response.entities],
        "intent_ranking": [_score(score.name, score.confidence) for score in response.ranking],
        "intent_server": extra,
    }


def _text_field(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str):
        got = "missing" if text is None else f"a {type(text).__name__}"
        raise InvalidArgument(f'text must be a string, got {got}: send {{"text": "..."}}')
    return client_text(text, "text")


async def _authorised_body(request: web.Request) -> dict[str, Any]:
    """The body, read only once the caller is known to be allowed or may still be: a token in
    the header or `?token=` is checked before the body is read; a token in the body (where
    Rasa sends it) is looked for only in a body of at most `--http-max-token-body-bytes`."""
    deps = deps_of(request)
    if not deps.tokens or has_token_outside_body(request):
        check_token(request, request.query.get("token"))
        return json_object(await read_json(request))
    size = request.content_length
    if size is None or size > deps.token_body_bytes:
        raise Unauthenticated(
            f"{MISSING_TOKEN} or ?token= (a token in the body is read only from bodies of "
            f"at most {deps.token_body_bytes} bytes, --http-max-token-body-bytes)"
        )
    body = json_object(await read_json(request, limit=deps.token_body_bytes))
    token = body.get("token")
    check_token(request, client_text(token, "token") if isinstance(token, str) else None)
    return body


async def parse(request: web.Request) -> web.Response:
    """`POST /model/parse`: Rasa's parse format. The token may come as `?token=`, in the body
    (as Rasa's interpreter sends it) or as `Authorization: Bearer`; `?model=` picks a model."""
    body = await _authorised_body(request)
    text = _text_field(body)
    model = client_text(request.query.get("model", ""), "model")
    # top_k 0 ranks min(10, labels) intents: Rasa's own ranking length is 10.
    message = intent_pb2.ClassifyIntentRequest(text=text, model=model)
    deps = deps_of(request)
    response = await run_admitted(request, lambda call: deps.service.classify(message, call))
    return json_response(to_rasa(text, response, deps.fallback_intent))


async def status(request: web.Request) -> web.Response:
    """`GET /status`: the default model, as Rasa's server reports its loaded model."""
    check_token(request, request.query.get("token"))
    service = deps_of(request).service
    info = service.model_info(intent_pb2.GetModelInfoRequest())
    return json_response(
        {
            "model_file": f"{info.name}/{info.version}",
            "model_id": info.version,
            "num_active_training_jobs": 0,
        }
    )


async def version(request: web.Request) -> web.Response:
    """`GET /version` (open, as Rasa's is)."""
    ours = package_version()
    return json_response(
        {"version": ours, "minimum_compatible_version": ours, "server": "intent-server"}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/model/parse", parse)
    app.router.add_get("/status", status)
    app.router.add_get("/version", version)
