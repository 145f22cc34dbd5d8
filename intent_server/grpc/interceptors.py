"""`UnaryInterceptor`: the base of the server interceptors that run code around a unary call.

Every RPC of this server is unary except health Watch, which these interceptors pass through
untouched. The bearer-token interceptor (`security.py`) is not one of them: it must refuse
streaming methods too, so it replaces handlers of every kind instead of wrapping unary ones.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard

import grpc

UnaryBehavior = Callable[[Any, Any], Any]
Metadata = Sequence[tuple[str, str | bytes]] | None


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


class UnaryInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Resolves the handler, passes streaming ones through, and puts `around`'s behavior in
    place of a unary one."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if not is_unary(handler):
            return handler
        behavior = handler.unary_unary
        wrapped = self.around(
            handler_call_details.method, handler_call_details.invocation_metadata, behavior
        )
        return handler if wrapped is behavior else wrap_unary(handler, wrapped)

    @abc.abstractmethod
    def around(self, method: str, metadata: Metadata, behavior: UnaryBehavior) -> UnaryBehavior:
        """What runs instead of `behavior` (and calls it) for a call of `method`; `behavior`
        itself leaves the call as it is."""
