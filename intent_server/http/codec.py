"""Request bodies and JSON <-> proto messages, in the proto's JSON mapping (lowerCamelCase
names; the proto's own snake_case names are accepted too), with errors a bot developer can
act on. A body must arrive within `--http-body-timeout` (408 otherwise) and, compressed
(`Content-Encoding: gzip` or `deflate`), is inflated only up to `--max-receive-bytes` (413
beyond: a 1 MB gzip body can hold a gigabyte of zeros)."""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from typing import Any, TypeVar

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message

from intent_server.http.app import deps_of
from intent_server.http.errors import HttpRefusal
from intent_server.http.protocol import connection_of
from intent_server.serving.errors import Cancelled, InvalidArgument
from intent_server.serving.validation import shown

M = TypeVar("M", bound=Message)
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 0}


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The body, inflated when compressed; HttpRefusal 408 when it does not arrive within
    `--http-body-timeout` (the connection is then closed), 413 when it is over
    `--max-receive-bytes` (or inflates to more than `limit`, by default that too), 415 for
    an encoding the server does not read (before reading)."""
    deps = deps_of(request)
    coding = _coding(request.headers.get("Content-Encoding", ""))
    inflated_limit = deps.max_body_bytes if limit is None else limit
    connection = connection_of(request)
    if connection is not None:
        connection.reading_body(True)
    try:
        reading = (
            request.read()
            if coding is None
            else _read_inflated(request, coding, inflated_limit, deps.max_body_bytes)
        )
        return await asyncio.wait_for(reading, deps.body_timeout)
    except asyncio.TimeoutError:
        if connection is not None:
            connection.close_after_response()
        raise HttpRefusal(
            408,
            f"the request body did not arrive within {deps.body_timeout:g} s (--http-body-timeout)",
        ) from None
    except ConnectionError:
        raise Cancelled("the client closed the connection while sending the body") from None
    finally:
        if connection is not None:
            connection.reading_body(False)


def _coding(encoding: str) -> str | None:
    """The body's compression (None: none); 415 for one the server does not read."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding not in _WINDOW_BITS:
        raise HttpRefusal(
            415,
            f"Content-Encoding {shown(encoding)} is not supported: send the body "
            "uncompressed, or as gzip or deflate",
        )
    return coding


async def _read_inflated(request: web.Request, coding: str, limit: int, raw_limit: int) -> bytes:
    """Inflate the body as it arrives and stop at `limit` bytes of output: a 1 MB bomb that
    would inflate to a gigabyte costs the first megabyte only."""
    inflater = zlib.decompressobj(_WINDOW_BITS[coding] or zlib.MAX_WBITS)
    data = bytearray()
    received = 0
    async for chunk in request.content.iter_any():
        received += len(chunk)
        if received > raw_limit:
            raise HttpRefusal(
                413, f"the request body is too large: over {raw_limit} bytes (--max-receive-bytes)"
            )
        try:
            data += inflater.decompress(chunk, limit + 1 - len(data))
        except zlib.error as exc:
            raise InvalidArgument(f"the request body is not valid {coding} data ({exc})") from None
        if len(data) > limit or inflater.unconsumed_tail:
            raise HttpRefusal(
                413,
                f"the request body is too large: it inflates to more than {limit} bytes "
                "(--max-receive-bytes)",
            )
    if not inflater.eof:
        raise InvalidArgument(f"the request body is cut short: incomplete {coding} data")
    return bytes(data)


async def read_json(request: web.Request, limit: int | None = None) -> Any:
    """The parsed body; InvalidArgument naming the problem (and the refusals of
    `read_body`)."""
    body = await read_body(request, limit)
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
    except ValueError:  # the only other: an integer of more than 4,300 digits
        raise InvalidArgument(
            "the request body holds a number with more digits than the server reads "
            f"({sys.get_int_max_str_digits()}): send numbers as JSON numbers of usual size"
        ) from None


def json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidArgument(
            f"the request body must be a JSON object, got {_json_type(data)}: "
            'send {"text": "..."}'
        )
    return data


def client_text(value: str, what: str) -> str:
    """`value`, refused when it cannot be encoded as UTF-8 (a lone surrogate such as
    "\\ud800", which JSON can spell), so it never reaches protobuf or a token check."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        raise InvalidArgument(
            f"{what} is not valid Unicode: it holds a lone surrogate ({bad}) at character "
            f"{exc.start}"
        ) from None
    return value


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
