"""On-disk feature cache: one file per encoder identity (weights, max length, feature layers),
keyed by the exact example text.

File layout (little-endian):
    magic  b"INTEMB01"
    uint32 header length, then the header as UTF-8 JSON:
           {"identity": {...}, "key": ..., "dim": D, "count": N, "payload_sha256": ...}
    payload: N x 32 bytes (sha256 of each text), then N x D float32 vectors

Anything that does not match exactly (magic, identity, dim, sizes, checksum) is reported
and ignored; the next write replaces the file. Writes are atomic (`core.files.atomic_write`).
The cache is only a speed-up: when its folder cannot be written (a full disk), training goes
on without it after one warning (`cache_unwritable`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from intent_server.core.files import atomic_write
from intent_server.core.model_card import EncoderIdentity
from trainer.errors import make_room, write_failure

log = logging.getLogger(__name__)

MAGIC = b"INTEMB01"
HASH_BYTES = 32
_UNWRITABLE: set[Path] = set()  # cache folders already warned about


def cache_unwritable(cache_dir: Path, exc: OSError) -> None:
    """Warn, once per folder and process, that the cache cannot be written."""
    folder = Path(cache_dir).resolve()
    if folder in _UNWRITABLE:
        return
    _UNWRITABLE.add(folder)
    log.warning(
        "warning: the embedding cache cannot be written (%s); training carries on without "
        "caching, only slower next time: %s, or pass another --cache-dir",
        write_failure(exc, Path(cache_dir)),
        make_room(exc),
    )


class CacheFormatError(Exception):
    """The file is not a trustworthy cache for this encoder."""


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def file_stem(identity: EncoderIdentity) -> str:
    """`NAME-KEY` for files cached per encoder identity (the name made safe for any disk)."""
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in identity.name)
    return f"{safe_name}-{identity.cache_key()}"


def default_cache_dir() -> Path:
    """`.cache/embeddings/` at the project root (next to pyproject.toml), else in the cwd."""
    root = Path(__file__).resolve().parents[2]
    base = root if (root / "pyproject.toml").is_file() else Path.cwd()
    return base / ".cache" / "embeddings"


class EmbeddingCache:
    """Cached embeddings of one encoder identity, loaded lazily from `cache_dir`."""

    def __init__(self, cache_dir: Path, identity: EncoderIdentity) -> None:
        self.cache_dir = Path(cache_dir)
        self.identity = identity
        self.path = self.cache_dir / f"{file_stem(identity)}.bin"
        self.status = "not loaded"  # how the file was found when first read
        self._keys: np.ndarray = np.zeros((0, HASH_BYTES), dtype=np.uint8)
        self._vectors: np.ndarray = np.zeros((0, identity.feature_dim), dtype=np.float32)
        self._row: dict[bytes, int] | None = None
        self._writable = True

    def _load(self) -> dict[bytes, int]:
        if self._row is not None:
            return self._row
        self._row = {}
        if not self.path.exists():
            self.status = "missing"
            return self._row
        try:
            keys, vectors = read_cache_file(self.path, self.identity)
        except (CacheFormatError, OSError) as exc:
            self.status = f"rebuilt: {exc}"
            log.warning("embedding cache %s ignored (%s); rebuilding it", self.path, exc)
            return self._row
        self._keys, self._vectors = keys, vectors
        self._row = {keys[i].tobytes(): i for i in range(len(keys))}
        self.status = "ok"
        return self._row

    def __len__(self) -> int:
        return len(self._load())

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """Vectors [N, dim] (zeros where unknown) and the indices of texts not in the cache."""
        rows = self._load()
        out = np.zeros((len(texts), self.identity.feature_dim), dtype=np.float32)
        missing: list[int] = []
        hits_at: list[int] = []
        hit_rows: list[int] = []
        for i, text in enumerate(texts):
            row = rows.get(text_key(text))
            if row is None:
                missing.append(i)
            else:
                hits_at.append(i)
                hit_rows.append(row)
        if hits_at:
            out[hits_at] = self._vectors[hit_rows]
        return out, missing

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add (text, vector) rows and rewrite the file atomically."""
        rows = self._load()
        if vectors.shape != (len(texts), self.identity.feature_dim):
            raise ValueError(f"expected {len(texts)} x {self.identity.feature_dim} vectors")
        add_keys: list[bytes] = []
        add_rows: list[int] = []
        seen: set[bytes] = set()
        for i, text in enumerate(texts):
            key = text_key(text)
            if key not in rows and key not in seen:
                seen.add(key)
                add_keys.append(key)
                add_rows.append(i)
        if not add_keys:
            return
        key_arr = np.frombuffer(b"".join(add_keys), dtype=np.uint8).reshape(-1, HASH_BYTES)
        vec_arr = vectors[add_rows].astype(np.float32)
        self._keys = np.concatenate([self._keys, key_arr])
        self._vectors = np.concatenate([self._vectors, vec_arr])
        for k in add_keys:
            rows[k] = len(rows)
        if not self._writable:
            return
        try:
            write_cache_file(self.path, self.identity, self._keys, self._vectors)
        except OSError as exc:  # a full disk: the vectors are in memory, carry on
            self._writable = False
            cache_unwritable(self.cache_dir, exc)


def _header(identity: EncoderIdentity, count: int, payload_sha: str) -> bytes:
    header = {
        "identity": identity.to_json() | {"path": ""},
        "key": identity.cache_key(),
        "dim": identity.feature_dim,
        "count": count,
        "payload_sha256": payload_sha,
    }
    return json.dumps(header, sort_keys=True).encode("utf-8")


def write_cache_file(
    path: Path, identity: EncoderIdentity, keys: np.ndarray, vectors: np.ndarray
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = np.ascontiguousarray(keys, dtype=np.uint8).tobytes()
    vec_bytes = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
    digest = hashlib.sha256(key_bytes)
    digest.update(vec_bytes)
    header = _header(identity, len(keys), digest.hexdigest())
    atomic_write(path, MAGIC + struct.pack("<I", len(header)) + header, key_bytes, vec_bytes)


def read_cache_file(path: Path, identity: EncoderIdentity) -> tuple[np.ndarray, np.ndarray]:
    """Keys [N, 32] uint8 and vectors [N, dim] float32; CacheFormatError if not trustworthy."""
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise CacheFormatError("bad magic: not an embedding cache file")
    (header_len,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + header_len].decode("utf-8"))
        count, dim = int(header["count"]), int(header["dim"])
        stored_identity = dict(header["identity"])
        payload_sha = str(header["payload_sha256"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CacheFormatError(f"unreadable header ({exc})") from exc
    # Depth aside (see `EncoderIdentity.cache_key`: a cut encoder's features are the full
    # one's), the writer's identity must be this one.
    depth = {"path": "", "num_layers": None}
    expected = identity.to_json() | depth
    if stored_identity | depth != expected or header.get("key") != identity.cache_key():
        raise CacheFormatError("written by a different encoder")
    if dim != identity.feature_dim:
        raise CacheFormatError(f"dimension {dim} != encoder's {identity.feature_dim}")
    body = memoryview(data)[start + header_len :]
    key_len, vec_len = count * HASH_BYTES, count * dim * 4
    if len(body) != key_len + vec_len:
        raise CacheFormatError(f"truncated: {len(body)} payload bytes, {key_len + vec_len} needed")
    if hashlib.sha256(body).hexdigest() != payload_sha:
        raise CacheFormatError("checksum mismatch")
    keys = np.frombuffer(body[:key_len], dtype=np.uint8).reshape(count, HASH_BYTES)
    vectors = np.frombuffer(body[key_len:], dtype="<f4").reshape(count, dim)
    return keys.copy(), vectors.astype(np.float32)
