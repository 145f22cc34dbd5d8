"""The real server on a real port with the exported example model: answers and errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from intent_server.client import Classification, IntentClient, IntentClientError
from intent_server.core.decision import OUT_OF_SCOPE
from intent_server.process import IntentServer, running_server
from intent_server.proto import intent_pb2, intent_pb2_grpc
from tests.fixtures.paths import HELDOUT
from tests.fixtures.server import example_server_config
from trainer.data import load_training_data

UNRELATED = [
    "what is the boiling point of mercury in kelvin",
    "who painted the ceiling of the sistine chapel",
    "how many legs does a spider have",
    "explain the theory of general relativity",
    "what is the capital of mongolia",
]
SAMPLE_TEXTS = [
    "wake me up at 6:30 tomorrow",
    "how much money is in my savings account",
    "play some jazz",
    "what's the weather going to be like in paris",
    "thanks a lot",
    "get me a cab to the station",
    "translate good morning into spanish",
    "what is the boiling point of mercury in kelvin",
    "send a text to mum saying i'm late",
    "hey there",
]


def scores(result: Classification) -> dict[str, float]:
    return {score.name: score.confidence for score in result.ranking}


def assert_same(left: Classification, right: Classification, tol: float = 1e-5) -> None:
    assert left.intent == right.intent and left.reason == right.reason
    assert left.confidence == pytest.approx(right.confidence, abs=tol)
    assert left.familiarity is not None and right.familiarity is not None
    assert left.familiarity == pytest.approx(right.familiarity, abs=tol)
    a, b = scores(left), scores(right)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == pytest.approx(b[name], abs=tol), name


def test_heldout_paraphrases_are_classified_correctly(intent_client: IntentClient) -> None:
    data = load_training_data(HELDOUT, min_examples=1)
    pairs = [(example.text, example.intent) for example in data.examples]
    assert len(pairs) >= 30
    results = intent_client.classify_batch([text for text, _ in pairs[:64]])
    results += intent_client.classify_batch([text for text, _ in pairs[64:]]) if pairs[64:] else []
    correct = sum(r.intent == intent for r, (_, intent) in zip(results, pairs, strict=True))
    assert correct / len(pairs) >= 0.85, f"{correct}/{len(pairs)} correct"


def test_unrelated_sentences_come_back_out_of_scope(intent_client: IntentClient) -> None:
    results = [intent_client.classify(text) for text in UNRELATED]
    rejected = [r for r in results if r.out_of_scope]
    assert len(rejected) >= 4, [(r.top_intent, r.reason) for r in results]
    for result in rejected:
        assert result.intent == OUT_OF_SCOPE and result.reason
        # The ranking keeps the model's real scores, never a fallback 1.0.
        assert result.ranking[0] == result.top_intent


def test_in_scope_answer_and_ranking(intent_client: IntentClient) -> None:
    result = intent_client.classify("book me a flight to tokyo on friday", top_k=3)
    assert (result.intent, result.out_of_scope, result.reason) == ("book_flight", False, "")
    assert len(result.ranking) == 3 and result.ranking[0].name == "book_flight"
    assert result.confidence == pytest.approx(result.ranking[0].confidence)
    confidences = [score.confidence for score in result.ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert result.model == "default" and result.model_version and not result.truncated


def test_top_k_default_and_all_intents(intent_client: IntentClient) -> None:
    labels = intent_client.model_info().labels
    assert len(intent_client.classify("hello").ranking) == min(10, len(labels))
    every = intent_client.classify("hello", all_intents=True)
    assert sorted(score.name for score in every.ranking) == sorted(labels)
    assert sum(score.confidence for score in every.ranking) == pytest.approx(1.0, abs=1e-4)


def test_long_text_is_truncated_not_refused(intent_client: IntentClient) -> None:
    result = intent_client.classify("please set an alarm " + "very " * 350)  # > 256 tokens
    assert result.truncated
    assert not intent_client.classify("please set an alarm").truncated


def test_model_info(intent_client: IntentClient, intent_server: IntentServer) -> None:
    info = intent_client.model_info()
    assert info.name == "default" and info.version and info.available_models == ("default",)
    assert "book_flight" in info.labels and OUT_OF_SCOPE in info.labels
    assert 0.0 <= info.confidence_threshold <= 1.0 and info.threshold_rule
    assert info.metrics and info.encoder_variant in {"int8", "fp32"}
    assert (info.max_text_bytes, info.max_batch_texts) == (2048, 64)
    assert info.max_tokens > 0
    assert info == intent_client.model_info("default")
    manifest_metrics = intent_server.registry.get().export.manifest.metrics.to_json()
    for key, value in manifest_metrics.items():
        if isinstance(value, dict):  # nested groups arrive as dotted names
            numeric = {f"{key}.{k}" for k, v in value.items() if isinstance(v, (int, float))}
            assert numeric <= info.metrics.keys()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert info.metrics[key] == pytest.approx(value)


def test_batch_equals_single_calls(intent_client: IntentClient) -> None:
    batch = intent_client.classify_batch(SAMPLE_TEXTS, all_intents=True)
    for text, result in zip(SAMPLE_TEXTS, batch, strict=True):
        assert_same(result, intent_client.classify(text, all_intents=True))


def test_200_concurrent_calls_equal_serial_results(intent_client: IntentClient) -> None:
    serial = {text: intent_client.classify(text, all_intents=True) for text in SAMPLE_TEXTS}
    texts = [SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)] for i in range(200)]
    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(lambda t: intent_client.classify(t, all_intents=True), texts))
    for text, result in zip(texts, results, strict=True):
        assert_same(result, serial[text])


BAD_SINGLE = [
    ({"text": ""}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
    ({"text": " \t\n"}, grpc.StatusCode.INVALID_ARGUMENT, "text is only whitespace"),
    ({"text": "a" * 2049}, grpc.StatusCode.INVALID_ARGUMENT, "limit of 2048 bytes"),
    ({"text": "é" * 1025}, grpc.StatusCode.INVALID_ARGUMENT, "text is 2050 bytes"),
    ({"text": "hi", "top_k": 99}, grpc.StatusCode.INVALID_ARGUMENT, "top_k is 99"),
    ({"text": "hi", "model": "nope"}, grpc.StatusCode.NOT_FOUND, "available models: default"),
]
BAD_BATCH = [
    ({"texts": []}, grpc.StatusCode.INVALID_ARGUMENT, "texts is empty"),
    ({"texts": ["hi"] * 65}, grpc.StatusCode.INVALID_ARGUMENT, "limit of 64"),
    ({"texts": ["hi", "ok", ""]}, grpc.StatusCode.INVALID_ARGUMENT, "texts[2] is empty"),
    ({"texts": ["hi", "x" * 3000]}, grpc.StatusCode.INVALID_ARGUMENT, "texts[1] is 3000 bytes"),
    ({"texts": ["hi"], "top_k": 20}, grpc.StatusCode.INVALID_ARGUMENT, "top_k is 20"),
    ({"texts": ["hi"], "model": "x"}, grpc.StatusCode.NOT_FOUND, "model 'x'"),
]


@pytest.fixture(scope="module")
def stub(intent_server: IntentServer) -> intent_pb2_grpc.IntentClassifierStub:
    channel = grpc.insecure_channel(intent_server.address)
    return intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]


def assert_rpc_error(call: object, code: grpc.StatusCode, needle: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    assert info.value.code() == code, info.value.details()
    assert needle in info.value.details()


@pytest.mark.parametrize(("fields", "code", "needle"), BAD_SINGLE)
def test_bad_single_requests(
    stub: intent_pb2_grpc.IntentClassifierStub,
    fields: dict[str, object],
    code: grpc.StatusCode,
    needle: str,
) -> None:
    request = intent_pb2.ClassifyIntentRequest(**fields)  # type: ignore[arg-type]
    assert_rpc_error(lambda: stub.ClassifyIntent(request, timeout=10), code, needle)
    assert stub.ClassifyIntent(intent_pb2.ClassifyIntentRequest(text="hi"), timeout=10).intent.name


@pytest.mark.parametrize(("fields", "code", "needle"), BAD_BATCH)
def test_bad_batch_requests(
    stub: intent_pb2_grpc.IntentClassifierStub,
    fields: dict[str, object],
    code: grpc.StatusCode,
    needle: str,
) -> None:
    request = intent_pb2.ClassifyIntentBatchRequest(**fields)  # type: ignore[arg-type]
    assert_rpc_error(lambda: stub.ClassifyIntentBatch(request, timeout=10), code, needle)
    ok = intent_pb2.ClassifyIntentBatchRequest(texts=["hi"])
    assert len(stub.ClassifyIntentBatch(ok, timeout=10).results) == 1


def test_unknown_model_info_is_not_found(intent_client: IntentClient) -> None:
    with pytest.raises(IntentClientError) as info:
        intent_client.model_info("missing")
    assert info.value.code == grpc.StatusCode.NOT_FOUND and "available" in info.value.details


def test_oversized_message_is_refused_by_grpc_and_server_survives(
    stub: intent_pb2_grpc.IntentClassifierStub, intent_client: IntentClient
) -> None:
    huge = intent_pb2.ClassifyIntentRequest(text="a" * (2 * 1024 * 1024))
    assert_rpc_error(
        lambda: stub.ClassifyIntent(huge, timeout=10), grpc.StatusCode.RESOURCE_EXHAUSTED, ""
    )
    assert intent_client.classify("hello").intent == "greeting"


def test_expired_deadline_is_not_internal(
    stub: intent_pb2_grpc.IntentClassifierStub, intent_client: IntentClient
) -> None:
    request = intent_pb2.ClassifyIntentBatchRequest(texts=["hello there"] * 64)
    with pytest.raises(grpc.RpcError) as info:
        stub.ClassifyIntentBatch(request, timeout=0.0001)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert intent_client.classify("hello").intent == "greeting"


def test_unbatched_server_gives_the_same_answers(
    exported_example_model: Path, intent_client: IntentClient
) -> None:
    config = example_server_config(exported_example_model, batching=False)
    with running_server(config) as server, IntentClient(server.address, timeout=30) as client:
        for text in SAMPLE_TEXTS[:4]:
            assert_same(
                client.classify(text, all_intents=True),
                intent_client.classify(text, all_intents=True),
            )
