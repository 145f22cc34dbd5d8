"""Secret files (tokens, TLS keys) and bearer-token checks, shared by every transport."""

from __future__ import annotations

import hmac
import logging
import ssl
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


class SecurityConfigError(ValueError):
    """A certificate or token file is missing, unreadable or empty; the message names it."""


def read_secret(path: Path, what: str, private: bool = False) -> bytes:
    """A PEM or token file's bytes; SecurityConfigError naming it when unreadable or empty.
    A `private` one (a key, tokens) that other users may read is used, with a warning."""
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecurityConfigError(f"{what} {path}: cannot read ({exc.strerror})") from None
    if not data.strip():
        raise SecurityConfigError(f"{what} {path} is empty")
    if private and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s %s can be read by other users of this machine (mode %03o): chmod 600 %s",
            what,
            path,
            stat.S_IMODE(mode),
            path,
        )
    return data


def tls_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server TLS context (client certificates required with `client_ca`); each file is
    checked, so a mistake names the file rather than surfacing later as a bind failure."""
    read_secret(cert, "TLS certificate")
    read_secret(key, "TLS key", private=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise SecurityConfigError(
            f"TLS certificate {cert} and key {key} are not a PEM certificate and its private "
            f"key ({getattr(exc, 'reason', None) or exc})"
        ) from None
    if client_ca is not None:
        read_secret(client_ca, "client CA")
        try:
            context.load_verify_locations(client_ca)
        except (ssl.SSLError, OSError) as exc:
            raise SecurityConfigError(
                f"client CA {client_ca} is not a PEM CA certificate "
                f"({getattr(exc, 'reason', None) or exc})"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def load_tokens(path: Path) -> tuple[str, ...]:
    """Tokens from a file, one per line; blank lines and `#` comments are skipped."""
    lines = (
        read_secret(path, "token file", private=True).decode("utf-8", errors="replace").splitlines()
    )
    tokens = tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    if not tokens:
        raise SecurityConfigError(f"token file {path} holds no token")
    return tokens


def token_matches(presented: str, allowed: Iterable[str]) -> bool:
    """Constant-time comparison against every allowed token (no early exit on a match). A
    token that is not valid Unicode (a lone surrogate from JSON, header bytes that are not
    UTF-8) is compared as its surrogates' bytes, which no valid token has: no match."""
    given = presented.encode("utf-8", "surrogatepass")
    found = False
    for token in allowed:
        found |= hmac.compare_digest(given, token.encode("utf-8"))
    return found


def bearer_value(header: str) -> str:
    """The token of an `authorization` header value `Bearer <token>`, or ""."""
    scheme = "bearer "
    if header[: len(scheme)].lower() == scheme:
        return header[len(scheme) :].strip()
    return ""
