"""JSON bodies <-> proto messages, in the proto's JSON mapping (lowerCamelCase names; the
proto's own snake_case names are accepted too), with errors a bot developer can act on."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message

from intent_server.serving.errors import InvalidArgument

M = TypeVar("M", bound=Message)


async def read_json(request: web.Request) -> Any:
    """The parsed body; InvalidArgument naming the problem (aiohttp refuses oversized bodies
    with 413 before this returns)."""
    body = await request.read()
    if not body.strip():
        raise InvalidArgument(
            'the request body is empty: send a JSON object such as {"text": "hi"}'
        )
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"the request body is not valid UTF-8 (byte {exc.start}): send JSON encoded as UTF-8"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidArgument("the request body nests too deeply") from None


def json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidArgument(
            f"the request body must be a JSON object, got {_json_type(data)}: "
            'send {"text": "..."}'
        )
    return data


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def to_message(data: Any, message_type: type[M]) -> M:
    """A request message from parsed JSON; unknown fields and wrong types are refused."""
    message = message_type()
    try:
        json_format.ParseDict(json_object(data), message)
    except json_format.ParseError as exc:
        raise InvalidArgument(_parse_error_text(str(exc))) from None
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidArgument(
            f"the request body has a value the server cannot use: {exc}"
        ) from None
    return message


def _parse_error_text(text: str) -> str:
    """protobuf's message, first line only, without the proto package's type names."""
    first = text.splitlines()[0].strip().rstrip(".")
    return first.replace('Message type "intent.v1.', 'message "').replace(
        "Failed to parse", "cannot read"
    )


def to_json(message: Message) -> dict[str, Any]:
    """The proto's JSON mapping; fields at their default value are written too."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False),
        content_type="application/json",
    )
