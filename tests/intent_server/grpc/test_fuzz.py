"""Property tests against running servers: random requests never get INTERNAL or UNKNOWN,
never crash the server, and a normal call still succeeds afterwards."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intent_server.client import IntentClient, IntentClientError
from intent_server.proto import intent_pb2, intent_pb2_grpc
from tests.fixtures.server import ServerProcess

EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,  # bad text, batch or top_k
    grpc.StatusCode.NOT_FOUND,  # unknown model name
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # message over grpc's size limit
}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

any_char = st.characters(blacklist_categories=["Cs"])
texts = st.one_of(
    st.text(any_char, max_size=60),
    st.text(st.sampled_from("\x00\x01\x1b\x7f\t\n\r\u200b\u2028\u202e"), max_size=20),
    st.text(any_char, min_size=1500, max_size=2500),
)
top_ks = st.one_of(st.integers(0, 40), st.sampled_from([2**31 - 1, 2**31, 2**32 - 1]))
models = st.one_of(st.just(""), st.just("default"), st.text(any_char, max_size=20))


def single_requests() -> st.SearchStrategy[intent_pb2.ClassifyIntentRequest]:
    return st.builds(
        intent_pb2.ClassifyIntentRequest,
        text=texts,
        top_k=top_ks,
        model=models,
        all_intents=st.booleans(),
    )


def batch_requests() -> st.SearchStrategy[intent_pb2.ClassifyIntentBatchRequest]:
    return st.builds(
        intent_pb2.ClassifyIntentBatchRequest,
        texts=st.one_of(
            st.lists(texts, max_size=8),
            st.lists(st.text(any_char, min_size=1, max_size=5), min_size=60, max_size=70),
        ),
        top_k=top_ks,
        model=models,
        all_intents=st.booleans(),
    )


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        assert exc.details(), "an error without a message"
        for internal in ("Traceback", 'File "', ".py", "/tmp/", "site-packages"):
            assert internal not in exc.details(), exc.details()
        return code
    return grpc.StatusCode.OK


def fuzz(address: str) -> None:
    """Run the properties against a server at `address` (inner function: hypothesis and
    function-scoped fixtures do not mix)."""
    with grpc.insecure_channel(address) as channel:
        stub = intent_pb2_grpc.IntentClassifierStub(channel)  # type: ignore[no-untyped-call]

        @SETTINGS
        @given(request=single_requests())
        @example(request=intent_pb2.ClassifyIntentRequest())
        @example(request=intent_pb2.ClassifyIntentRequest(text="hi", top_k=2**32 - 1))
        @example(request=intent_pb2.ClassifyIntentRequest(text="x" * 2_000_000))
        def single(request: intent_pb2.ClassifyIntentRequest) -> None:
            code = code_of(lambda: stub.ClassifyIntent(request, timeout=30))
            assert code in EXPECTED, (code, request)

        @SETTINGS
        @given(request=batch_requests())
        @example(request=intent_pb2.ClassifyIntentBatchRequest(texts=["a"] * 100_000))
        @example(request=intent_pb2.ClassifyIntentBatchRequest())
        def batch(request: intent_pb2.ClassifyIntentBatchRequest) -> None:
            code = code_of(lambda: stub.ClassifyIntentBatch(request, timeout=30))
            assert code in EXPECTED, (code, len(request.texts))

        @SETTINGS
        @given(model=models)
        def info(model: str) -> None:
            request = intent_pb2.GetModelInfoRequest(model=model)
            assert code_of(lambda: stub.GetModelInfo(request, timeout=30)) in EXPECTED

        single()
        batch()
        info()


def test_fuzz_in_process_server(intent_client: IntentClient) -> None:
    fuzz(intent_client.target)
    assert intent_client.classify("set an alarm for 7").intent == "set_alarm"
    assert intent_client.health() == "SERVING"


def test_fuzz_server_process_survives(start_server_process: Callable[..., ServerProcess]) -> None:
    server = start_server_process()
    fuzz(server.address)
    assert server.process.poll() is None, server.log
    with IntentClient(server.address, timeout=30) as client:
        assert client.classify("set an alarm for 7").intent == "set_alarm"
        try:
            client.classify("")
        except IntentClientError as exc:
            assert exc.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Traceback" not in server.log
