"""Rasa compatibility: what Rasa's `RasaNLUHttpInterpreter` sends to `/model/parse` (the same
aiohttp call, the same body) gets back every field Rasa reads, with out of scope mapped to the
fallback intent; `/status` and `/version` answer as Rasa's NLU server does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from intent_server.client import IntentClient
from intent_server.process import IntentServer, running_server
from tests.fixtures.http import base_url, http_call
from tests.fixtures.server import example_server_config


async def rasa_http_parse(url: str, text: str, token: str | None = None) -> Any:
    """Rasa 3's `RasaNLUHttpInterpreter._rasa_http_parse`: the same request, and None on a
    non-200 answer as Rasa treats it."""
    params = {"token": token, "text": text, "message_id": "conversation-7"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/model/parse", json=params) as resp,
    ):
        if resp.status == 200:
            return await resp.json()
        return None


def parse(url: str, text: str, token: str | None = None) -> Any:
    return asyncio.run(rasa_http_parse(url, text, token))


@pytest.fixture(scope="module")
def url(http_server: IntentServer) -> str:
    return base_url(http_server)


def test_in_scope_message_in_rasas_format(http_server: IntentServer, url: str) -> None:
    data = parse(url, "please book a table for two tonight")
    with IntentClient(http_server.address) as client:
        expected = client.classify("please book a table for two tonight")
    assert data["text"] == "please book a table for two tonight"
    assert data["intent"]["name"] == expected.intent == "book_restaurant"
    assert data["intent"]["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
    assert data["entities"] == []
    ranking = data["intent_ranking"]
    assert [r["name"] for r in ranking] == [s.name for s in expected.ranking]
    assert [r["confidence"] for r in ranking] == pytest.approx(
        [s.confidence for s in expected.ranking], abs=1e-6
    )
    assert len(ranking) == 10  # Rasa's ranking length
    assert data["intent_server"]["out_of_scope"] is False
    assert data["intent_server"]["model_version"] == expected.model_version


def test_out_of_scope_answers_nlu_fallback_with_real_ranking(url: str) -> None:
    data = parse(url, "what is the capital of peru")
    assert data["intent"]["name"] == "nlu_fallback"
    assert 0.0 <= data["intent"]["confidence"] <= 1.0
    assert data["intent_server"]["out_of_scope"] is True
    assert data["intent_server"]["out_of_scope_reason"] in {
        "UNFAMILIAR",
        "LOW_CONFIDENCE",
        "AMBIGUOUS",
        "OUT_OF_SCOPE_CLASS",
    }
    scores = [r["confidence"] for r in data["intent_ranking"]]
    assert scores == sorted(scores, reverse=True) and "nlu_fallback" not in {
        r["name"] for r in data["intent_ranking"]
    }


def test_status_and_version(url: str) -> None:
    status = http_call(f"{url}/status").body
    assert status["model_id"] and status["model_file"].startswith("default/")
    assert status["num_active_training_jobs"] == 0
    version = http_call(f"{url}/version").body
    assert version["version"] and version["minimum_compatible_version"]


def test_bad_parse_requests(url: str) -> None:
    missing = http_call(f"{url}/model/parse", {"message_id": "x"})
    assert missing.status == 400 and "text must be a string" in missing.error["message"]
    unknown = http_call(f"{url}/model/parse?model=nope", {"text": "hi"})
    assert unknown.status == 404


def test_fallback_name_and_rasas_token(exported_example_model: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("s3cret\n")
    config = example_server_config(
        exported_example_model, http_port=0, token_file=tokens, fallback_intent="out_of_domain"
    )
    with running_server(config) as server:
        url = base_url(server)
        assert parse(url, "hello", token=None) is None  # Rasa sees a failed parse
        refused = http_call(f"{url}/model/parse", {"text": "hello", "token": "wrong"})
        assert refused.status == 401 and refused.error["message"] == "invalid token"
        assert parse(url, "hello", token="s3cret")["intent"]["name"] == "greeting"
        by_query = http_call(
            f"{url}/model/parse?token=s3cret", {"text": "what is the capital of peru"}
        )
        assert by_query.body["intent"]["name"] == "out_of_domain"
        header = {"Authorization": "Bearer s3cret"}
        assert http_call(f"{url}/model/parse", {"text": "hi"}, headers=header).status == 200
        assert http_call(f"{url}/status").status == 401
        assert http_call(f"{url}/version").status == 200  # open, as Rasa's is
