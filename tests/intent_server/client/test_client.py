"""The typed client: proto -> dataclass conversion, errors, reflection on a real server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from intent_server.client import Classification, IntentClient, IntentClientError
from intent_server.grpc.server import SERVICE_NAME
from intent_server.process import IntentServer, running_server
from intent_server.proto import intent_pb2
from tests.fixtures.server import example_server_config


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (intent_pb2.OUT_OF_SCOPE_REASON_UNSPECIFIED, ""),
        (intent_pb2.OUT_OF_SCOPE_REASON_LOW_CONFIDENCE, "low_confidence"),
        (intent_pb2.OUT_OF_SCOPE_REASON_AMBIGUOUS, "ambiguous"),
        (intent_pb2.OUT_OF_SCOPE_REASON_OUT_OF_SCOPE_CLASS, "out_of_scope_class"),
    ],
)
def test_reason_names(reason: intent_pb2.OutOfScopeReason, expected: str) -> None:
    message = intent_pb2.ClassifyIntentResponse(out_of_scope_reason=reason)
    assert Classification.from_proto(message).reason == expected


def test_client_round_trip_and_errors(intent_server: IntentServer) -> None:
    with IntentClient(intent_server.address, timeout=30) as client:
        result = client.classify("set a timer for ten minutes", top_k=2)
        assert result.intent == "set_timer" and len(result.ranking) == 2
        assert result.top_intent.name == "set_timer"
        batch = client.classify_batch(["hello", "thank you so much"], top_k=1)
        assert [r.intent for r in batch] == ["greeting", "thanks"]
        with pytest.raises(IntentClientError) as info:
            client.classify_batch([])
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert str(info.value).startswith("INVALID_ARGUMENT: texts is empty")


def test_reflection_lists_the_service_when_enabled(exported_example_model: Path) -> None:
    config = example_server_config(exported_example_model, reflection=True)
    with running_server(config) as server, grpc.insecure_channel(server.address) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert SERVICE_NAME in services and "grpc.health.v1.Health" in services
