"""Request checks: every message names the field, what is wrong and the limit."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from intent_server.serving.errors import InvalidArgument

DEFAULT_TOP_K = 10
# Characters that show nothing on their own: separators, controls, format characters (zero
# width space, BOM, bidi marks) and combining marks.
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"})
ECHO_LIMIT = 64


def shown(value: str, limit: int = ECHO_LIMIT) -> str:
    """A client-supplied string as it may appear in a message or a log line: repr'd, and cut
    to `limit` characters with its full length said, so no caller can flood either."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


@dataclass(frozen=True)
class Limits:
    """What one request may contain."""

    max_text_bytes: int = 2048
    max_batch_texts: int = 64
    max_call_tokens: int = 8192  # tokens of all the texts of one call (after truncation)

    def __post_init__(self) -> None:
        if self.max_text_bytes < 1:
            raise ValueError(f"max_text_bytes must be >= 1, got {self.max_text_bytes}")
        if self.max_batch_texts < 1:
            raise ValueError(f"max_batch_texts must be >= 1, got {self.max_batch_texts}")
        if self.max_call_tokens < 1:
            raise ValueError(f"max_call_tokens must be >= 1, got {self.max_call_tokens}")


def check_text(text: str, limits: Limits, field: str = "text") -> None:
    """Reject empty, whitespace-only, invisible-only and oversized texts."""
    if not text.strip():
        what = "empty" if not text else "only whitespace"
        raise InvalidArgument(f"{field} is {what}: send the user's message to classify")
    if all(unicodedata.category(char) in _INVISIBLE for char in text):
        raise InvalidArgument(
            f"{field} has no visible character (only zero-width, control or combining "
            "characters): send the user's message to classify"
        )
    size = len(text.encode("utf-8"))
    if size > limits.max_text_bytes:
        raise InvalidArgument(
            f"{field} is {size} bytes of UTF-8, over the limit of {limits.max_text_bytes} "
            "bytes: send a shorter message"
        )


def check_texts(texts: Sequence[str], limits: Limits) -> None:
    """Check a batch: not empty, not too many texts, each text valid (named by index)."""
    if not texts:
        raise InvalidArgument("texts is empty: send at least one text")
    if len(texts) > limits.max_batch_texts:
        raise InvalidArgument(
            f"texts has {len(texts)} entries, over the limit of {limits.max_batch_texts} "
            "per call: split the batch"
        )
    for index, text in enumerate(texts):
        check_text(text, limits, field=f"texts[{index}]")


def check_call_tokens(counts: Sequence[int], limits: Limits) -> None:
    """Refuse a call whose texts hold more tokens (after truncation) than the per-call budget:
    bytes alone do not bound the model's work (2,048 punctuation bytes are 2,048 tokens)."""
    total = sum(counts)
    if total > limits.max_call_tokens:
        raise InvalidArgument(
            f"texts hold {total} tokens, over the per-call budget of {limits.max_call_tokens} "
            "tokens: split the batch into smaller calls"
        )


def resolve_top_k(top_k: int, all_intents: bool, label_count: int) -> int:
    """How many intents to rank: 0 means min(10, labels); more than the labels is an error."""
    if all_intents:
        return label_count
    if top_k == 0:
        return min(DEFAULT_TOP_K, label_count)
    if top_k > label_count:
        raise InvalidArgument(
            f"top_k is {top_k} but the model has only {label_count} intents: "
            f"use 1..{label_count}, 0 for the default, or all_intents"
        )
    return top_k
