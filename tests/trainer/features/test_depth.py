"""`--encoder-layers N`: the identity records the kept depth, the flags are checked against
each other, the loader cuts the real encoder and the cut layers' features are the full
model's, so the feature cache may share them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.cli.train import build_parser, main
from trainer.errors import UserError
from trainer.features.cache import EmbeddingCache, read_cache_file
from trainer.features.identity import encoder_identity
from trainer.features.torch_features import encode, load_encoder
from trainer.training.options import TrainOptions

TEXTS = ["hello world", "book a table for two at eight", "¿qué tal? naïve café", "ok"]


def test_a_cut_encoder_records_its_depth_and_defaults_to_its_last_three_layers() -> None:
    full = encoder_identity()
    cut = encoder_identity(encoder_layers=4)
    assert (full.num_layers, full.feature_layers) == (6, (4, 5, 6))
    assert (cut.num_layers, cut.feature_layers, cut.feature_dim) == (4, (2, 3, 4), 1152)
    assert encoder_identity(encoder_layers=2).feature_layers == (1, 2)
    assert encoder_identity(encoder_layers=1).feature_layers == (1,)
    assert encoder_identity(encoder_layers=6) == full
    assert cut.to_json()["num_layers"] == 4


@pytest.mark.parametrize(
    ("layers", "features", "message"),
    [
        (0, None, r"--encoder-layers 0: .* has 6 transformer layers, so it must be 1\.\.6"),
        (7, None, r"--encoder-layers 7: .* must be 1\.\.6"),
        (
            3,
            [4, 5, 6],
            r"--feature-layers 4,5,6: with --encoder-layers 3 the encoder keeps 3 transformer "
            r"layers, so layer numbers must be 1\.\.3 \(got 4, 5, 6\); e\.g\. 1,2,3",
        ),
    ],
)
def test_depth_and_feature_layers_are_checked_together(
    layers: int, features: list[int] | None, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        encoder_identity(feature_layers=features, encoder_layers=layers)


def test_the_option_and_its_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert TrainOptions().encoder_layers is None
    with pytest.raises(UserError, match="--encoder-layers must be at least 1, got 0"):
        TrainOptions(encoder_layers=0)
    args = build_parser().parse_args(["train", "--encoder-layers", "4"])
    assert args.encoder_layers == 4
    assert build_parser().parse_args(["train"]).encoder_layers is None
    code = main(["train", "--models-dir", str(tmp_path), "--encoder-layers", "9", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--encoder-layers 9" in err and "1..6" in err
    assert "Traceback" not in err and not (tmp_path / "default").exists()


def test_the_loader_cuts_the_transformer_and_memoises_each_depth() -> None:
    cut = encoder_identity(encoder_layers=3)
    model = load_encoder(cut)
    transformer = model[0].auto_model
    assert len(transformer.encoder.layer) == 3 and transformer.config.num_hidden_layers == 3
    assert load_encoder(cut) is model
    full = load_encoder(encoder_identity())
    assert full is not model and len(full[0].auto_model.encoder.layer) == 6


def test_kept_layers_compute_what_they_compute_in_the_full_model(tmp_path: Path) -> None:
    cut = encoder_identity(encoder_layers=4)
    same_layers = encoder_identity(feature_layers=[2, 3, 4])
    features = encode(TEXTS, cut)
    np.testing.assert_allclose(features, encode(TEXTS, same_layers), atol=1e-6)
    # The cut encoder's sentence embedding is its last layer, pooled: layer 4, not 6.
    sentence = encode(TEXTS, cut, sentence=True)
    np.testing.assert_allclose(sentence, features[:, 768:], atol=1e-5)
    # Same features, so one cache file serves both depths.
    assert cut.cache_key() == same_layers.cache_key()
    assert cut.cache_key() != encoder_identity().cache_key()
    cache = EmbeddingCache(tmp_path, same_layers)
    cache.add(TEXTS, features)
    assert EmbeddingCache(tmp_path, cut).path == cache.path
    np.testing.assert_array_equal(read_cache_file(cache.path, cut)[1], features)
