"""Secret files (tokens, TLS keys) and bearer-token checks, shared by every transport."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from pathlib import Path


class SecurityConfigError(ValueError):
    """A certificate or token file is missing, unreadable or empty; the message names it."""


def read_secret(path: Path, what: str) -> bytes:
    """A PEM or token file's bytes; SecurityConfigError naming it when unreadable or empty."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecurityConfigError(f"{what} {path}: cannot read ({exc.strerror})") from None
    if not data.strip():
        raise SecurityConfigError(f"{what} {path} is empty")
    return data


def load_tokens(path: Path) -> tuple[str, ...]:
    """Tokens from a file, one per line; blank lines and `#` comments are skipped."""
    lines = read_secret(path, "token file").decode("utf-8", errors="replace").splitlines()
    tokens = tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    if not tokens:
        raise SecurityConfigError(f"token file {path} holds no token")
    return tokens


def token_matches(presented: str, allowed: Iterable[str]) -> bool:
    """Constant-time comparison against every allowed token (no early exit on a match)."""
    given = presented.encode("utf-8")
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
