"""Embedding cache: hits, atomic rewrite, and files it must never trust."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from intent_server.core.model_card import EncoderIdentity
from tests.fixtures.disks import fill_up
from trainer.features.cache import (
    CacheFormatError,
    EmbeddingCache,
    read_cache_file,
    write_cache_file,
)
from trainer.features.extract import embed_with_stats
from trainer.features.identity import encoder_identity

TEXTS = ["set an alarm for 7", "what is my balance", "play some jazz"]


def fake_identity(dim: int = 4) -> EncoderIdentity:
    return EncoderIdentity(
        "fake", "/nowhere", "ab" * 32, dim, 128, feature_layers=(1,), num_layers=1
    )


def keys_and_vectors(n: int, dim: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    return keys, rng.normal(size=(n, dim)).astype(np.float32)


def test_round_trip(tmp_path: Path) -> None:
    keys, vectors = keys_and_vectors(50)
    path = tmp_path / "c.bin"
    write_cache_file(path, fake_identity(), keys, vectors)
    got_keys, got_vectors = read_cache_file(path, fake_identity())
    assert np.array_equal(got_keys, keys) and np.array_equal(got_vectors, vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["c.bin"]  # no temp file left


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) - 7], "truncated"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum"),
        (lambda b: b"NOTCACHE" + b[8:], "magic"),
        (lambda b: b"", "magic"),
        (lambda b: b[:12] + b"{garbage" + b[20:], "header"),
    ],
)
def test_damaged_files_are_rejected(tmp_path: Path, damage: object, message: str) -> None:
    keys, vectors = keys_and_vectors(5)
    path = tmp_path / "c.bin"
    write_cache_file(path, fake_identity(), keys, vectors)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(CacheFormatError, match=message):
        read_cache_file(path, fake_identity())


def test_foreign_encoder_and_wrong_dim_are_rejected(tmp_path: Path) -> None:
    keys, vectors = keys_and_vectors(5)
    path = tmp_path / "c.bin"
    write_cache_file(path, fake_identity(), keys, vectors)
    other = dataclasses.replace(fake_identity(), weights_sha256="cd" * 32)
    with pytest.raises(CacheFormatError, match="different encoder"):
        read_cache_file(path, other)
    with pytest.raises(CacheFormatError):
        read_cache_file(path, fake_identity(dim=8))


def test_cache_lookup_and_add_without_an_encoder(tmp_path: Path) -> None:
    identity = fake_identity()
    cache = EmbeddingCache(tmp_path, identity)
    _, missing = cache.lookup(TEXTS)
    assert missing == [0, 1, 2] and cache.status == "missing"
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.add(TEXTS, vectors)
    reloaded = EmbeddingCache(tmp_path, identity)
    found, missing = reloaded.lookup([TEXTS[2], "new text", TEXTS[0]])
    assert missing == [1] and reloaded.status == "ok"
    assert np.array_equal(found[[0, 2]], vectors[[2, 0]])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["garbage", "truncated", "foreign"])
def test_untrusted_cache_is_rebuilt_with_real_embeddings(tmp_path: Path, kind: str) -> None:
    identity = encoder_identity()
    fresh = embed_with_stats(TEXTS, identity, EmbeddingCache(tmp_path / "good", identity))
    cache = EmbeddingCache(tmp_path / "bad", identity)
    cache.path.parent.mkdir(parents=True)
    if kind == "garbage":
        cache.path.write_bytes(b"\x00" * 1000)
    elif kind == "truncated":
        good = EmbeddingCache(tmp_path / "good", identity).path.read_bytes()
        cache.path.write_bytes(good[: len(good) // 2])
    else:
        foreign = dataclasses.replace(identity, weights_sha256="00" * 32)
        keys, _ = keys_and_vectors(3)
        # Right text keys, wrong vectors, written for another encoder: must not be used.
        from trainer.features.cache import text_key

        keys = np.frombuffer(b"".join(text_key(t) for t in TEXTS), dtype=np.uint8).reshape(3, 32)
        write_cache_file(cache.path, foreign, keys, np.ones((3, identity.feature_dim), np.float32))
    rebuilt = embed_with_stats(TEXTS, identity, cache)
    assert cache.status.startswith("rebuilt")
    assert (rebuilt.embedded, rebuilt.cached) == (3, 0)
    assert np.allclose(rebuilt.vectors, fresh.vectors, atol=1e-5)
    again = embed_with_stats(TEXTS, identity, EmbeddingCache(tmp_path / "bad", identity))
    assert (again.embedded, again.cached) == (0, 3)
    assert np.array_equal(again.vectors, rebuilt.vectors)


@pytest.mark.slow
def test_embeddings_are_normalised_and_in_input_order(tmp_path: Path) -> None:
    identity = encoder_identity()
    texts = ["a much longer sentence about booking a flight to tokyo next friday", "hi", "ok"]
    vectors = embed_with_stats(texts, identity, None).vectors
    assert vectors.shape == (3, identity.feature_dim) and vectors.dtype == np.float32
    blocks = vectors.reshape(3, len(identity.feature_layers), -1)  # one normalised block a layer
    assert np.allclose(np.linalg.norm(blocks, axis=2), 1.0, atol=1e-5)
    single = embed_with_stats(texts[:1], identity, None).vectors
    assert float(vectors[0] @ single[0]) / len(identity.feature_layers) > 0.9999


def test_a_cache_on_a_full_disk_is_skipped_with_one_warning(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache is only a speed-up (issue 23): vectors it cannot write are still given."""
    fill_up(small_disk)
    cache = EmbeddingCache(small_disk / "cache", fake_identity())
    for round_ in range(3):
        _, vectors = keys_and_vectors(200)
        cache.add([f"text {round_} {i}" for i in range(200)], vectors)
    found, missing = cache.lookup(["text 0 1", "never seen"])
    assert missing == [1] and found[0].any()
    warnings = [r for r in caplog.records if "embedding cache cannot be written" in r.message]
    assert len(warnings) == 1
    assert "no space left on the file system at" in warnings[0].message
    assert "training carries on without caching" in warnings[0].message
