"""HTTP/JSON uses the gRPC side's tokens and TLS files: bearer tokens on the API (health and
the page stay open), HTTPS with the same certificate, client certificates with mutual TLS."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import pytest

from intent_server.process import running_server
from tests.fixtures.certs import Certs
from tests.fixtures.http import http_call
from tests.fixtures.server import example_server_config


def test_tokens_guard_the_api_but_not_health(exported_example_model: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# bots\nbot-token\n")
    config = example_server_config(exported_example_model, http_port=0, token_file=tokens)
    with running_server(config) as server:
        url = f"http://127.0.0.1:{server.http_port}"
        missing = http_call(f"{url}/v1/classify", {"text": "hi"})
        assert missing.status == 401 and missing.error["status"] == "UNAUTHENTICATED"
        assert "Authorization: Bearer" in missing.error["message"]
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = http_call(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401 and wrong.error["message"] == "invalid token"
        good = http_call(
            f"{url}/v1/classify", {"text": "hi"}, headers={"Authorization": "Bearer bot-token"}
        )
        assert good.status == 200 and good.body["intent"]["name"] == "greeting"
        assert http_call(f"{url}/readyz").status == 200
        assert http_call(f"{url}/").status == 200


def test_https_and_mutual_tls(exported_example_model: Path, certs: Certs) -> None:
    config = example_server_config(
        exported_example_model,
        http_port=0,
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_client_ca=certs.ca,
    )
    with running_server(config) as server:
        url = f"https://localhost:{server.http_port}"
        trusting = ssl.create_default_context(cafile=str(certs.ca))
        # No client certificate: refused, during the handshake or (TLS 1.3) right after it.
        with pytest.raises((OSError, http.client.HTTPException)):
            http_call(f"{url}/v1/classify", {"text": "hi"}, tls=trusting)
        trusting.load_cert_chain(certs.client_cert, certs.client_key)
        reply = http_call(f"{url}/v1/classify", {"text": "hi"}, tls=trusting)
        assert reply.status == 200 and reply.body["intent"]["name"] == "greeting"
