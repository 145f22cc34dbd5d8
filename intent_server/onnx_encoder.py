"""The runtime model: fast tokenizer + ONNX encoder + ONNX head, no torch.

One text is encoded without padding (padding every input to 128 tokens costs ~6x latency);
a batch is padded to its longest text with numpy, never by reconfiguring the shared
tokenizer, so concurrent callers are safe. Mean pooling with the attention mask inside the
encoder graph makes padding harmless: batched fp32 results equal single ones.

The INT8 encoder quantizes activations dynamically with one scale per tensor, so a text's
embedding would depend on the other texts in its batch. It therefore runs one text at a
time: results stay identical to single calls, and on one core batching INT8 gains nothing
(measured: 199 texts/s batched vs 207 one by one; fp32: 170 vs 107).

The encoder has two outputs: `features` (what the head reads: pooled, normalised hidden
states of several layers, e.g. 1152-d) and `sentence_embedding` (the standard 384-d
all-MiniLM-L6-v2 embedding). `embed` returns the features, so `classify_embeddings(embed(x))`
equals `predict(x)`; `sentence_embeddings` returns the standard embedding. An export from
before `features` existed has only `sentence_embedding`, which its head reads: it is used as
the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from intent_server.decision import Thresholds
from intent_server.export_loader import ExportError, LoadedExport

ENCODER_INPUTS = ("input_ids", "attention_mask")
FEATURES_OUTPUT = "features"
SENTENCE_OUTPUT = "sentence_embedding"
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


class IntentModel:
    """One loaded export: `predict(texts)` gives class probabilities in manifest label order."""

    def __init__(self, export: LoadedExport, threads: int = 1) -> None:
        self.export = export
        self.labels: tuple[str, ...] = export.labels
        self.thresholds: Thresholds = export.thresholds
        self.version: str = export.version
        self.name: str = export.name
        self.encoder_variant: str = export.encoder_variant
        self.max_tokens: int = export.max_tokens
        self._tokenizer = load_tokenizer(export.tokenizer_path, export.max_tokens)
        self._encoder = make_session(export.encoder_path, threads)
        self._head = make_session(export.head_path, threads)
        names = tuple(feed.name for feed in self._encoder.get_inputs())
        if sorted(names) != sorted(ENCODER_INPUTS):
            raise ExportError(
                f"{export.encoder_path} takes inputs {names}, expected {ENCODER_INPUTS}"
            )
        self._head_input = self._head.get_inputs()[0].name
        outputs = {output.name: output for output in self._encoder.get_outputs()}
        if SENTENCE_OUTPUT not in outputs:
            raise ExportError(
                f"{export.encoder_path} has outputs {sorted(outputs)}, expected "
                f"{SENTENCE_OUTPUT!r} (and {FEATURES_OUTPUT!r}); re-export the model"
            )
        self._features_output = FEATURES_OUTPUT if FEATURES_OUTPUT in outputs else SENTENCE_OUTPUT
        self.dim = _width(outputs[self._features_output].shape)
        self.sentence_dim = _width(outputs[SENTENCE_OUTPUT].shape)
        head_width = _width(self._head.get_inputs()[0].shape)
        if self.dim <= 0 or self.dim != head_width:
            raise ExportError(
                f"{export.head_path} reads {head_width}-d inputs but {export.encoder_path} "
                f"produces {self.dim}-d {self._features_output!r}; the head was trained on "
                "other features: re-export the model"
            )
        self.row_wise = export.encoder_variant == "int8"

    def tokenize(self, texts: Sequence[str]) -> tuple[list[Encoding], list[bool]]:
        """Encodings (truncated at max_tokens) and whether each text was truncated."""
        if len(texts) == 1:
            encodings = [self._tokenizer.encode(texts[0])]
        else:
            encodings = self._tokenizer.encode_batch(list(texts))
        return encodings, [bool(encoding.overflowing) for encoding in encodings]

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """The head's input features [N, dim] float32 and truncated flags."""
        return self._encode(texts, self._features_output, self.dim)

    def sentence_embeddings(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Standard L2-normalised sentence embeddings [N, sentence_dim] and truncated flags."""
        return self._encode(texts, SENTENCE_OUTPUT, self.sentence_dim)

    def _encode(
        self, texts: Sequence[str], output: str, width: int
    ) -> tuple[np.ndarray, list[bool]]:
        if not texts:
            return np.zeros((0, width), dtype=np.float32), []
        encodings, truncated = self.tokenize(texts)
        if self.row_wise:
            rows = [self._run_encoder([encoding], output) for encoding in encodings]
            return np.concatenate(rows, axis=0), truncated
        return self._run_encoder(encodings, output), truncated

    def _run_encoder(self, encodings: Sequence[Encoding], output: str) -> np.ndarray:
        ids, mask = pad_batch(encodings)
        result = self._encoder.run([output], {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(result, dtype=np.float32)

    def classify_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Head probabilities [N, C] for embeddings [N, dim]."""
        if len(embeddings) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        output = self._head.run(None, {self._head_input: embeddings.astype(np.float32)})[0]
        return np.asarray(output, dtype=np.float32)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Class probabilities [N, C] (manifest label order) and truncated flags."""
        embeddings, truncated = self.embed(texts)
        return self.classify_embeddings(embeddings), truncated

    def warm_up(self) -> None:
        """Run a few lengths and a batch so the first real request pays no allocation cost."""
        for text in WARM_UP_TEXTS:
            self.predict([text])
        self.predict(list(WARM_UP_TEXTS))
