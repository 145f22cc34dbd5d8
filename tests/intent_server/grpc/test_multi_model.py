"""Several models in one server (`--model all`): the request's `model` picks one, health per
model, reloading one leaves the others alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from intent_server.client import IntentClient, IntentClientError
from intent_server.client.channel import secure_channel
from intent_server.grpc.server import model_health_name
from intent_server.process import IntentServer, running_server
from intent_server.proto import intent_pb2, intent_pb2_grpc
from tests.fixtures.export import add_model
from tests.fixtures.server import example_server_config


@pytest.fixture(scope="module")
def export_dir(exported_example_version: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    export_dir = tmp_path_factory.mktemp("multi") / "exported"
    add_model(export_dir, exported_example_version, "support", "s1")
    add_model(export_dir, exported_example_version, "default", "d1")
    add_model(export_dir, exported_example_version, "sales", "a1")
    (export_dir / "sales" / "current").unlink()  # a model folder without export: skipped
    return export_dir


@pytest.fixture(scope="module")
def server(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IntentServer]:
    tokens = tmp_path_factory.mktemp("tokens") / "admin"
    tokens.write_text("root-token\n", encoding="utf-8")
    config = example_server_config(export_dir, models=("all",), admin_token_file=tokens)
    with running_server(config) as server:
        yield server


def test_model_field_picks_the_model(server: IntentServer) -> None:
    with IntentClient(server.address, timeout=30) as client:
        default = client.classify("set an alarm for 7")
        support = client.classify("set an alarm for 7", model="support")
        assert (default.model, default.model_version) == ("default", "d1")
        assert (support.model, support.model_version) == ("support", "s1")
        assert support.intent == default.intent == "set_alarm"
        batch = client.classify_batch(["hello", "thanks"], model="support")
        assert {r.model_version for r in batch} == {"s1"}
        info = client.model_info("support")
        assert (info.name, info.version) == ("support", "s1")
        assert info.available_models == ("default", "support")
        with pytest.raises(IntentClientError) as error:
            client.classify("hi", model="sales")
        assert error.value.code == grpc.StatusCode.NOT_FOUND
        assert "available models: default, support" in error.value.details


def test_health_per_model(server: IntentServer) -> None:
    with IntentClient(server.address, timeout=30) as client:
        assert client.health() == "SERVING"
        assert client.health(model_health_name("default")) == "SERVING"
        assert client.health(model_health_name("support")) == "SERVING"
        with pytest.raises(IntentClientError) as error:
            client.health(model_health_name("sales"))
        assert error.value.code == grpc.StatusCode.NOT_FOUND  # grpc health: unknown service


def test_reloading_one_model_leaves_the_other(server: IntentServer, export_dir: Path) -> None:
    add_model(export_dir, export_dir / "support" / "s1", "support", "s2")
    with secure_channel(server.address, token="root-token") as channel:
        admin = intent_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        response = admin.ReloadModels(
            intent_pb2.ReloadModelsRequest(models=["support"]), timeout=60
        )
    [result] = response.results
    assert (result.model, result.outcome, result.serving_version) == ("support", "swapped", "s2")
    with IntentClient(server.address, timeout=30) as client:
        assert client.classify("hello", model="support").model_version == "s2"
        assert client.classify("hello").model_version == "d1"
