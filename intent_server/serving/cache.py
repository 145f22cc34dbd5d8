"""Answers to repeated messages: chat traffic repeats ("yes", "hi", "talk to a human").

`AnswerCache` keeps the model's output row (probabilities, familiarity, truncated flag) for
recent texts of one served model version, so a repeated message skips the encoder. A reload
serves a new version with a new, empty cache. The key is the text with whitespace runs
collapsed (and lowercased when the model's tokenizer lowercases anyway): texts with the same
key are the same tokens, so a cached answer equals the computed one. A model with an entity
head answers character offsets and values of the text as received: its key is the text
itself. Texts over
`MAX_CACHED_CHARS` are never cached: long messages rarely repeat.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from intent_server.core.prediction import Prediction

MAX_CACHED_CHARS = 256


def cache_key(text: str, lowercase: bool, exact: bool = False) -> str | None:
    """The cache key of `text`, or None when it is too long to cache. `exact`: the text
    itself (a model with an entity head answers character offsets and values of the text
    as received, so only the same characters may share an answer)."""
    if len(text) > MAX_CACHED_CHARS:
        return None
    if exact:
        return text
    key = " ".join(text.split())
    return key.lower() if lowercase else key


class AnswerCache:
    """A thread-safe LRU map of cache key -> one-row Prediction, at most `max_entries`."""

    def __init__(
        self,
        max_entries: int,
        lowercase: bool = False,
        exact: bool = False,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._lowercase = lowercase
        self._exact = exact
        self._on_lookup = on_lookup
        self._rows: OrderedDict[str, Prediction] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def get(self, text: str) -> Prediction | None:
        """The cached answer for `text` (counted as a hit or a miss), or None."""
        key = cache_key(text, self._lowercase, self._exact)
        if key is None:
            return None
        with self._lock:
            found = self._rows.get(key)
            if found is not None:
                self._rows.move_to_end(key)
        if self._on_lookup is not None:
            self._on_lookup(found is not None)
        return found

    def put(self, text: str, prediction: Prediction) -> None:
        """Remember the one-row `prediction` for `text` (the oldest entry goes when full)."""
        key = cache_key(text, self._lowercase, self._exact)
        if key is None or len(prediction) != 1:
            return
        with self._lock:
            self._rows[key] = prediction
            self._rows.move_to_end(key)
            while len(self._rows) > self.max_entries:
                self._rows.popitem(last=False)
