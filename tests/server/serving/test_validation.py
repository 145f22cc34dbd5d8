"""Property tests of the request path in-process: validation, then tokenizer + real model.

Random Unicode (control characters, combining marks, emoji, private use), empty and very long
texts, odd batch sizes and top_k values: validation either accepts or raises InvalidArgument
(nothing else), and whatever it accepts the real model classifies into finite probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intent_server.serving.errors import InvalidArgument
from intent_server.serving.registry import RunnerSettings, ServedModel, load_served_model
from intent_server.serving.validation import Limits, check_text, check_texts, resolve_top_k

LIMITS = Limits(max_text_bytes=2048, max_batch_texts=64)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODEL_RUNS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every Unicode category but surrogates (which a protobuf string cannot carry anyway).
any_char = st.characters(blacklist_categories=["Cs"])
control_text = st.text(st.sampled_from("\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x7f\x85\u200b\u2028"))
texts = st.one_of(
    st.text(any_char, max_size=80),
    control_text,
    st.text(any_char, min_size=500, max_size=3000),  # around and over the byte limit
    st.builds(lambda t, n: t * n, st.text(any_char, min_size=1, max_size=4), st.integers(1, 900)),
)


@pytest.fixture(scope="module")
def served(exported_example_model: Path) -> Iterator[ServedModel]:
    served = load_served_model(exported_example_model, "default", 1, "auto", RunnerSettings())
    yield served
    served.runner.close()


@FAST
@given(text=texts)
@example(text="")
@example(text=" \t\n")
@example(text="\x00")
@example(text="é" * 1024)  # exactly 2048 bytes
@example(text="é" * 1025)
def test_check_text_accepts_or_says_why(text: str) -> None:
    try:
        check_text(text, LIMITS)
    except InvalidArgument as exc:
        assert exc.message.startswith("text ")
        assert not text.strip() or len(text.encode("utf-8")) > LIMITS.max_text_bytes
    else:
        assert text.strip() and len(text.encode("utf-8")) <= LIMITS.max_text_bytes


@FAST
@given(batch=st.lists(st.text(any_char, max_size=30), max_size=80))
def test_check_texts_accepts_or_names_the_entry(batch: list[str]) -> None:
    try:
        check_texts(batch, LIMITS)
    except InvalidArgument as exc:
        assert exc.message.startswith(("texts is empty", "texts has", "texts["))
    else:
        assert 1 <= len(batch) <= LIMITS.max_batch_texts
        assert all(t.strip() for t in batch)


@FAST
@given(
    top_k=st.integers(0, 2**32 - 1),
    all_intents=st.booleans(),
    labels=st.integers(1, 500),
)
def test_resolve_top_k_in_range_or_invalid(top_k: int, all_intents: bool, labels: int) -> None:
    try:
        resolved = resolve_top_k(top_k, all_intents, labels)
    except InvalidArgument as exc:
        assert "top_k" in exc.message and not all_intents and top_k > labels
    else:
        assert 1 <= resolved <= labels


@MODEL_RUNS
@given(batch=st.lists(texts, min_size=1, max_size=6))
@example(batch=["\x00" * 2000])
@example(batch=["word " * 400])  # far over the encoder's token limit: truncated
@example(batch=["😀" * 512, "\u202e\u0301\u0301", "\ufeff", "a"])
def test_model_classifies_every_valid_text(batch: list[str], served: ServedModel) -> None:
    valid = [t for t in batch if t.strip() and len(t.encode("utf-8")) <= LIMITS.max_text_bytes]
    if not valid:
        return
    prediction = served.runner.submit(valid).result(timeout=60)
    probs = prediction.probabilities
    assert probs.shape == (len(valid), len(served.labels))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert len(prediction.truncated) == len(valid)
    assert len(served.runner.submit(["set an alarm for 7"]).result(timeout=60)) == 1
