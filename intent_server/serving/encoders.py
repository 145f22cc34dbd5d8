"""One loaded encoder per identity, shared by every bot whose export carries it.

Bots built on the stock encoder differ only in their heads, labels and thresholds. The pool
keys a loaded encoder (`EncoderRuntime`: its sessions, batch mode and, with batching, one
`MicroBatcher` that runs the texts of all its bots together) by
`LoadedExport.encoder_identity` (the encoder file's sha256 and the variant) and the thread
count, and counts the bots using it: the first bot loads and warms it up, the next ones
cost only their head (and their tokenizer, unless it has the same sha256 as one already
loaded), and the last bot to go frees it. A reload of one bot takes a new reference
before the swap and drops the old one when the old version retires, so an encoder shared
with the others is never reloaded, and one that changed is loaded next to the old one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tokenizers import Tokenizer

from intent_server.core.encoder.runtime import EncoderRuntime
from intent_server.core.exports import LoadedExport
from intent_server.core.intent_model import IntentModel, predict_together
from intent_server.core.prediction import Prediction
from intent_server.serving.batching import MicroBatcher
from intent_server.serving.row_mode import RowModeChoice, RowModeTiming, choose_in_background

log = logging.getLogger(__name__)

EncoderKey = tuple[str, int]  # (encoder identity, onnxruntime threads)
GroupsFn = Callable[[Sequence[tuple[object, Sequence[str]]]], Sequence[Prediction]]
# (first bot's name, run of grouped texts) -> the encoder's shared batcher (None: no batching)
BatcherFactory = Callable[[str, GroupsFn], MicroBatcher | None]
OnBatch = Callable[[str, int], None]


@dataclass
class PooledEncoder:
    """A loaded encoder and what its bots share: tokenizers by sha256, the shared batcher,
    the batch-mode timing; `users` bots hold it."""

    key: EncoderKey
    runtime: EncoderRuntime
    first_bot: str
    users: int = 0
    warm: bool = False
    # (sha256, max tokens) -> the tokenizer and whether it lowercases
    tokenizers: dict[tuple[str, int], tuple[Tokenizer, bool]] = field(default_factory=dict)
    batcher: MicroBatcher | None = None
    timing: RowModeTiming | None = None

    def close(self) -> None:
        """Stop the timing (joined), then the shared batcher, then free the side-by-side rows."""
        if self.timing is not None:
            self.timing.stop()
        if self.batcher is not None:
            self.batcher.close(60.0)
        rows = self.runtime.parallel_rows
        self.runtime.use_parallel_rows(None)
        if rows is not None:
            rows.close()


@dataclass(frozen=True, eq=False)
class BotCall:
    """What a bot's calls carry on the shared batcher: its name (metrics) and its model."""

    name: str
    model: IntentModel


def grouped_predict(on_batch: OnBatch | None) -> GroupsFn:
    """Runs the grouped texts of a shared batcher's run (groups are `BotCall`s)."""

    def predict(groups: Sequence[tuple[object, Sequence[str]]]) -> list[Prediction]:
        models = []
        for bot, texts in groups:
            if not isinstance(bot, BotCall):
                raise TypeError(f"a shared batcher runs BotCalls, got {type(bot).__name__}")
            if on_batch is not None:
                on_batch(bot.name, len(texts))
            models.append((bot.model, texts))
        return predict_together(models)

    return predict


class EncoderPool:
    """Thread-safe: loaded encoders by identity, reference-counted by the bots using them."""

    def __init__(
        self,
        batcher: BatcherFactory | None = None,
        on_row_mode: Callable[[str, RowModeChoice], None] | None = None,
        on_batch: OnBatch | None = None,
    ) -> None:
        self._entries: dict[EncoderKey, PooledEncoder] = {}
        self._lock = threading.Lock()
        self._loading: dict[EncoderKey, threading.Lock] = {}
        self._batcher = batcher
        self._on_row_mode = on_row_mode
        self._on_batch = on_batch

    def identities(self) -> set[str]:
        """Identities of the encoders loaded now (their files need no hashing again)."""
        with self._lock:
            return {key[0] for key in self._entries}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def users(self, identity: str) -> int:
        """Bots holding the encoder with this identity (0 when it is not loaded)."""
        with self._lock:
            return sum(entry.users for key, entry in self._entries.items() if key[0] == identity)

    def open(
        self, name: str, export: LoadedExport, threads: int
    ) -> tuple[IntentModel, PooledEncoder]:
        """Bot `name`'s model over the shared encoder of `export` (loaded and warmed up if it
        is the first bot of that encoder). Call `release` with the entry when the bot goes."""
        key = (export.encoder_identity, threads)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # bots of one new encoder loading at once: one loads it, the rest wait
            entry = self._take(key)
            if entry is None:
                runtime = EncoderRuntime(
                    export.encoder_path, variant=export.encoder_variant, threads=threads
                )
                entry = PooledEncoder(key, runtime, name, users=1)
                if self._batcher is not None:
                    entry.batcher = self._batcher(name, grouped_predict(self._on_batch))
                with self._lock:
                    self._entries[key] = entry
        try:
            model = self._model(entry, export, threads)
        except BaseException:
            self.release(entry)
            raise
        return model, entry

    def _take(self, key: EncoderKey) -> PooledEncoder | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.users += 1
            return entry

    def _model(self, entry: PooledEncoder, export: LoadedExport, threads: int) -> IntentModel:
        tokenizer_key = (export.tokenizer_sha256, export.max_tokens)
        with self._lock:
            known = entry.tokenizers.get(tokenizer_key) if tokenizer_key[0] else None
        tokenizer, lowercase = known if known is not None else (None, None)
        # Heads are small: one thread each, so a thousand bots do not start a thousand
        # onnxruntime thread pools.
        model = export.open(
            threads,
            encoder=entry.runtime,
            tokenizer=tokenizer,
            head_threads=1,
            tokenizer_lowercases=lowercase,
        )
        with self._lock:
            if tokenizer_key[0]:
                entry.tokenizers.setdefault(tokenizer_key, (model.tokenizer, model.lowercases))
            first = not entry.warm
            entry.warm = True
        if first:
            model.warm_up()
            if entry.batcher is not None:  # --no-batching: no second session worth its memory
                entry.timing = choose_in_background(
                    entry.first_bot, model, threads, self._on_row_mode
                )
        else:
            model.warm_up_head()
        return model

    def release(self, entry: PooledEncoder) -> bool:
        """One bot less on `entry`; the last one frees the encoder (True then)."""
        with self._lock:
            entry.users -= 1
            if entry.users > 0 or self._entries.get(entry.key) is not entry:
                return False
            del self._entries[entry.key]
        entry.close()
        log.info("freed encoder %s (no bot uses it any more)", entry.key[0][:12])
        return True
