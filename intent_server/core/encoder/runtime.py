"""An encoder's ONNX sessions, shareable by several models: padding, runs and the texts of
a batch side by side (see `intent_server.core.intent_model` for why INT8 runs text by text).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding

from intent_server.core.errors import ExportError
from intent_server.core.layout import (
    ENCODER_INPUTS,
    FEATURES_OUTPUT,
    SENTENCE_OUTPUT,
    TOKEN_STATES_OUTPUT,
)


def make_session(path: Path, threads: int = 1, *, arena: bool = True) -> ort.InferenceSession:
    """An ORT CPU session with explicit threading (ORT's defaults follow the host, not us).

    With several threads the workers spin only while a run is in progress: the hand-offs
    between one text's parallel sections then cost microseconds instead of a wake-up each
    (measured on 2 CPUs: 3.3 -> 2.0 ms per text). `force_spinning_stop` parks them as soon
    as the run ends, so sparse traffic and idle servers burn no core and the gRPC threads
    get the CPU. Without it, or with spinning off, two threads were slower than one.

    `arena=False` for small sessions kept by the thousand (heads): onnxruntime's memory arena
    keeps about 1 MB per session beyond its weights (measured: 7.8 -> 6.8 MB a head).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = arena
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if threads > 1 else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.force_spinning_stop", spin)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises untyped errors for unreadable models
        raise ExportError(f"{path} cannot be loaded by onnxruntime: {exc}") from exc


def pad_batch(encodings: Sequence[Encoding]) -> tuple[np.ndarray, np.ndarray]:
    """`input_ids` and `attention_mask` [N, longest] int64, zero-padded on the right."""
    longest = max(len(encoding.ids) for encoding in encodings)
    ids = np.zeros((len(encodings), longest), dtype=np.int64)
    mask = np.zeros((len(encodings), longest), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = encoding.attention_mask
    return ids, mask


def width_of(shape: Sequence[object]) -> int:
    """The fixed last dimension of an ONNX tensor shape (0 when symbolic)."""
    last = shape[-1] if shape else None
    return last if isinstance(last, int) else 0


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
    if len(rows) == 1:  # one text needs no padding: a view, no copy
        return rows[0][np.newaxis]
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


class EncoderRuntime:
    """One encoder file's sessions: the model's own (`threads` threads) and, once batches
    run side by side, the `ParallelRows` one-thread session. Bots whose exports carry the
    same encoder share one of these (`serving.encoders.EncoderPool`); it holds no tokenizer
    and no head, so its answers depend only on the encodings it is given."""

    def __init__(self, encoder: Path, *, variant: str = "fp32", threads: int = 1) -> None:
        self.path = encoder
        self.threads = threads
        self.row_wise = variant == "int8"
        self._session = make_session(encoder, threads)
        self._parallel: ParallelRows | None = None
        names = tuple(feed.name for feed in self._session.get_inputs())
        if sorted(names) != sorted(ENCODER_INPUTS):
            raise ExportError(f"{encoder} takes inputs {names}, expected {ENCODER_INPUTS}")
        outputs = {output.name: output for output in self._session.get_outputs()}
        if {FEATURES_OUTPUT, SENTENCE_OUTPUT} - set(outputs):
            raise ExportError(
                f"{encoder} has outputs {sorted(outputs)}, expected {SENTENCE_OUTPUT!r} and "
                f"{FEATURES_OUTPUT!r}; re-export the model"
            )
        self.dim = width_of(outputs[FEATURES_OUTPUT].shape)
        self.sentence_dim = width_of(outputs[SENTENCE_OUTPUT].shape)
        # Exports from before entities have no token states (they serve intents only).
        self.has_token_states = TOKEN_STATES_OUTPUT in outputs

    def open_parallel_rows(self, workers: int) -> ParallelRows:
        return ParallelRows(self.path, workers)

    @property
    def parallel_rows(self) -> ParallelRows | None:
        return self._parallel

    def use_parallel_rows(self, rows: ParallelRows | None) -> None:
        self._parallel = rows

    def encode(self, encodings: Sequence[Encoding], output: str, width: int) -> np.ndarray:
        """`output` [N, width] of `encodings`: one padded run (fp32), or one text at a time
        (INT8), one after another or side by side."""
        if not encodings:
            return np.zeros((0, width), dtype=np.float32)
        if not self.row_wise:
            return run_encoder(self._session, encodings, output)
        parallel = self._parallel
        if parallel is not None and len(encodings) > 1:
            return parallel.run(encodings, output)
        rows = [run_encoder(self._session, [encoding], output) for encoding in encodings]
        return np.concatenate(rows, axis=0)

    def encode_with_tokens(
        self, encodings: Sequence[Encoding]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Features [N, dim] and each text's token states [T_i, H], in one encoder pass."""
        wanted = [FEATURES_OUTPUT, TOKEN_STATES_OUTPUT]
        if not self.row_wise:
            features, states = run_encoder_outputs(self._session, encodings, wanted)
            return features, [states[i, : len(e.ids)] for i, e in enumerate(encodings)]
        parallel = self._parallel
        if parallel is not None and len(encodings) > 1:
            rows = parallel.run_outputs(encodings, wanted)
        else:
            rows = [run_encoder_outputs(self._session, [e], wanted) for e in encodings]
        return np.concatenate([row[0] for row in rows]), [row[1][0] for row in rows]
