"""Multi-layer features: identity and layer validation, cache identity, real values, the
CLI option, and the loader/runtime refusing a head trained on other features."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from intent_server.core.errors import ExportError
from intent_server.core.exports import load_export
from intent_server.core.files import sha256_file
from intent_server.core.model_card import HeadConfig
from tests.fixtures.export import detach
from trainer.cli.train import main
from trainer.errors import UserError
from trainer.export.onnx_files import export_head
from trainer.features.cache import CacheFormatError, EmbeddingCache, read_cache_file
from trainer.features.identity import encoder_identity
from trainer.features.torch_features import encode
from trainer.training.head import MLPHead, ServedHead

TEXTS = ["hello world", "book a table for two at eight", "¿qué tal? naïve café", "ok"]


def test_default_features_are_layers_4_to_6_of_minilm() -> None:
    identity = encoder_identity()
    assert identity.num_layers == 6
    assert identity.feature_layers == (4, 5, 6)
    assert identity.dim == 384
    assert identity.feature_dim == 1152
    recorded = identity.to_json()
    assert recorded["feature_layers"] == [4, 5, 6]
    assert recorded["feature_dim"] == 1152
    assert encoder_identity(feature_layers=[6]).feature_dim == 384
    assert encoder_identity(feature_layers=[2, 6]).feature_dim == 768


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([0], r"6 transformer layers, so layer numbers must be 1\.\.6 \(got 0\)"),
        ([4, 5, 7], r"must be 1\.\.6 \(got 7\); e\.g\. 4,5,6"),
        ([5, 5], r"repeats a layer"),
        ([], r"at least one layer"),
    ],
)
def test_layer_numbers_are_checked_against_the_encoder(layers: list[int], message: str) -> None:
    with pytest.raises(UserError, match=message):
        encoder_identity(feature_layers=layers)


def test_cache_identity_changes_with_the_layer_list(tmp_path: Path) -> None:
    default = encoder_identity()
    last = encoder_identity(feature_layers=[6])
    reordered = encoder_identity(feature_layers=[6, 5, 4])
    keys = {default.cache_key(), last.cache_key(), reordered.cache_key()}
    assert len(keys) == 3
    cache = EmbeddingCache(tmp_path, last)
    assert cache.path != EmbeddingCache(tmp_path, default).path
    cache.add(["hi"], np.ones((1, 384), np.float32))
    assert read_cache_file(cache.path, last)[1].shape == (1, 384)
    with pytest.raises(CacheFormatError, match="different encoder"):
        read_cache_file(cache.path, replace(last, max_seq_length=128))
    with pytest.raises(CacheFormatError):
        read_cache_file(cache.path, default)


def test_features_are_normalised_layer_blocks_ending_with_the_sentence_embedding() -> None:
    identity = encoder_identity()
    features = encode(TEXTS, identity)
    sentence = encode(TEXTS, identity, sentence=True)
    assert features.shape == (len(TEXTS), 1152) and features.dtype == np.float32
    blocks = features.reshape(len(TEXTS), 3, 384)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=2), 1.0, atol=1e-5)
    # layer 6, mean-pooled and normalised, is the standard sentence embedding
    np.testing.assert_allclose(blocks[:, 2], sentence, atol=1e-5)
    assert float(np.abs(blocks[:, 0] - blocks[:, 2]).max()) > 0.05  # layer 4 differs
    last_only = encode(TEXTS, encoder_identity(feature_layers=[6]))
    np.testing.assert_allclose(last_only, sentence, atol=1e-5)
    one = encode(TEXTS[:1], identity)
    np.testing.assert_allclose(one, features[:1], atol=1e-5)


def test_cli_refuses_a_layer_the_encoder_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "--models-dir", str(tmp_path), "--feature-layers", "4,9", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--feature-layers 4,9" in err and "1..6" in err and "Traceback" not in err
    assert not (tmp_path / "default").exists()
    with pytest.raises(SystemExit) as raised:
        main(["train", "--feature-layers", "four"])
    assert raised.value.code == 2
    assert "layer numbers such as 4,5,6" in capsys.readouterr().err


def _swap_head(version_dir: Path, input_dim: int, manifest_dim: int | None = None) -> None:
    """Replace head.onnx by a head reading `input_dim` features; re-hash it in the manifest."""
    manifest_path = version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    config = HeadConfig(input_dim=input_dim, hidden=(8,), num_classes=len(manifest["labels"]))
    head = detach(version_dir / "head.onnx")
    bank = np.eye(4, input_dim, dtype=np.float32)  # four unit vectors
    export_head(ServedHead(MLPHead(config).eval(), torch.from_numpy(bank)), head)
    manifest["files"]["head.onnx"] = sha256_file(head)
    manifest["heads"] = {}  # head.onnx serves either encoder (no INT8 head of its own)
    if manifest_dim is not None:
        manifest["encoder"]["feature_dim"] = manifest_dim
    detach(manifest_path).write_text(json.dumps(manifest), encoding="utf-8")


def test_loader_refuses_a_head_for_other_features(export_copy: Path) -> None:
    _swap_head(export_copy, 384)
    with pytest.raises(ExportError, match=r"head\.onnx reads 384-d inputs .* 1152-d features"):
        load_export(export_copy)


def test_runtime_refuses_a_head_the_encoder_cannot_feed(export_copy: Path) -> None:
    _swap_head(export_copy, 384, manifest_dim=384)  # a manifest that lies about the encoder
    export = load_export(export_copy, "fp32")
    with pytest.raises(ExportError, match=r"reads 384-d inputs but .* produces 1152-d"):
        export.open()


def test_runtime_features_match_the_trainer(exported_example_version: Path) -> None:
    model = load_export(exported_example_version, "fp32").open()
    assert (model.dim, model.sentence_dim) == (1152, 384)
    features = model.embed(TEXTS)
    reference = encode(TEXTS, encoder_identity())
    cosines = np.sum(features * reference, axis=1) / (
        np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert float(cosines.min()) >= 0.9999
    sentence = model.sentence_embeddings(TEXTS)
    np.testing.assert_allclose(sentence, features[:, 768:], atol=1e-5)


def test_small_data_trains_with_smaller_batches() -> None:
    from trainer.training.loop import MIN_STEPS_PER_EPOCH, effective_batch_size

    assert effective_batch_size(15_000, 256) == 256  # CLINC150: the option as given
    assert effective_batch_size(415, 256) == 25  # the example bot: 17 steps an epoch
    assert effective_batch_size(415, 8) == 8
    assert effective_batch_size(5, 256) == 2  # BatchNorm needs two examples
    assert all(-(-n // effective_batch_size(n, 256)) >= MIN_STEPS_PER_EPOCH for n in (40, 999))


def _copy_of_stock_encoder(folder: Path) -> Path:
    """The stock encoder's small files next to a link to its weights."""
    from trainer.features.identity import default_encoder_path

    stock = default_encoder_path()
    for path in stock.rglob("*"):
        target = folder / path.relative_to(stock)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix in (".safetensors", ".bin"):
            target.symlink_to(path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return folder


@pytest.mark.parametrize(
    ("pooling", "accepted"),
    [("mean", True), ("cls", False)],
)
def test_the_pooling_format_of_sentence_transformers_6_is_read(
    tmp_path: Path, pooling: str, accepted: bool
) -> None:
    folder = _copy_of_stock_encoder(tmp_path / "encoder")
    config = {"embedding_dimension": 384, "pooling_mode": pooling, "include_prompt": True}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    if accepted:
        assert encoder_identity(folder).feature_layers == (4, 5, 6)
    else:
        with pytest.raises(UserError, match="pooling pooling_mode_cls_tokens is not supported"):
            encoder_identity(folder)
