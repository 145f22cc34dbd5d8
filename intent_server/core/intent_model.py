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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.runtime import EntityExtractor
from intent_server.core.errors import ExportError
from intent_server.core.layout import (
    ENCODER_INPUTS,
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


def make_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An ORT CPU session with explicit threading (ORT's defaults follow the host, not us).

    With several threads the workers spin only while a run is in progress: the hand-offs
    between one text's parallel sections then cost microseconds instead of a wake-up each
    (measured on 2 CPUs: 3.3 -> 2.0 ms per text). `force_spinning_stop` parks them as soon
    as the run ends, so sparse traffic and idle servers burn no core and the gRPC threads
    get the CPU. Without it, or with spinning off, two threads were slower than one.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if threads > 1 else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.force_spinning_stop", spin)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises untyped errors for unreadable models
        raise ExportError(f"{path} cannot be loaded by onnxruntime: {exc}") from exc


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


def pad_batch(encodings: Sequence[Encoding]) -> tuple[np.ndarray, np.ndarray]:
    """`input_ids` and `attention_mask` [N, longest] int64, zero-padded on the right."""
    longest = max(len(encoding.ids) for encoding in encodings)
    ids = np.zeros((len(encodings), longest), dtype=np.int64)
    mask = np.zeros((len(encodings), longest), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = encoding.attention_mask
    return ids, mask


def _width(shape: Sequence[object]) -> int:
    """The fixed last dimension of an ONNX tensor shape (0 when symbolic)."""
    last = shape[-1] if shape else None
    return last if isinstance(last, int) else 0


def _head_widths(head: ort.InferenceSession, path: Path) -> tuple[int, int]:
    """(input width, number of classes) of a head session; runs it once if the class count
    is symbolic."""
    feed = head.get_inputs()[0]
    width = _width(feed.shape)
    if width <= 0:
        raise ExportError(f"{path}: the head input width is not fixed ({feed.shape})")
    classes = _width(head.get_outputs()[0].shape)
    if classes <= 0:
        sample = np.zeros((1, width), dtype=np.float32)
        classes = int(head.run(None, {feed.name: sample})[0].shape[-1])
    return width, classes


def head_shape(path: Path) -> tuple[int, int]:
    """(input width, number of classes) of a head ONNX file (a one-thread, one-off session)."""
    return _head_widths(make_session(path, threads=1), path)


def run_encoder(
    session: ort.InferenceSession, encodings: Sequence[Encoding], output: str
) -> np.ndarray:
    """One encoder run over `encodings` (padded to the longest): `output` [N, width] float32."""
    return run_encoder_outputs(session, encodings, [output])[0]


def run_encoder_outputs(
    session: ort.InferenceSession, encodings: Sequence[Encoding], outputs: list[str]
) -> list[np.ndarray]:
    """One encoder run over `encodings` (padded to the longest), the named outputs float32."""
    ids, mask = pad_batch(encodings)
    results = session.run(outputs, {"input_ids": ids, "attention_mask": mask})
    return [np.asarray(result, dtype=np.float32) for result in results]


def pad_states(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Token states of texts [T_i, H] as one zero-padded batch [N, longest, H]."""
    longest = max(len(row) for row in rows)
    out = np.zeros((len(rows), longest, rows[0].shape[1]), dtype=np.float32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


class ParallelRows:
    """A batch's texts run side by side on `workers` threads (the caller's among them), each
    text alone on one shared one-thread session (ORT runs are thread-safe and release the
    GIL). Longest texts are dealt out first, round robin, so the threads finish together."""

    def __init__(self, encoder: Path, workers: int) -> None:
        if workers < 2:
            raise ValueError(f"parallel rows need at least 2 workers, got {workers}")
        self.workers = workers
        self._session = make_session(encoder, threads=1)
        self._pool = ThreadPoolExecutor(workers - 1, thread_name_prefix="encoder-rows")

    def _rows(self, encodings: Sequence[Encoding], rows: list[int], output: str) -> np.ndarray:
        return np.concatenate([run_encoder(self._session, [encodings[i]], output) for i in rows])

    def _row_outputs(
        self, encodings: Sequence[Encoding], rows: list[int], outputs: list[str]
    ) -> list[list[np.ndarray]]:
        return [run_encoder_outputs(self._session, [encodings[i]], outputs) for i in rows]

    def run_outputs(
        self, encodings: Sequence[Encoding], outputs: list[str]
    ) -> list[list[np.ndarray]]:
        """The named outputs of each encoding run alone (rows of 1), in their order."""
        shares = self._shares(encodings)
        others = [
            self._pool.submit(self._row_outputs, encodings, share, outputs) for share in shares[1:]
        ]
        parts = [self._row_outputs(encodings, shares[0], outputs), *(p.result() for p in others)]
        out: list[list[np.ndarray]] = [[] for _ in encodings]
        for share, part in zip(shares, parts, strict=True):
            for row, values in zip(share, part, strict=True):
                out[row] = values
        return out

    def _shares(self, encodings: Sequence[Encoding]) -> list[list[int]]:
        longest_first = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        shares = [longest_first[w :: self.workers] for w in range(self.workers)]
        return [share for share in shares if share]

    def run(self, encodings: Sequence[Encoding], output: str) -> np.ndarray:
        """`output` [N, width] for every encoding, in their order."""
        shares = self._shares(encodings)
        others = [self._pool.submit(self._rows, encodings, share, output) for share in shares[1:]]
        parts = [self._rows(encodings, shares[0], output), *(part.result() for part in others)]
        out = np.empty((len(encodings), parts[0].shape[1]), dtype=np.float32)
        for share, part in zip(shares, parts, strict=True):
            out[share] = part
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False)


class IntentModel:
    """One export's ONNX files: `predict(texts)` gives class probabilities in label order."""

    def __init__(
        self,
        encoder: Path,
        head: Path,
        tokenizer: Path,
        max_tokens: int,
        *,
        variant: str = "fp32",
        threads: int = 1,
        entity_head: Path | None = None,
        entities: EntityHeadInfo | None = None,
    ) -> None:
        self._tokenizer = load_tokenizer(tokenizer, max_tokens)
        self.lowercases = lowercases(self._tokenizer)
        self._encoder_path = encoder
        self.threads = threads
        self._encoder = make_session(encoder, threads)
        self._parallel: ParallelRows | None = None
        self._head = make_session(head, threads)
        names = tuple(feed.name for feed in self._encoder.get_inputs())
        if sorted(names) != sorted(ENCODER_INPUTS):
            raise ExportError(f"{encoder} takes inputs {names}, expected {ENCODER_INPUTS}")
        outputs = {output.name: output for output in self._encoder.get_outputs()}
        if {FEATURES_OUTPUT, SENTENCE_OUTPUT} - set(outputs):
            raise ExportError(
                f"{encoder} has outputs {sorted(outputs)}, expected {SENTENCE_OUTPUT!r} and "
                f"{FEATURES_OUTPUT!r}; re-export the model"
            )
        self.dim = _width(outputs[FEATURES_OUTPUT].shape)
        self.sentence_dim = _width(outputs[SENTENCE_OUTPUT].shape)
        self._head_input = self._head.get_inputs()[0].name
        head_outputs = {output.name for output in self._head.get_outputs()}
        # Heads exported with a familiarity bank also score how close a text is to the
        # training examples; the output list is fixed here so each call names it once.
        self.has_familiarity = FAMILIARITY_OUTPUT in head_outputs
        self._head_outputs = [HEAD_OUTPUT] + ([FAMILIARITY_OUTPUT] if self.has_familiarity else [])
        head_width, self.classes = _head_widths(self._head, head)
        if self.dim <= 0 or self.dim != head_width:
            raise ExportError(
                f"{head} reads {head_width}-d inputs but {encoder} produces {self.dim}-d "
                f"{FEATURES_OUTPUT!r}; the head was trained on other features: re-export the model"
            )
        self.row_wise = variant == "int8"
        self.entities: EntityExtractor | None = None
        if entity_head is not None and entities is not None:
            if TOKEN_STATES_OUTPUT not in outputs:
                raise ExportError(
                    f"{encoder} has no {TOKEN_STATES_OUTPUT!r} output for the entity head "
                    f"{entity_head}; re-export the model"
                )
            self.entities = EntityExtractor(
                make_session(entity_head, threads), entity_head, entities
            )

    @property
    def has_entities(self) -> bool:
        """An entity head runs on each text (its answers depend on the exact characters)."""
        return self.entities is not None

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
        return self._encode_with_tokens(encodings)[1] if encodings else []

    def sentence_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Standard L2-normalised sentence embeddings [N, sentence_dim]."""
        return self._encode(self.tokenize(texts), SENTENCE_OUTPUT, self.sentence_dim)

    def open_parallel_rows(self, workers: int) -> ParallelRows:
        """A one-thread session of this encoder and `workers` threads to run a batch's texts
        side by side (about 25 MB for INT8); `use_parallel_rows` puts it to use."""
        return ParallelRows(self._encoder_path, workers)

    @property
    def parallel_rows(self) -> ParallelRows | None:
        return self._parallel

    def use_parallel_rows(self, rows: ParallelRows | None) -> None:
        """Run the texts of a batch side by side on `rows` (None: one after the other). Only
        the INT8 encoder runs texts one by one; for fp32 batches this changes nothing."""
        self._parallel = rows

    def _encode(self, encodings: Sequence[Encoding], output: str, width: int) -> np.ndarray:
        if not encodings:
            return np.zeros((0, width), dtype=np.float32)
        if not self.row_wise:
            return run_encoder(self._encoder, encodings, output)
        parallel = self._parallel
        if parallel is not None and len(encodings) > 1:
            return parallel.run(encodings, output)
        rows = [run_encoder(self._encoder, [encoding], output) for encoding in encodings]
        return np.concatenate(rows, axis=0)

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

    def _encode_with_tokens(
        self, encodings: Sequence[Encoding]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Features [N, dim] and each text's token states [T_i, H], in one encoder pass."""
        wanted = [FEATURES_OUTPUT, TOKEN_STATES_OUTPUT]
        if not self.row_wise:
            features, states = run_encoder_outputs(self._encoder, encodings, wanted)
            return features, [states[i, : len(e.ids)] for i, e in enumerate(encodings)]
        parallel = self._parallel
        if parallel is not None and len(encodings) > 1:
            rows = parallel.run_outputs(encodings, wanted)
        else:
            rows = [run_encoder_outputs(self._encoder, [e], wanted) for e in encodings]
        return np.concatenate([row[0] for row in rows]), [row[1][0] for row in rows]

    def predict(self, texts: Sequence[str]) -> Prediction:
        """Class probabilities (label order), familiarity, whether each text was truncated,
        and with an entity head each text's entities (token states fetched only then)."""
        encodings = self.tokenize(texts)
        entities = None
        if self.entities is None or not encodings:
            features = self._encode(encodings, FEATURES_OUTPUT, self.dim)
        else:
            features, states = self._encode_with_tokens(encodings)
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
