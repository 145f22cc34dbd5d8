"""Features for a list of texts: what the cache has, and the encoder for the rest."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intent_server.core.model_card import EncoderIdentity
from trainer.features.cache import EmbeddingCache
from trainer.features.onnx_features import onnx_encode
from trainer.features.torch_features import encode


@dataclass(frozen=True)
class EmbedStats:
    vectors: np.ndarray  # [N, feature_dim], in the input order
    cached: int  # texts found in the cache
    embedded: int  # distinct texts the encoder ran on
    seconds: float


def features(texts: Sequence[str], identity: EncoderIdentity, graph_dir: Path) -> np.ndarray:
    """The head's features: onnxruntime over the identity's graph cached in `graph_dir`
    (faster, the same numbers), torch when that graph fails its parity check."""
    vectors = onnx_encode(texts, identity, graph_dir)
    return encode(texts, identity) if vectors is None else vectors


def embed_with_stats(
    texts: Sequence[str], identity: EncoderIdentity, cache: EmbeddingCache | None
) -> EmbedStats:
    """Embed texts, taking what the cache has and embedding (then caching) only the rest."""
    start = time.perf_counter()
    if cache is None:
        vectors = encode(texts, identity)  # no cache folder: nothing written, torch
        return EmbedStats(vectors, 0, len(texts), time.perf_counter() - start)
    found, missing = cache.lookup(texts)
    unique_missing = list(dict.fromkeys(texts[i] for i in missing))
    if unique_missing:
        fresh = features(unique_missing, identity, cache.cache_dir)
        cache.add(unique_missing, fresh)
        row_of = {text: row for row, text in enumerate(unique_missing)}
        for i in missing:
            found[i] = fresh[row_of[texts[i]]]
    return EmbedStats(
        found, len(texts) - len(missing), len(unique_missing), time.perf_counter() - start
    )
