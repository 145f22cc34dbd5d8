"""The runtime model: fast tokenizer + ONNX encoder + ONNX head, no torch.

One text is encoded without padding (padding every input to 128 tokens costs ~6x latency);
a batch is padded to its longest text with numpy, never by reconfiguring the shared
tokenizer, so concurrent callers are safe. Mean pooling with the attention mask inside the
encoder graph makes padding harmless: batched fp32 results equal single ones.

The INT8 encoder quantizes activations dynamically with one scale per tensor, so a text's
embedding would depend on the other texts in its batch. It therefore runs one text at a
time: results stay identical to single calls, and on one core batching INT8 gains nothing
(measured: 199 texts/s batched vs 207 one by one; fp32: 170 vs 107). With several CPUs a
batch's texts can instead run side by side, each alone on a one-thread session
(`use_parallel_rows`): the same single-text answers, and on 2 CPUs 1.6x the texts/s of one
text after the other on a two-thread session, whose threads mostly wait for each other on
one short text. The head then runs once for the whole batch.

The encoder has two outputs: `features` (what the head reads: pooled, normalised hidden
states of several layers, e.g. 1152-d) and `sentence_embedding` (the standard 384-d
all-MiniLM-L6-v2 embedding). `embed` returns the features, so
`classify_features(embed(x))` equals `predict(x).probabilities`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from intent_server.core.encoder.runtime import (
    EncoderRuntime,
    ParallelRows,
    make_session,
    pad_states,
    width_of,
)
from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.runtime import EntityExtractor
from intent_server.core.errors import ExportError
from intent_server.core.layout import (
    FAMILIARITY_OUTPUT,
    FEATURES_OUTPUT,
    HEAD_OUTPUT,
    SENTENCE_OUTPUT,
    TOKEN_STATES_OUTPUT,
)
from intent_server.core.prediction import Prediction

WARM_UP_TEXTS = (
    "hi",
    "what is the weather like tomorrow",
    "can you please book me a flight from london to tokyo next friday in the morning and "
    "also find me a hotel close to the airport for two nights",
)


def load_tokenizer(path: Path, max_tokens: int) -> Tokenizer:
    """The export's tokenizer, forced to no padding and truncation at `max_tokens`."""
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise ExportError(f"{path} is not a valid tokenizer file: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def lowercases(tokenizer: Tokenizer) -> bool:
    """Whether the tokenizer's normalizer lowercases every text (BERT's uncased models do)."""
    normalizer = json.loads(tokenizer.to_str()).get("normalizer") or {}
    steps = normalizer.get("normalizers", [normalizer]) if normalizer else []
    return any(
        step.get("type") == "Lowercase"
        or (step.get("type") == "BertNormalizer" and step.get("lowercase") is True)
        for step in steps
    )


def _head_widths(head: ort.InferenceSession, path: Path) -> tuple[int, int]:
    """(input width, number of classes) of a head session; runs it once if the class count
    is symbolic."""
    feed = head.get_inputs()[0]
    width = width_of(feed.shape)
    if width <= 0:
        raise ExportError(f"{path}: the head input width is not fixed ({feed.shape})")
    classes = width_of(head.get_outputs()[0].shape)
    if classes <= 0:
        sample = np.zeros((1, width), dtype=np.float32)
        classes = int(head.run(None, {feed.name: sample})[0].shape[-1])
    return width, classes


def head_shape(path: Path) -> tuple[int, int]:
    """(input width, number of classes) of a head ONNX file (a one-thread, one-off session)."""
    return _head_widths(make_session(path, threads=1), path)


class IntentModel:
    """One export's ONNX files: `predict(texts)` gives class probabilities in label order.

    `encoder_runtime` / `tokenizer_object` (and whether it lowercases, when known): an
    encoder and tokenizer already loaded for another bot with the same files, shared instead
    of loaded again; then this model costs only its head. `head_threads`: the head's session
    threads (default `threads`)."""

    def __init__(
        self,
        encoder: Path,
        head: Path,
        tokenizer: Path,
        max_tokens: int,
        *,
        variant: str = "fp32",
        threads: int = 1,
        encoder_runtime: EncoderRuntime | None = None,
        tokenizer_object: Tokenizer | None = None,
        head_threads: int | None = None,
        tokenizer_lowercases: bool | None = None,
        entity_head: Path | None = None,
        entities: EntityHeadInfo | None = None,
    ) -> None:
        self._tokenizer = tokenizer_object or load_tokenizer(tokenizer, max_tokens)
        # Known for a shared tokenizer: finding out serialises it (~0.2 s a bot).
        known = tokenizer_lowercases if tokenizer_object is not None else None
        self.lowercases = lowercases(self._tokenizer) if known is None else known
        self.threads = threads
        runtime = encoder_runtime or EncoderRuntime(encoder, variant=variant, threads=threads)
        self.encoder = runtime
        head_threads = threads if head_threads is None else head_threads
        self._head = make_session(head, head_threads, arena=False)
        self.dim = runtime.dim
        self.sentence_dim = runtime.sentence_dim
        self._head_input = self._head.get_inputs()[0].name
        head_outputs = {output.name for output in self._head.get_outputs()}
        # Heads exported with a familiarity bank also score how close a text is to the
        # training examples; the output list is fixed here so each call names it once.
        self.has_familiarity = FAMILIARITY_OUTPUT in head_outputs
        self._head_outputs = [HEAD_OUTPUT] + ([FAMILIARITY_OUTPUT] if self.has_familiarity else [])
        head_width, self.classes = _head_widths(self._head, head)
        if self.dim <= 0 or self.dim != head_width:
            raise ExportError(
                f"{head} reads {head_width}-d inputs but {runtime.path} produces {self.dim}-d "
                f"{FEATURES_OUTPUT!r}; the head was trained on other features: re-export the model"
            )
        self.entities: EntityExtractor | None = None
        if entity_head is not None and entities is not None:
            if not runtime.has_token_states:
                raise ExportError(
                    f"{runtime.path} has no {TOKEN_STATES_OUTPUT!r} output for the entity head "
                    f"{entity_head}; re-export the model"
                )
            self.entities = EntityExtractor(
                make_session(entity_head, head_threads, arena=False), entity_head, entities
            )

    @property
    def has_entities(self) -> bool:
        """An entity head runs on each text (its answers depend on the exact characters)."""
        return self.entities is not None

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def row_wise(self) -> bool:
        return self.encoder.row_wise

    def tokenize(self, texts: Sequence[str]) -> list[Encoding]:
        """Encodings, truncated at max_tokens (`overflowing` is set on truncated ones)."""
        if len(texts) == 1:
            return [self._tokenizer.encode(texts[0])]
        return list(self._tokenizer.encode_batch(list(texts)))

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text is encoded as (after truncation): what a text costs the encoder."""
        return [len(encoding.ids) for encoding in self.tokenize(texts)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The head's input features [N, dim] float32."""
        return self._encode(self.tokenize(texts), FEATURES_OUTPUT, self.dim)

    def token_states(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token states [T_i, H] (the encoder's `token_states`; an export whose
        encoder has that output)."""
        encodings = self.tokenize(texts)
        return self.encoder.encode_with_tokens(encodings)[1] if encodings else []

    def sentence_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Standard L2-normalised sentence embeddings [N, sentence_dim]."""
        return self._encode(self.tokenize(texts), SENTENCE_OUTPUT, self.sentence_dim)

    def open_parallel_rows(self, workers: int) -> ParallelRows:
        """A one-thread session of this encoder and `workers` threads to run a batch's texts
        side by side (about 25 MB for INT8); `use_parallel_rows` puts it to use."""
        return self.encoder.open_parallel_rows(workers)

    @property
    def parallel_rows(self) -> ParallelRows | None:
        return self.encoder.parallel_rows

    def use_parallel_rows(self, rows: ParallelRows | None) -> None:
        """Run the texts of a batch side by side on `rows` (None: one after the other), for
        every bot sharing this encoder. Only the INT8 encoder runs texts one by one; for
        fp32 batches this changes nothing."""
        self.encoder.use_parallel_rows(rows)

    def _encode(self, encodings: Sequence[Encoding], output: str, width: int) -> np.ndarray:
        return self.encoder.encode(encodings, output, width)

    def classify_features(self, features: np.ndarray) -> np.ndarray:
        """Head probabilities [N, classes] for features [N, dim]."""
        return self.score_features(features)[0]

    def score_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Head probabilities [N, classes] and familiarity [N] (None when the head has no
        familiarity bank) for features [N, dim], in one head run."""
        if len(features) == 0:
            empty = np.zeros(0, dtype=np.float32) if self.has_familiarity else None
            return np.zeros((0, self.classes), dtype=np.float32), empty
        feed = {self._head_input: features.astype(np.float32)}
        outputs = self._head.run(self._head_outputs, feed)
        probs = np.asarray(outputs[0], dtype=np.float32)
        familiarity = np.asarray(outputs[1], dtype=np.float32) if self.has_familiarity else None
        return probs, familiarity

    def predict(self, texts: Sequence[str]) -> Prediction:
        """Class probabilities (label order), familiarity, whether each text was truncated,
        and with an entity head each text's entities (token states fetched only then)."""
        encodings = self.tokenize(texts)
        if self.entities is None or not encodings:
            return self.answer(encodings, self._encode(encodings, FEATURES_OUTPUT, self.dim))
        features, states = self.encoder.encode_with_tokens(encodings)
        return self.answer(encodings, features, (texts, states))

    def answer(
        self,
        encodings: Sequence[Encoding],
        features: np.ndarray,
        tokens: tuple[Sequence[str], list[np.ndarray]] | None = None,
    ) -> Prediction:
        """The prediction for `encodings` (this model's tokens) whose features are given;
        `tokens`: the texts and their token states, for the entity head when there is one."""
        entities = None
        if self.entities is not None and tokens is not None and encodings:
            texts, states = tokens
            entities = self.entities.extract(texts, encodings, pad_states(states))
        probs, familiarity = self.score_features(features)
        return Prediction(
            probabilities=probs,
            truncated=tuple(bool(encoding.overflowing) for encoding in encodings),
            familiarity=familiarity,
            entities=entities,
        )

    def warm_up(self) -> None:
        """Run a few lengths and a batch so the first real request pays no allocation cost."""
        for text in WARM_UP_TEXTS:
            self.predict([text])
        self.predict(list(WARM_UP_TEXTS))

    def warm_up_head(self) -> None:
        """Warm up only the head (its encoder is already warm, serving another bot)."""
        for rows in (1, len(WARM_UP_TEXTS)):
            self.score_features(np.zeros((rows, self.dim), dtype=np.float32))


def predict_together(groups: Sequence[tuple[IntentModel, Sequence[str]]]) -> list[Prediction]:
    """One encoder run for the texts of several models sharing one `EncoderRuntime` (each
    text tokenised by its own model), then each model's head on its rows: the same answers
    as `model.predict(texts)` one model at a time."""
    if not groups:
        return []
    runtime = groups[0][0].encoder
    if any(model.encoder is not runtime for model, _ in groups):
        raise ValueError("predict_together needs models sharing one encoder runtime")
    encodings = [model.tokenize(texts) if texts else [] for model, texts in groups]
    flat = [encoding for part in encodings for encoding in part]
    # Token states only when one of the models extracts entities: one pass serves all.
    states: list[np.ndarray] | None = None
    if flat and any(model.has_entities for model, _ in groups):
        features, states = runtime.encode_with_tokens(flat)
    else:
        features = runtime.encode(flat, FEATURES_OUTPUT, runtime.dim)
    answers = []
    start = 0
    for (model, texts), part in zip(groups, encodings, strict=True):
        end = start + len(part)
        tokens = None if states is None else (texts, states[start:end])
        answers.append(model.answer(part, features[start:end], tokens))
        start = end
    return answers
