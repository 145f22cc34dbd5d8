"""`UnaryInterceptor`: streaming handlers pass untouched, unary ones run `around`'s behavior,
and `around` returning the behavior itself leaves the handler as it was."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from intent_server.grpc.interceptors import Metadata, UnaryBehavior, UnaryInterceptor


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = (("x-tag", "seven"),)


class Tagging(UnaryInterceptor):
    """Appends the method and a metadata value to the answer; leaves `/skip/...` alone."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def around(self, method: str, metadata: Metadata, behavior: UnaryBehavior) -> UnaryBehavior:
        self.seen.append(method)
        if method.startswith("/skip/"):
            return behavior
        tag = dict(metadata or ())["x-tag"]

        def tagged(request: Any, context: Any) -> Any:
            return f"{behavior(request, context)} {method} {tag!s}"

        return tagged


def test_unary_calls_run_around_the_behavior() -> None:
    base = grpc.unary_unary_rpc_method_handler(lambda request, _context: f"answer {request}")
    handler = Tagging().intercept_service(lambda _details: base, _Details("/svc/Call"))
    assert handler is not None and handler is not base
    assert handler.unary_unary("hi", None) == "answer hi /svc/Call seven"


def test_returning_the_behavior_keeps_the_handler() -> None:
    base = grpc.unary_unary_rpc_method_handler(lambda request, _context: request)
    assert Tagging().intercept_service(lambda _details: base, _Details("/skip/Call")) is base


@pytest.mark.parametrize(
    "streaming",
    [grpc.unary_stream_rpc_method_handler, grpc.stream_unary_rpc_method_handler, None],
)
def test_streaming_and_missing_handlers_pass_untouched(streaming: Any) -> None:
    base = None if streaming is None else streaming(lambda request, _context: iter(()))
    interceptor = Tagging()
    assert interceptor.intercept_service(lambda _details: base, _Details("/svc/Watch")) is base
    assert interceptor.seen == []


def test_around_is_required() -> None:
    with pytest.raises(TypeError, match="around"):
        UnaryInterceptor()
