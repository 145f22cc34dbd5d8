"""Property tests over HTTP: random JSON and random bytes never get a 500 or a non-JSON
answer, and the server still classifies afterwards."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intent_server.process import IntentServer
from tests.fixtures.http import base_url, http_call

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
EXPECTED = {200, 400, 404}
ENDPOINTS = ("/v1/classify", "/v1/classify:batch", "/model/parse")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["text", "texts", "model", "topK", "top_k", "allIntents", "token", "message_id"]
)
requests = st.one_of(
    json_values,
    st.dictionaries(field_names, json_values, max_size=4),
    st.fixed_dictionaries({"text": st.text(max_size=80)}),
    st.fixed_dictionaries({"texts": st.lists(st.text(max_size=20), max_size=70)}),
)


@pytest.fixture(scope="module")
def url(http_server: IntentServer) -> str:
    return base_url(http_server)


@SETTINGS
@given(body=requests, endpoint=st.sampled_from(ENDPOINTS))
@example(body={"text": "\ud800"}, endpoint="/v1/classify")
@example(body={"texts": "not a list"}, endpoint="/v1/classify:batch")
@example(body={"text": "hi", "topK": 2**40}, endpoint="/v1/classify")
def test_random_json_gets_a_json_answer(url: str, body: object, endpoint: str) -> None:
    raw = json.dumps(body).encode("utf-8", errors="surrogatepass")
    reply = http_call(url + endpoint, raw=raw)
    assert reply.status in EXPECTED, reply.body
    assert isinstance(reply.body, dict)
    if reply.status != 200:
        assert reply.error["message"]


@SETTINGS
@given(raw=st.binary(min_size=1, max_size=200), endpoint=st.sampled_from(ENDPOINTS))
def test_random_bytes_get_a_json_answer(url: str, raw: bytes, endpoint: str) -> None:
    reply = http_call(url + endpoint, raw=raw)
    assert reply.status in EXPECTED, reply.body
    assert isinstance(reply.body, dict)


def test_still_serving_after_the_fuzzing(url: str) -> None:
    reply = http_call(f"{url}/v1/classify", {"text": "wake me up at 7"})
    assert reply.status == 200 and reply.body["intent"]["name"]
