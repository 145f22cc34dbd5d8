"""The `/v1` HTTP/JSON API on a real server: the same answers as gRPC, the proto's JSON names,
health, models, and every error as a JSON body with the gRPC-matching HTTP code."""

from __future__ import annotations

import pytest

from intent_server.client import IntentClient
from intent_server.process import IntentServer, running_server
from tests.fixtures.http import base_url, http_call
from tests.fixtures.server import example_server_config


@pytest.fixture(scope="module")
def url(http_server: IntentServer) -> str:
    return base_url(http_server)


def test_classify_answers_what_grpc_answers(http_server: IntentServer, url: str) -> None:
    request = {"text": "book me a flight to Oslo", "allIntents": True}
    reply = http_call(f"{url}/v1/classify", request)
    assert reply.status == 200
    body = reply.body
    with IntentClient(http_server.address) as client:
        expected = client.classify("book me a flight to Oslo", all_intents=True)
    assert body["intent"]["name"] == expected.intent == "book_flight"
    assert body["outOfScope"] is False
    assert body["outOfScopeReason"] == "OUT_OF_SCOPE_REASON_UNSPECIFIED"
    assert body["model"] == "default" and body["modelVersion"] == expected.model_version
    assert body["familiarity"] == pytest.approx(expected.familiarity, abs=1e-6)
    ranking = {score["name"]: score["confidence"] for score in body["ranking"]}
    assert ranking == pytest.approx({s.name: s.confidence for s in expected.ranking}, abs=1e-6)
    assert list(ranking) == [score.name for score in expected.ranking]
    assert reply.headers["x-request-id"]


def test_out_of_scope_is_reported_with_its_reason(url: str) -> None:
    body = http_call(f"{url}/v1/classify", {"text": "what is the capital of peru"}).body
    assert body["outOfScope"] is True
    assert body["intent"]["name"] == "out_of_scope"
    assert body["outOfScopeReason"].startswith("OUT_OF_SCOPE_REASON_")
    assert body["outOfScopeReason"] != "OUT_OF_SCOPE_REASON_UNSPECIFIED"
    assert body["topIntent"]["name"]


def test_batch_keeps_order_and_snake_case_names_are_accepted(url: str) -> None:
    reply = http_call(f"{url}/v1/classify:batch", {"texts": ["hello there", "bye bye"], "top_k": 1})
    assert reply.status == 200
    results = reply.body["results"]
    assert [r["intent"]["name"] for r in results] == ["greeting", "goodbye"]
    assert all(len(r["ranking"]) == 1 for r in results)


def test_models_and_one_model(url: str) -> None:
    listing = http_call(f"{url}/v1/models").body
    assert listing["defaultModel"] == "default"
    (info,) = listing["models"]
    assert "book_flight" in info["labels"]
    assert info["thresholds"]["familiarity"] > 0
    assert info["maxTextBytes"] == 2048 and info["maxBatchTexts"] == 64
    one = http_call(f"{url}/v1/models/default").body
    assert one["availableModels"] == ["default"]
    # The listing's entries leave out the names the listing already is (O(N^2) with N bots).
    assert info["availableModels"] == [] and one == {**info, "availableModels": ["default"]}
    missing = http_call(f"{url}/v1/models/nope")
    assert missing.status == 404 and "nope" in missing.error["message"]


def test_health_and_readiness(url: str) -> None:
    assert http_call(f"{url}/healthz").body == {"status": "ok"}
    assert http_call(f"{url}/readyz").body == {"status": "SERVING", "models": ["default"]}


@pytest.mark.parametrize(
    ("body", "raw", "status", "words"),
    [
        ({"text": ""}, None, 400, "text is empty"),
        ({"text": "   "}, None, 400, "only whitespace"),
        ({"text": "x" * 3000}, None, 400, "over the limit of 2048"),
        ({"txt": "hello"}, None, 400, 'no field named "txt"'),
        ({"text": 3}, None, 400, "cannot read text field"),
        ({"text": "hi", "topK": "three"}, None, 400, "topK"),
        ({"text": "hi", "topK": 99}, None, 400, "top_k is 99"),
        ({"text": "hi", "model": "nope"}, None, 404, "model 'nope' is not loaded"),
        (["hi"], None, 400, "must be a JSON object, got an array"),
        (None, b'{"text": ', 400, "not valid JSON"),
        (None, b"\xff\xfe", 400, "not valid UTF-8"),
        (None, b"", 400, "body is empty"),
        (None, b"[" * 100_000, 400, "nests too deeply"),
    ],
)
def test_bad_requests_get_json_errors(
    url: str, body: object, raw: bytes | None, status: int, words: str
) -> None:
    reply = http_call(f"{url}/v1/classify", body, raw=raw)
    assert reply.status == status, reply.body
    error = reply.error
    assert words in error["message"]
    assert error["code"] == status
    assert error["requestId"] == reply.headers["x-request-id"]


def test_transport_errors_are_json_too(url: str) -> None:
    unknown = http_call(f"{url}/v2/nothing")
    assert unknown.status == 404 and "/openapi.json" in unknown.error["message"]
    wrong_method = http_call(f"{url}/v1/classify")
    assert wrong_method.status == 405 and "use POST" in wrong_method.error["message"]
    huge = http_call(f"{url}/v1/classify", raw=b'{"text": "' + b"a" * (2 << 20) + b'"}')
    assert huge.status == 413 and huge.error["status"] == "RESOURCE_EXHAUSTED"
    # The server still answers afterwards.
    assert http_call(f"{url}/v1/classify", {"text": "hi"}).status == 200


def test_a_sane_request_id_is_kept(url: str) -> None:
    reply = http_call(f"{url}/v1/classify", {"text": "hi"}, headers={"X-Request-Id": "bot-42"})
    assert reply.headers["x-request-id"] == "bot-42"


def test_beyond_the_admission_limit_calls_get_429(http_server: IntentServer, url: str) -> None:
    admission = http_server.admission
    held = [admission.admitted() for _ in range(admission.limit)]
    for slot in held:
        slot.__enter__()
    try:
        reply = http_call(f"{url}/v1/classify", {"text": "hi"})
        assert reply.status == 429
        assert reply.error["status"] == "RESOURCE_EXHAUSTED"
        assert "retry later" in reply.error["message"]
        assert http_call(f"{url}/readyz").status == 200  # health is never refused
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    assert http_call(f"{url}/v1/classify", {"text": "hi"}).status == 200


def test_not_ready_until_the_model_is_loaded(exported_example_model: object) -> None:
    config = example_server_config(exported_example_model, http_port=0)
    with running_server(config, load=False) as server:
        url = base_url(server)
        assert http_call(f"{url}/healthz").status == 200
        assert http_call(f"{url}/readyz").status == 503
        reply = http_call(f"{url}/v1/classify", {"text": "hi"})
        assert reply.status == 503 and reply.error["status"] == "UNAVAILABLE"


def test_http_calls_are_counted_in_the_metrics(http_server: IntentServer, url: str) -> None:
    http_call(f"{url}/v1/classify", {"text": "hi"})
    http_call(f"{url}/v1/classify", {"text": ""})
    registry = http_server.metrics.registry

    def count(status: str) -> float:
        labels = {"route": "POST /v1/classify", "status": status}
        return registry.get_sample_value("intent_server_http_requests_total", labels) or 0.0

    assert count("200") >= 1 and count("400") >= 1
