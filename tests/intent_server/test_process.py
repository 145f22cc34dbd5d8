"""The server process as assembled by `intent_server.process`: listening NOT_SERVING until
the models are loaded, which models `--model all` means, ports that cannot be opened."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from intent_server.client import IntentClient, IntentClientError
from intent_server.config import ServerConfig
from intent_server.grpc.server import SERVICE_NAME
from intent_server.process import IntentServer, ListenError, model_names, running_server
from tests.fixtures.server import example_server_config


def health_status(address: str, service: str = "") -> str:
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def test_health_not_serving_until_model_loaded(exported_example_model: Path) -> None:
    config = example_server_config(exported_example_model)
    with running_server(config, load=False) as server:
        assert health_status(server.address) == "NOT_SERVING"
        assert health_status(server.address, SERVICE_NAME) == "NOT_SERVING"
        with IntentClient(server.address) as client:
            with pytest.raises(IntentClientError) as info:
                client.classify("hello")
            assert info.value.code == grpc.StatusCode.UNAVAILABLE
            assert "no model is loaded" in info.value.details
            server.load_models()
            assert client.health() == "SERVING"
            assert client.health(SERVICE_NAME) == "SERVING"
            assert client.classify("hello").intent == "greeting"


def test_all_means_every_exported_model_default_first(tmp_path: Path) -> None:
    for model in ("support", "default", "sales"):
        (tmp_path / model).mkdir()
    for model in ("support", "default"):  # sales: a model folder without export, skipped
        (tmp_path / model / "current").write_text("v1\n", encoding="utf-8")
    assert model_names(ServerConfig(export_dir=tmp_path, models=("all",))) == [
        "default",
        "support",
    ]
    assert model_names(ServerConfig(export_dir=tmp_path, models=("support",))) == ["support"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other socket holds (bound and listening) for the test's duration."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_taken_grpc_port_is_a_listen_error(tmp_path: Path, taken_port: int) -> None:
    config = ServerConfig(host="127.0.0.1", port=taken_port, export_dir=tmp_path)
    with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{taken_port}"):
        IntentServer(config)


def test_a_taken_http_port_is_a_listen_error(tmp_path: Path, taken_port: int) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, http_port=taken_port, export_dir=tmp_path)
    server = IntentServer(config)
    with pytest.raises(ListenError, match=f"cannot listen for HTTP on 127.0.0.1:{taken_port}"):
        server.start()
