"""Embedding with onnxruntime: the torch features, a cached graph that is never trusted
blindly, and torch when the graph does not match."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from intent_server.core.model_card import EncoderIdentity
from trainer.features import onnx_features
from trainer.features.extract import features
from trainer.features.identity import encoder_identity
from trainer.features.onnx_features import graph_path, onnx_encode
from trainer.features.torch_features import encode

TEXTS = [
    "a much longer sentence about booking a flight to tokyo next friday morning",
    "hi",
    "what is my balance",
    "¿dónde está la estación? naïve café",
]


@pytest.fixture(autouse=True)
def fresh_sessions() -> Iterator[None]:
    """Each test opens its graph itself (the process-wide memo would skip the checks)."""
    onnx_features._SESSIONS.clear()
    yield
    onnx_features._SESSIONS.clear()


@pytest.fixture(scope="module")
def identity() -> EncoderIdentity:
    return encoder_identity()


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory: pytest.TempPathFactory, identity: EncoderIdentity) -> Path:
    folder = tmp_path_factory.mktemp("graph")
    onnx_features.checked_session(identity, folder, TEXTS)
    return folder


def test_graph_name_follows_identity_and_depth(tmp_path: Path) -> None:
    base = EncoderIdentity("m", "/x", "ab" * 32, 8, 128, feature_layers=(1,), num_layers=6)
    truncated = dataclasses.replace(base, num_layers=4)
    other_layers = dataclasses.replace(base, feature_layers=(2,))
    names = {graph_path(tmp_path, i).name for i in (base, truncated, other_layers)}
    assert len(names) == 3 and "-L6-" in graph_path(tmp_path, base).name


@pytest.mark.slow
def test_onnx_features_match_torch(identity: EncoderIdentity, graph_dir: Path) -> None:
    onnx = onnx_encode(TEXTS, identity, graph_dir)
    torch = encode(TEXTS, identity)
    assert onnx is not None and onnx.shape == torch.shape == (4, identity.feature_dim)
    assert float(np.abs(onnx - torch).max()) < 1e-4
    stamp = json.loads(graph_path(graph_dir, identity).with_suffix(".json").read_text())
    assert stamp["key"] == identity.cache_key() and stamp["num_layers"] == identity.num_layers


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage graph", "foreign sidecar", "no sidecar"])
def test_damaged_graph_is_rebuilt(
    tmp_path: Path,
    identity: EncoderIdentity,
    graph_dir: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = graph_path(graph_dir, identity)
    path = graph_path(tmp_path, identity)
    path.write_bytes(good.read_bytes())
    sidecar = json.loads(good.with_suffix(".json").read_text())
    if damage == "garbage graph":
        path.write_bytes(b"\x08\x07" + b"\x00" * 1000)
    if damage == "foreign sidecar":
        sidecar["key"] = "0" * 16
    if damage != "no sidecar":
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    with caplog.at_level(logging.WARNING, logger="trainer"):
        onnx = onnx_encode(TEXTS[:2], identity, tmp_path)
    assert "rebuilding" in caplog.text
    assert onnx is not None
    assert np.allclose(onnx, encode(TEXTS[:2], identity), atol=1e-4)
    assert onnx_features._open_graph(identity, path) is not None  # graph and sidecar agree


@pytest.mark.slow
def test_graph_failing_parity_falls_back_to_torch(
    identity: EncoderIdentity,
    graph_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(onnx_features, "PARITY_MAX_ABS_DIFF", -1.0)  # nothing can pass
    with caplog.at_level(logging.WARNING, logger="trainer"):
        assert onnx_encode(TEXTS, identity, graph_dir) is None
        vectors = features(TEXTS, identity, graph_dir)
    assert "embedding with torch instead" in caplog.text
    assert np.array_equal(vectors, encode(TEXTS, identity))
