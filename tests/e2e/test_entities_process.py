"""Entities from a real server process: a bot trained on entity annotations and a bot
without them, exported by the real exporter, served side by side over gRPC, `/v1/classify`
and Rasa's `/model/parse`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intent_server.client import IntentClient
from intent_server.core.exports import resolve_current
from tests.fixtures.export import link_copy
from tests.fixtures.http import http_call
from tests.fixtures.server import ServerProcess

# Extra spaces, upper case with an accent, an emoji before and after the entities.
MESSAGE = "  What's the weather in   MÁLAGA 🌧️ tomorrow ?"


@pytest.fixture(scope="module")
def both_bots(
    exported_entity_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """`default`: the bot without entities (`plain`), `slots`: the bot with them."""
    export_dir = tmp_path_factory.mktemp("both")
    link_copy(resolve_current(exported_entity_model, "plain"), export_dir, "default")
    link_copy(resolve_current(exported_entity_model, "slots"), export_dir, "slots")
    server = ServerProcess(
        [
            "--port",
            "0",
            "--http-port",
            "0",
            "--export-dir",
            str(export_dir),
            "--model",
            "default,slots",
        ],
        dict(os.environ),
    )
    server.wait_serving()
    yield server
    server.terminate()


def latest_entity_values(
    entities: list[dict[str, Any]], entity: str, role: str | None = None, group: str | None = None
) -> list[Any]:
    """Rasa 3's `DialogueStateTracker.get_latest_entity_values`, which fills a `from_entity`
    slot: `x.get("entity") == type and x.get("group") == group and x.get("role") == role`."""
    return [
        x.get("value")
        for x in entities
        if x.get("entity") == entity and x.get("group") == group and x.get("role") == role
    ]


def test_grpc_answers_entities_at_the_characters_of_the_message(both_bots: ServerProcess) -> None:
    with IntentClient(both_bots.address) as client:
        result = client.classify(MESSAGE, model="slots")
        plain = client.classify(MESSAGE, model="default")
    assert result.intent == "weather"
    found = {(e.entity, e.value) for e in result.entities}
    assert ("city", "MÁLAGA") in found and ("date", "tomorrow") in found, result.entities
    for entity in result.entities:
        assert MESSAGE[entity.start : entity.end] == entity.value
        assert entity.extractor == "EntityHead" and 0 < entity.confidence <= 1
    assert plain.entities == ()


def test_roles_synonyms_and_regexes(both_bots: ServerProcess) -> None:
    with IntentClient(both_bots.address) as client:
        flight = client.classify("fly from Lisbon to Tokyo", model="slots")
        nyc = client.classify("what's the weather in NYC today", model="slots")
        booking = client.classify("check my booking ZQ9876", model="slots")
    roles = {(e.value, e.role) for e in flight.entities if e.entity == "city"}
    assert roles == {("Lisbon", "from"), ("Tokyo", "to")}, flight.entities
    city = [e for e in nyc.entities if e.entity == "city"]
    assert [(e.value, e.processors) for e in city] == [("New York", ("EntitySynonymMapper",))]
    assert "what's the weather in NYC today"[city[0].start : city[0].end] == "NYC"
    ref = [e for e in booking.entities if e.entity == "booking_ref"]
    assert [(e.value, e.extractor, e.confidence) for e in ref] == [
        ("ZQ9876", "RegexEntityExtractor", 1.0)
    ]


def test_http_classify_and_rasa_parse(both_bots: ServerProcess) -> None:
    url = f"http://127.0.0.1:{both_bots.http_port}"
    reply = http_call(f"{url}/v1/classify", {"text": MESSAGE, "model": "slots"})
    assert reply.status == 200
    for entity in reply.body["entities"]:
        assert MESSAGE[entity["start"] : entity["end"]] == entity["value"]
    # What Rasa's RasaNLUHttpInterpreter posts, and what its tracker reads back.
    parse = http_call(
        f"{url}/model/parse?model=slots",
        {"text": "fly from Lisbon to Tokyo", "message_id": "abc123"},
    )
    assert parse.status == 200
    entities = parse.body["entities"]
    assert latest_entity_values(entities, "city", role="from") == ["Lisbon"]
    assert latest_entity_values(entities, "city", role="to") == ["Tokyo"]
    for entity in entities:
        assert {"entity", "start", "end", "value", "confidence_entity", "extractor"} <= set(entity)
        assert type(entity["start"]) is int and type(entity["end"]) is int
        assert "group" not in entity and "processors" not in entity
    synonym = http_call(f"{url}/model/parse?model=slots", {"text": "weather in NYC today"})
    city = [e for e in synonym.body["entities"] if e["entity"] == "city"]
    assert latest_entity_values(city, "city") == ["New York"]
    assert city[0]["processors"] == ["EntitySynonymMapper"]
    plain = http_call(f"{url}/model/parse", {"text": MESSAGE})
    assert plain.body["entities"] == []
    assert "entities" not in http_call(f"{url}/v1/classify", {"text": MESSAGE}).body or (
        http_call(f"{url}/v1/classify", {"text": MESSAGE}).body["entities"] == []
    )
