"""The OpenAPI 3.1 document served at `/openapi.json`. Message schemas are generated from the
proto's descriptors, so the document and the JSON the server writes cannot drift apart."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from intent_server.http.app import package_version
from intent_server.http.codec import json_response
from intent_server.proto import intent_pb2

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_MESSAGES = (
    intent_pb2.ClassifyIntentRequest,
    intent_pb2.ClassifyIntentBatchRequest,
    intent_pb2.ClassifyIntentResponse,
    intent_pb2.ClassifyIntentBatchResponse,
    intent_pb2.ModelInfo,
)


def _ref(descriptor: Descriptor) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{descriptor.name}"}


def _value_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.enum_type is not None:
        return {"type": "string", "enum": [value.name for value in field.enum_type.values]}
    if field.message_type is not None:
        add_schema(field.message_type, schemas)
        return _ref(field.message_type)
    return dict(_SCALARS.get(field.type, {"type": "string"}))


def _field_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = message.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _value_schema(value, schemas)}
    if field.is_repeated:
        return {"type": "array", "items": _value_schema(field, schemas)}
    return _value_schema(field, schemas)


def add_schema(descriptor: Any, schemas: dict[str, Any]) -> None:
    """The JSON schema of a message (lowerCamelCase names) and of the messages it holds."""
    if descriptor.name in schemas:
        return
    schemas[descriptor.name] = {}  # placed first: a message may refer to itself
    properties = {field.json_name: _field_schema(field, schemas) for field in descriptor.fields}
    schemas[descriptor.name] = {"type": "object", "properties": properties}


def _error_schema() -> dict[str, Any]:
    detail = {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "description": "the HTTP status"},
            "status": {"type": "string", "description": "gRPC's name for it"},
            "message": {"type": "string", "description": "what is wrong and how to fix it"},
            "requestId": {"type": "string", "description": "find the call in the server log"},
        },
    }
    return {"type": "object", "properties": {"error": detail}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str, response: dict[str, Any], request: dict[str, Any] | None = None
) -> dict[str, Any]:
    errors = {
        "400": "invalid request (the message says which field and why)",
        "401": "missing or invalid token",
        "404": "unknown model",
        "413": "request body too large",
        "429": "overloaded: retry later",
        "503": "no model loaded yet, or shutting down",
    }
    responses: dict[str, Any] = {"200": {"description": "OK", **_json(response)}}
    for code, text in errors.items():
        responses[code] = {"description": text, **_json(_ref_name("Error"))}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if request is not None:
        operation["requestBody"] = {"required": True, **_json(request)}
    return operation


def _ref_name(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _rasa_parse() -> dict[str, Any]:
    request = {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string"},
            "message_id": {"type": ["string", "null"]},
            "token": {"type": ["string", "null"]},
        },
    }
    score = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "confidence": {"type": "number"}},
    }
    response = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "intent": score,
            "entities": {"type": "array", "items": {"type": "object"}},
            "intent_ranking": {"type": "array", "items": score},
            "intent_server": {"type": "object", "description": "the decision, reason, familiarity"},
        },
    }
    return _operation(
        "Rasa-compatible parse (out of scope -> the fallback intent)", response, request
    )


def _paths() -> dict[str, Any]:
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    models = {
        "type": "object",
        "properties": {
            "models": {"type": "array", "items": _ref_name("ModelInfo")},
            "defaultModel": {"type": "string"},
        },
    }
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    ready = {
        "200": {"description": "SERVING", **_json(status)},
        "503": {"description": "NOT_SERVING", **_json(status)},
    }
    return {
        "/v1/classify": {
            "post": _operation(
                "Classify one message",
                _ref_name("ClassifyIntentResponse"),
                _ref_name("ClassifyIntentRequest"),
            )
        },
        "/v1/classify:batch": {
            "post": _operation(
                "Classify several messages",
                _ref_name("ClassifyIntentBatchResponse"),
                _ref_name("ClassifyIntentBatchRequest"),
            )
        },
        "/v1/models": {"get": _operation("Every loaded model", models)},
        "/v1/models/{name}": {
            "get": {
                **_operation("One model: labels, thresholds, limits", _ref_name("ModelInfo")),
                "parameters": [name],
            }
        },
        "/model/parse": {"post": _rasa_parse()},
        "/healthz": {
            "get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}
        },
        "/readyz": {"get": {"summary": "Readiness: every model loaded", "responses": ready}},
    }


def build_document(version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for message in _MESSAGES:
        add_schema(message.DESCRIPTOR, schemas)
    schemas["Error"] = _error_schema()
    return {
        "openapi": "3.1.0",
        "info": {"title": "intent-server HTTP/JSON API", "version": version},
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


async def document(request: web.Request) -> web.Response:
    return json_response(build_document(package_version()))
