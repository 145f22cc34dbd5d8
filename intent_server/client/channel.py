"""Client channels: plaintext or TLS / mutual TLS, with an optional bearer token.

`BearerTokenInterceptor` adds `authorization: Bearer <token>` to every call; it works on
plain and TLS channels alike, unlike grpc's access-token call credentials, which need TLS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from intent_server.grpc.security import AUTH_HEADER
from intent_server.serving.secrets import SecurityConfigError, read_secret


def channel_credentials(
    ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> grpc.ChannelCredentials:
    """Client TLS: trust `ca` (None = system roots); `cert` + `key` for mutual TLS."""
    if (cert is None) != (key is None):
        raise SecurityConfigError("a client certificate needs its key, and a key its certificate")
    return grpc.ssl_channel_credentials(
        root_certificates=None if ca is None else read_secret(ca, "CA certificate"),
        private_key=None if key is None else read_secret(key, "TLS key", private=True),
        certificate_chain=None if cert is None else read_secret(cert, "TLS certificate"),
    )


class _ClientCallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: Any


class BearerTokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds `authorization: Bearer <token>` to every call of a channel.

    channel = grpc.intercept_channel(grpc.insecure_channel(target), BearerTokenInterceptor(t))
    """

    def __init__(self, token: str) -> None:
        self._header = (AUTH_HEADER, f"Bearer {token}")

    def _details(self, details: Any) -> _ClientCallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return _ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def secure_channel(
    target: str,
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    token: str = "",
    tls: bool | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    """A channel with TLS when `tls` (default: when any TLS file is given) and a bearer token."""
    use_tls = tls if tls is not None else any(p is not None for p in (ca, cert, key))
    if use_tls:
        channel = grpc.secure_channel(target, channel_credentials(ca, cert, key), options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    if token:
        channel = grpc.intercept_channel(channel, BearerTokenInterceptor(token))
    return channel
