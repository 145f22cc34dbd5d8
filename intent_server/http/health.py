"""What `/healthz` and `/readyz` answer, wherever they are answered: on the gate's thread for
a new connection (`gate.py`, so probes never wait behind the API's event loop), or by the
routes for a request on a kept-alive connection.

`/healthz` is liveness: the process answers. `/readyz` is readiness: 200 `SERVING` once
every model is loaded, 503 `NOT_SERVING` before and while stopping. The model names are
listed only to a caller that could list them anyway (`/v1/models`): every caller without
`--token-file`, else one with a valid `Authorization: Bearer` token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intent_server.serving.secrets import bearer_value, token_matches

HEALTHZ = "/healthz"
READYZ = "/readyz"
PROBE_PATHS = (HEALTHZ, READYZ)


@dataclass(frozen=True)
class Probes:
    """What the probes need to know of the server."""

    is_ready: Callable[[], bool]
    model_names: Callable[[], list[str]]
    tokens: tuple[str, ...] = ()

    def may_see_models(self, authorization: str) -> bool:
        if not self.tokens:
            return True
        token = bearer_value(authorization)
        return bool(token) and token_matches(token, self.tokens)

    def answer(self, path: str, authorization: str = "") -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body of `path` (one of PROBE_PATHS)."""
        if path == HEALTHZ:
            return 200, {"status": "ok"}
        if not self.is_ready():
            return 503, {"status": "NOT_SERVING"}
        body: dict[str, Any] = {"status": "SERVING"}
        if self.may_see_models(authorization):
            body["models"] = self.model_names()
        return 200, body
