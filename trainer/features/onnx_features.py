"""The head's features through onnxruntime: the encoder traced once to an fp32 ONNX graph
(the exporter's own `export_encoder`), cached on disk, checked against torch before use.

On the 2-CPU build machine ORT embeds CLINC150's 18,000 texts faster than torch does (see
docs/research/training-speed.md); the features are the same to
~1e-6. The graph lives in the embedding cache folder, named by the encoder's cache key,
its layer count (a truncated encoder gets its own graph) and the opset; a sidecar JSON
holds the same key and the graph's sha256. A file that does not match is rebuilt, and a
graph whose features differ from torch's on a few texts is not used: `onnx_encode` returns
None and the caller embeds with torch.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from intent_server.core.errors import ExportError
from intent_server.core.files import atomic_write, sha256_file
from intent_server.core.layout import FEATURES_OUTPUT
from intent_server.core.model_card import EncoderIdentity
from trainer.features.cache import cache_unwritable, file_stem
from trainer.features.torch_features import encode_threads, load_encoder, torch_features
from trainer.logs import progress

if TYPE_CHECKING:
    import onnxruntime as ort
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

ORT_BATCH = 128  # 64 and 128 measured alike (docs/research/training-speed.md); torch uses 128 too
PARITY_TEXTS = 8  # texts checked against torch before a graph is used
PARITY_MAX_ABS_DIFF = 1e-4
_PROBES = ("ok", "Could you please move my 3:30 meeting to Thursday afternoon?", "naïve café")
_SESSIONS: dict[Path, ort.InferenceSession | None] = {}  # None: the graph cannot be written


class GraphMismatch(Exception):
    """The cached graph is not the one this encoder identity needs."""


def graph_path(cache_dir: Path, identity: EncoderIdentity) -> Path:
    """Where the identity's fp32 graph is cached (inside the embedding cache folder)."""
    from intent_server.core.layout import DEFAULT_OPSET

    return (
        Path(cache_dir) / f"{file_stem(identity)}-L{identity.num_layers}-opset{DEFAULT_OPSET}.onnx"
    )


def _stamp(identity: EncoderIdentity, path: Path) -> dict[str, Any]:
    return {"key": identity.cache_key(), "num_layers": identity.num_layers, "name": path.name}


def build_graph(model: SentenceTransformer, identity: EncoderIdentity, path: Path) -> None:
    """Trace the loaded encoder (eager attention: the pattern ORT's fusions recognise) with
    the exporter's `export_encoder`, then publish graph and sidecar atomically."""
    from trainer.features.onnx_graph import export_encoder

    path.parent.mkdir(parents=True, exist_ok=True)
    transformer = getattr(model[0], "auto_model")  # noqa: B009 - untyped ST attribute
    was = transformer.config._attn_implementation
    transformer.set_attn_implementation("eager")
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".graph-") as scratch:
            traced = Path(scratch) / "encoder.onnx"
            export_encoder(transformer, identity, traced)
            atomic_write(path, traced.read_bytes())
    finally:
        transformer.set_attn_implementation(was)
    stamp = _stamp(identity, path) | {"sha256": sha256_file(path)}
    atomic_write(path.with_suffix(".json"), json.dumps(stamp, sort_keys=True))


def _open_graph(identity: EncoderIdentity, path: Path) -> ort.InferenceSession:
    """A session over the cached graph; GraphMismatch when graph or sidecar do not match."""
    from intent_server.core.encoder.runtime import make_session

    try:
        stamp = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        if not isinstance(stamp, dict):
            raise GraphMismatch("unreadable sidecar")
        if {k: stamp.get(k) for k in ("key", "num_layers", "name")} != _stamp(identity, path):
            raise GraphMismatch("written for another encoder")
        if stamp.get("sha256") != sha256_file(path):
            raise GraphMismatch("checksum mismatch")
        return make_session(path, encode_threads())
    except (OSError, ValueError, ExportError) as exc:
        raise GraphMismatch(str(exc)) from exc


def _run(
    session: ort.InferenceSession, model: SentenceTransformer, texts: Sequence[str]
) -> np.ndarray:
    """Features [len(texts), feature_dim] of one batch, tokenised as the torch path does."""
    batch = model.tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=model.max_seq_length,
        return_tensors="np",
    )
    feeds = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
    return np.asarray(session.run([FEATURES_OUTPUT], feeds)[0], dtype=np.float32)


def parity_gap(
    session: ort.InferenceSession,
    model: SentenceTransformer,
    identity: EncoderIdentity,
    texts: Sequence[str],
) -> float:
    """Largest |ORT - torch| over the features of `texts` (one padded batch)."""
    import torch

    with torch.inference_mode():
        reference = torch_features(model, list(texts), identity).float().numpy()
    return float(np.abs(_run(session, model, texts) - reference).max())


def checked_session(
    identity: EncoderIdentity, cache_dir: Path, sample: Sequence[str]
) -> ort.InferenceSession | None:
    """The identity's graph (built if missing or not matching) once its features match
    torch's on `sample`'s first texts and a few probes; None (with a warning) otherwise."""
    path = graph_path(cache_dir, identity)
    if path in _SESSIONS:
        return _SESSIONS[path]
    model = load_encoder(identity)
    texts = list(dict.fromkeys([*sample[:PARITY_TEXTS], *_PROBES]))
    try:
        session = _open_graph(identity, path)
    except GraphMismatch as exc:
        if path.exists():
            log.warning("cached encoder graph %s ignored (%s); rebuilding it", path, exc)
        try:
            build_graph(model, identity, path)
        except OSError as error:  # a full disk: embed with torch, which needs no file
            cache_unwritable(cache_dir, error)
            _SESSIONS[path] = None
            return None
        session = _open_graph(identity, path)
    gap = parity_gap(session, model, identity, texts)
    if gap > PARITY_MAX_ABS_DIFF:
        log.warning(
            "warning: the ONNX encoder graph %s differs from torch by %.2g (bar %.0e); "
            "embedding with torch instead",
            path,
            gap,
            PARITY_MAX_ABS_DIFF,
        )
        return None
    _SESSIONS[path] = session
    return session


def onnx_encode(
    texts: Sequence[str], identity: EncoderIdentity, cache_dir: Path
) -> np.ndarray | None:
    """The head's features [N, feature_dim] in the input order, as `encoding.encode` gives
    them, computed by onnxruntime; None when the graph failed its parity check."""
    if not texts:
        return np.zeros((0, identity.feature_dim), dtype=np.float32)
    session = checked_session(identity, cache_dir, texts)
    if session is None:
        return None
    model = load_encoder(identity)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), identity.feature_dim), dtype=np.float32)
    with progress(total=len(texts), desc="embedding", unit="text") as bar:
        for start in range(0, len(order), ORT_BATCH):
            rows = order[start : start + ORT_BATCH]
            out[rows] = _run(session, model, [texts[i] for i in rows])
            bar.update(len(rows))
    return out
