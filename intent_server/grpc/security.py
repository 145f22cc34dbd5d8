"""Server-side transport security: TLS / mutual TLS credentials and bearer tokens.

`server_credentials(TlsFiles(...))` for `add_secure_port`, and `TokenAuthInterceptor`
checking `authorization: Bearer <token>` in constant time. The health service stays open so
load balancers and kubelet probes need no secret; admin methods need an admin token (and are
refused outright when none is configured). The client side is `intent_server.client.channel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from intent_server.serving.secrets import bearer_value, read_secret, tls_context, token_matches

HEALTH_PREFIX = "/grpc.health.v1.Health/"
ADMIN_PREFIX = "/intent.v1.Admin/"
AUTH_HEADER = "authorization"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS server; `client_ca` set means mutual TLS (client cert required)."""

    cert: Path
    key: Path
    client_ca: Path | None = None


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """TLS credentials; with `client_ca`, clients must present a certificate it signed."""
    tls_context(files.cert, files.key, files.client_ca)  # names the bad file, if any
    pair = (read_secret(files.key, "TLS key"), read_secret(files.cert, "TLS certificate"))
    if files.client_ca is None:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials(
        [pair],
        root_certificates=read_secret(files.client_ca, "client CA"),
        require_client_auth=True,
    )


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The token of an `authorization: Bearer <token>` header, or ""."""
    for key, value in metadata or ():
        if key.lower() == AUTH_HEADER and isinstance(value, str):
            return bearer_value(value)
    return ""


def _refusing_handler(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    """A handler of the same kind (unary/stream) as `handler` that ends the call with `code`."""

    def deny(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


class AuthDecision(NamedTuple):
    code: grpc.StatusCode | None  # None: allowed
    message: str


class TokenAuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Bearer-token check for every method but health.

    `tokens` guard the classification service (empty: open); `admin_tokens` guard admin
    methods (empty: admin methods are refused, so they are never open by accident).
    Not an `interceptors.UnaryInterceptor`: it refuses a method of any kind, streaming ones
    included, by replacing its handler before the call starts, where that base passes
    streaming handlers through and wraps unary ones.
    """

    def __init__(self, tokens: Sequence[str] = (), admin_tokens: Sequence[str] = ()) -> None:
        self.tokens = tuple(tokens)
        self.admin_tokens = tuple(admin_tokens)

    def decide(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]] | None
    ) -> AuthDecision:
        if method.startswith(HEALTH_PREFIX):
            return AuthDecision(None, "")
        admin = method.startswith(ADMIN_PREFIX)
        allowed = self.admin_tokens if admin else self.tokens
        if admin and not allowed:
            return AuthDecision(
                grpc.StatusCode.PERMISSION_DENIED,
                "admin methods are disabled: start the server with an admin token file",
            )
        if not allowed:
            return AuthDecision(None, "")
        token = bearer_token(metadata)
        if not token:
            return AuthDecision(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing token: send the header 'authorization: Bearer <token>'",
            )
        if not token_matches(token, allowed):
            return AuthDecision(grpc.StatusCode.UNAUTHENTICATED, "invalid token")
        return AuthDecision(None, "")

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        decision = self.decide(
            handler_call_details.method, handler_call_details.invocation_metadata
        )
        if decision.code is None:
            return handler
        return _refusing_handler(handler, decision.code, decision.message)
