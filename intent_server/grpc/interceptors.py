"""What every server interceptor here does around a unary handler: check it, rewrap it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

import grpc

UnaryBehavior = Callable[[Any, Any], Any]


def is_unary(handler: grpc.RpcMethodHandler | None) -> TypeGuard[grpc.RpcMethodHandler]:
    """True for a unary-unary handler (every RPC here except health Watch)."""
    return handler is not None and not (handler.request_streaming or handler.response_streaming)


def wrap_unary(handler: grpc.RpcMethodHandler, behavior: UnaryBehavior) -> grpc.RpcMethodHandler:
    """The same handler with `behavior` (which calls the original) in its place."""
    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
