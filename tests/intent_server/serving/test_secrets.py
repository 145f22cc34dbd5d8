"""Secret files: loose permissions are warned about, bad PEM files are named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from intent_server.serving.secrets import SecurityConfigError, load_tokens, tls_context
from tests.fixtures.certs import Certs


def test_a_token_file_others_can_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("bot-token\n")
    tokens.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert load_tokens(tokens) == ("bot-token",)
    assert f"can be read by other users of this machine (mode 644): chmod 600 {tokens}" in (
        caplog.text
    )
    caplog.clear()
    tokens.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        load_tokens(tokens)
    assert not caplog.records


def test_tls_files_are_checked_and_named(certs: Certs, tmp_path: Path) -> None:
    tls_context(certs.server_cert, certs.server_key, certs.ca)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(SecurityConfigError, match=f"TLS certificate {garbage} and key"):
        tls_context(garbage, certs.server_key)
    with pytest.raises(SecurityConfigError, match="not a PEM certificate and its private key"):
        tls_context(certs.server_cert, certs.client_key)  # a key of another certificate
    with pytest.raises(SecurityConfigError, match=f"client CA {garbage} is not a PEM CA"):
        tls_context(certs.server_cert, certs.server_key, garbage)
