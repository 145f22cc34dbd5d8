"""`/openapi.json` describes every route the server has, and the JSON it really writes."""

from __future__ import annotations

from typing import Any

import pytest

from intent_server.process import IntentServer
from tests.fixtures.http import base_url, http_call


@pytest.fixture(scope="module")
def document(http_server: IntentServer) -> dict[str, Any]:
    reply = http_call(f"{base_url(http_server)}/openapi.json")
    assert reply.status == 200
    body: dict[str, Any] = reply.body
    return body


def test_every_api_route_is_documented(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {
        "/v1/classify",
        "/v1/classify:batch",
        "/v1/models",
        "/v1/models/{name}",
        "/model/parse",
        "/healthz",
        "/readyz",
    }
    errors = document["paths"]["/v1/classify"]["post"]["responses"]
    assert {"200", "400", "401", "404", "413", "429", "503"} <= set(errors)


def _check(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> None:
    """Every key of `value` is declared, with the declared JSON type (a small validator)."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}
    if kind == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif kind in python:
        assert isinstance(value, python[kind]), f"{where}: {value!r} is not {kind}"
    if kind == "object" and "properties" in schema:
        for key, item in value.items():
            assert key in schema["properties"], f"{where}.{key} is not in the schema"
            _check(item, schema["properties"][key], schemas, f"{where}.{key}")
    if kind == "array":
        for index, item in enumerate(value):
            _check(item, schema["items"], schemas, f"{where}[{index}]")
    if "enum" in schema:
        assert value in schema["enum"], where


def test_real_answers_match_the_schemas(
    http_server: IntentServer, document: dict[str, Any]
) -> None:
    url = base_url(http_server)
    schemas = document["components"]["schemas"]
    single = http_call(f"{url}/v1/classify", {"text": "play some jazz", "allIntents": True})
    _check(single.body, {"$ref": "#/ClassifyIntentResponse"}, schemas, "classify")
    batch = http_call(f"{url}/v1/classify:batch", {"texts": ["hi", "what is the capital of peru"]})
    _check(batch.body, {"$ref": "#/ClassifyIntentBatchResponse"}, schemas, "batch")
    info = http_call(f"{url}/v1/models/default")
    _check(info.body, {"$ref": "#/ModelInfo"}, schemas, "model")
    error = http_call(f"{url}/v1/classify", {"text": ""})
    _check(error.body, {"$ref": "#/Error"}, schemas, "error")
