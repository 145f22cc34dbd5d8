"""A model trained with `--encoder-layers 2`, exported for real: the ONNX graphs hold two
transformer layers, the gates pass (the stock "hello world" values are skipped: they are the
full model's) and the server's runtime answers with it unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from intent_server.core.exports import load_export, resolve_current
from tests.trainer.test_pipeline import small_data
from trainer.export.pipeline import export_model
from trainer.features.identity import weights_file
from trainer.pipeline import TrainOptions, train

pytestmark = pytest.mark.slow

LAYER = re.compile(r"/encoder/layer\.(\d+)/")


def _layers_in(path: Path) -> set[int]:
    """Transformer layer numbers (0 = first) the graph's node names mention."""
    graph = onnx.load(str(path), load_external_data=False).graph
    return {int(found.group(1)) for node in graph.node if (found := LAYER.search(node.name))}


@pytest.fixture(scope="module")
def cut_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model folder, export version folder) of a three-intent bot on two encoder layers."""
    root = tmp_path_factory.mktemp("depth")
    result = train(
        small_data(),
        model_name="cut",
        models_dir=root / "models",
        options=TrainOptions(encoder_layers=2, epochs=12),
        cache_dir=root / "cache",
    )
    export_model("cut", models_dir=root / "models", export_dir=root / "exported")
    return result.model_dir, resolve_current(root / "exported", "cut")


def test_card_and_manifest_record_the_kept_depth(cut_export: tuple[Path, Path]) -> None:
    model_dir, version_dir = cut_export
    card = json.loads((model_dir / "model.json").read_text())
    assert card["format_version"] == 3
    assert card["encoder"]["num_layers"] == 2 and card["encoder"]["feature_layers"] == [1, 2]
    assert card["training"]["encoder_layers"] == 2
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["encoder"]["num_layers"] == 2
    assert manifest["encoder"]["feature_dim"] == 768
    gates = manifest["verification"]
    assert gates["reference_hello_world"]["skipped"] is True
    assert "cut to 2 of 6 layers" in gates["reference_hello_world"]["detail"]
    for name in ("encoder_fp32_vs_pytorch", "features_fp32_vs_trainer", "head_onnx_vs_pytorch"):
        assert gates[name]["passed"] and not gates[name]["skipped"], gates[name]


def test_the_onnx_encoders_hold_only_the_kept_layers(cut_export: tuple[Path, Path]) -> None:
    _, version_dir = cut_export
    encoders = {v: load_export(version_dir, v).encoder_path for v in ("fp32", "int8")}
    for variant, path in encoders.items():
        assert _layers_in(path) == {0, 1}, variant
    # Embeddings (~47 MB) + 2 of 6 layers: well under the 6-layer model's weights (~91 MB).
    source = json.loads((version_dir / "manifest.json").read_text())["encoder"]["source_path"]
    weights = weights_file(Path(source))
    assert weights is not None
    assert encoders["fp32"].stat().st_size < 0.75 * weights.stat().st_size


def test_the_server_runtime_answers_with_the_cut_encoder(cut_export: tuple[Path, Path]) -> None:
    _, version_dir = cut_export
    examples = small_data().examples
    texts, truth = [e.text for e in examples], [e.intent for e in examples]
    for variant in ("fp32", "int8"):
        loaded = load_export(version_dir, variant, verify_all=True)
        model = loaded.open()
        probs = model.predict(texts).probabilities
        assert probs.shape == (len(texts), len(loaded.labels))
        predicted = [loaded.labels[i] for i in np.argmax(probs, axis=1)]
        assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) >= 0.9
