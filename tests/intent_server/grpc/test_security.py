"""TLS, mutual TLS and bearer tokens on a real gRPC server with the real model (certificates
from the `certs` fixture, tests/fixtures/certs.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from intent_server.client import IntentClient
from intent_server.client.channel import secure_channel
from intent_server.client.cli import main as client_main
from intent_server.grpc.security import (
    TlsFiles,
    TokenAuthInterceptor,
    bearer_token,
    server_credentials,
)
from intent_server.grpc.servicer import IntentServicer
from intent_server.proto import intent_pb2, intent_pb2_grpc
from intent_server.serving.registry import ModelRegistry
from intent_server.serving.secrets import SecurityConfigError, load_tokens, token_matches
from intent_server.serving.validation import Limits
from tests.fixtures.certs import Certs

TOKEN = "s3cret-token-for-tests"
StartServer = Callable[..., int]


@pytest.fixture
def start(example_registry: ModelRegistry) -> Iterator[StartServer]:
    """Factory: a real server with optional TLS files and token interceptor; returns its port."""
    servers: list[grpc.Server] = []

    def start(tls: TlsFiles | None = None, tokens: Sequence[str] = ()) -> int:
        interceptors = [TokenAuthInterceptor(tokens)] if tokens else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=interceptors)
        intent_pb2_grpc.add_IntentClassifierServicer_to_server(  # type: ignore[no-untyped-call]
            IntentServicer(example_registry, Limits()), server
        )
        health_servicer = health.HealthServicer()
        health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        address = "localhost:0"
        port: int = (
            server.add_secure_port(address, server_credentials(tls))
            if tls
            else server.add_insecure_port(address)
        )
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(0)


def classify(channel: grpc.Channel, text: str = "set an alarm for 7") -> str:
    stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]
    response = stub.ClassifyIntent(intent_pb2.ClassifyIntentRequest(text=text), timeout=10)
    return str(response.intent.name)


def health_status(channel: grpc.Channel) -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def rpc_code(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        classify(channel)
    code: grpc.StatusCode = info.value.code()
    return code


def test_tls_server_answers_tls_client_and_refuses_plain_client(
    start: StartServer, certs: Certs
) -> None:
    port = start(TlsFiles(certs.server_cert, certs.server_key))
    with secure_channel(f"localhost:{port}", ca=certs.ca) as channel:
        assert classify(channel) == "set_alarm"
    with grpc.insecure_channel(f"localhost:{port}") as channel:
        assert rpc_code(channel) == grpc.StatusCode.UNAVAILABLE
    # A client that trusts another CA refuses the server's certificate.
    with secure_channel(f"localhost:{port}", ca=certs.other_ca) as channel:
        assert rpc_code(channel) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate(start: StartServer, certs: Certs) -> None:
    files = TlsFiles(certs.server_cert, certs.server_key, client_ca=certs.ca)
    port = start(files)
    target = f"localhost:{port}"
    with secure_channel(
        target, ca=certs.ca, cert=certs.client_cert, key=certs.client_key
    ) as channel:
        assert classify(channel) == "set_alarm"
    with secure_channel(target, ca=certs.ca) as channel:
        assert rpc_code(channel) == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(target) as channel:
        assert rpc_code(channel) == grpc.StatusCode.UNAVAILABLE


def test_tokens_wrong_or_missing_are_unauthenticated_health_stays_open(start: StartServer) -> None:
    port = start(tokens=[TOKEN, "second-token"])
    target = f"127.0.0.1:{port}"
    with secure_channel(target, token=TOKEN) as channel:
        assert classify(channel) == "set_alarm"
    with secure_channel(target, token="second-token") as channel:
        assert classify(channel) == "set_alarm"
    for wrong in ("nope", TOKEN + "x", TOKEN[:-1]):
        with secure_channel(target, token=wrong) as channel:
            assert rpc_code(channel) == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            classify(channel)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "authorization: Bearer" in info.value.details()
        assert health_status(channel) == "SERVING"  # probes need no token


def test_token_over_tls(start: StartServer, certs: Certs) -> None:
    port = start(TlsFiles(certs.server_cert, certs.server_key), tokens=[TOKEN])
    with secure_channel(f"localhost:{port}", ca=certs.ca, token=TOKEN) as channel:
        assert classify(channel) == "set_alarm"
    with secure_channel(f"localhost:{port}", ca=certs.ca, token="bad") as channel:
        assert rpc_code(channel) == grpc.StatusCode.UNAUTHENTICATED


def test_admin_methods_need_an_admin_token() -> None:
    meta = [("authorization", f"Bearer {TOKEN}")]
    closed = TokenAuthInterceptor(tokens=[TOKEN])
    assert closed.decide("/intent.v1.Admin/Reload", meta).code == grpc.StatusCode.PERMISSION_DENIED
    admin = TokenAuthInterceptor(tokens=[TOKEN], admin_tokens=["root"])
    assert admin.decide("/intent.v1.Admin/Reload", meta).code == grpc.StatusCode.UNAUTHENTICATED
    assert admin.decide("/intent.v1.Admin/Reload", [("authorization", "Bearer root")]).code is None
    open_server = TokenAuthInterceptor()
    assert open_server.decide("/intent.v1.IntentClassifier/ClassifyIntent", None).code is None
    assert open_server.decide("/grpc.health.v1.Health/Check", None).code is None


def test_token_helpers(tmp_path: Path) -> None:
    assert bearer_token([("authorization", "Bearer abc ")]) == "abc"
    assert bearer_token([("Authorization", "bearer abc")]) == "abc"
    assert bearer_token([("authorization", "Basic abc")]) == ""
    assert bearer_token(None) == ""
    assert token_matches("abc", ["x", "abc"]) and not token_matches("ab", ["abc"])
    assert not token_matches("", ["abc"])
    path = tmp_path / "tokens"
    path.write_text("# bots\none\n\n two \n", encoding="utf-8")
    assert load_tokens(path) == ("one", "two")
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SecurityConfigError, match="holds no token"):
        load_tokens(path)
    with pytest.raises(SecurityConfigError, match="cannot read"):
        load_tokens(tmp_path / "missing")
    with pytest.raises(SecurityConfigError, match="cannot read"):
        server_credentials(TlsFiles(tmp_path / "no.pem", tmp_path / "no.key"))


def test_server_options_enable_mutual_tls_and_tokens(
    exported_example_model: Path, certs: Certs, tmp_path: Path
) -> None:
    from intent_server.process import running_server
    from tests.fixtures.server import example_server_config

    token_file = tmp_path / "tokens"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    config = example_server_config(
        exported_example_model,
        host="localhost",
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_client_ca=certs.ca,
        token_file=token_file,
    )
    with running_server(config) as server:

        def mtls(token: str) -> grpc.Channel:
            cert, key = certs.client_cert, certs.client_key
            return secure_channel(server.address, token=token, ca=certs.ca, cert=cert, key=key)

        with mtls(TOKEN) as channel:
            assert classify(channel) == "set_alarm"
            assert health_status(channel) == "SERVING"
        with mtls("wrong") as channel:
            assert rpc_code(channel) == grpc.StatusCode.UNAUTHENTICATED
        with secure_channel(server.address, token=TOKEN, ca=certs.ca) as channel:
            assert rpc_code(channel) == grpc.StatusCode.UNAVAILABLE  # no client certificate
        with grpc.insecure_channel(server.address) as channel:
            assert rpc_code(channel) == grpc.StatusCode.UNAVAILABLE  # plaintext vs TLS
        with IntentClient(
            server.address, token=TOKEN, ca=certs.ca, cert=certs.client_cert, key=certs.client_key
        ) as client:
            assert client.classify("set an alarm for 7").intent == "set_alarm"
        tls_args = ["--tls-ca", str(certs.ca), "--tls-cert", str(certs.client_cert)]
        tls_args += ["--tls-key", str(certs.client_key), "--target", server.address]
        token_path = tmp_path / "client-token"
        token_path.write_text(TOKEN + "\n", encoding="utf-8")
        assert client_main(["health", *tls_args]) == 0  # health needs no token
        assert client_main(["classify", "hi", *tls_args, "--token-file", str(token_path)]) == 0
        assert client_main(["classify", "hi", *tls_args]) == 1  # UNAUTHENTICATED
        assert client_main(["health", "--tls-cert", str(certs.client_cert)]) == 2  # no key


def test_admin_without_tls_is_warned_about(
    exported_example_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from intent_server.process import IntentServer
    from tests.fixtures.server import example_server_config

    admin = tmp_path / "admin-tokens"
    admin.write_text("root\n")
    admin.chmod(0o600)
    config = example_server_config(exported_example_model, admin_token_file=admin)
    with caplog.at_level(logging.WARNING):
        server = IntentServer(config)
        server.stop(grace=0)
    assert "Admin service (model reloads) is on without TLS" in caplog.text


def test_tokens_refuse_streaming_methods_too() -> None:
    """Unlike the `UnaryInterceptor`s, the token check replaces streaming handlers as well."""
    streaming = grpc.unary_stream_rpc_method_handler(lambda _request, _context: iter(()))
    interceptor = TokenAuthInterceptor(tokens=[TOKEN])

    def resolve(method: str) -> grpc.RpcMethodHandler:
        details = SimpleNamespace(method=method, invocation_metadata=())
        return interceptor.intercept_service(lambda _details: streaming, details)

    refused = resolve("/intent.v1.IntentClassifier/Stream")
    assert refused is not streaming and refused.response_streaming
    assert resolve("/grpc.health.v1.Health/Watch") is streaming
