"""The on-disk contracts: model card and manifest survive a JSON round trip, and a damaged
file is refused with its path, the key and how to get a good one."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from intent_server.core.errors import ExportError, ModelCardError
from intent_server.core.manifest import Manifest
from intent_server.core.model_card import FineTuning, ModelCard
from tests.fixtures.contracts import sample_card, sample_manifest


def test_model_card_round_trip(tmp_path: Path) -> None:
    card = sample_card()
    card.write(tmp_path / "model.json")
    assert ModelCard.read(tmp_path / "model.json") == card
    written = json.loads((tmp_path / "model.json").read_text())
    assert written["format_version"] == 3
    assert written["encoder"]["feature_dim"] == 1152
    assert written["training"]["seed"] == 13 and written["training"]["epochs_run"] == 16


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = sample_manifest()
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest
    written = json.loads((tmp_path / "manifest.json").read_text())
    assert written["metrics"]["training"]["val_accuracy"] == 0.95
    assert written["verification"]["head_onnx_vs_pytorch"]["passed"] is True


def test_manifest_records_the_encoder_depth_and_reads_one_from_before_it(
    tmp_path: Path,
) -> None:
    manifest = sample_manifest()
    manifest.write(tmp_path)
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["encoder"]["num_layers"] == 6
    del data["encoder"]["num_layers"]  # an export made before --encoder-layers
    older = Manifest.from_json(data, "manifest.json")
    assert older.encoder.num_layers is None
    assert older.encoder.feature_layers == manifest.encoder.feature_layers


def test_the_familiarity_rule_round_trips_and_older_files_read_the_whole_bank_rule() -> None:
    manifest = sample_manifest()
    data = manifest.to_json()
    assert data["familiarity"]["intent_neighbours"] == 2
    assert Manifest.from_json(data, "manifest.json").familiarity.intent_neighbours == 2
    for key in ("intent_neighbours", "confidence_weight", "offset_scale"):
        del data["familiarity"][key]  # an export made before them: best cosine of all
    older = Manifest.from_json(data, "manifest.json").familiarity
    assert (older.intent_neighbours, older.confidence_weight, older.offset_scale) == (0, 0, 0)
    data["familiarity"]["intent_neighbours"] = 1.5
    with pytest.raises(ExportError, match=r"familiarity\.intent_neighbours must be an integer"):
        Manifest.from_json(data, "manifest.json")


def test_a_variant_serves_its_own_head_and_older_formats_one_head_for_all(
    tmp_path: Path,
) -> None:
    manifest = replace(sample_manifest(), heads={"int8": "head.int8.onnx"})
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["format_version"] == 6
    assert manifest.head_for("int8") == "head.int8.onnx"
    assert manifest.head_for("fp32") == "head.onnx"
    data = manifest.to_json()
    del data["heads"]
    data["format_version"] = 5  # before INT8 heads: head.onnx with either encoder
    older = Manifest.from_json(data, "manifest.json")
    assert older.heads == {} and older.format_version == 5
    assert older.head_for("int8") == older.head_for("fp32") == "head.onnx"


def _card_json(**changes: Any) -> dict[str, Any]:
    data = sample_card().to_json()
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        target = data
        for part in path:
            target = target[part]
        if value is KeyError:
            del target[key]
        else:
            target[key] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 1}, r"format_version 1, this version reads 3; retrain"),
        ({"labels": "abc"}, r"labels must be a list of strings"),
        ({"encoder__feature_layers": KeyError}, r"lacks encoder\.feature_layers"),
        ({"encoder__dim": "384"}, r"encoder\.dim must be an integer, found '384'"),
        ({"head__num_classes": 9}, r"4 labels but the head has 9 outputs"),
        ({"thresholds__margin": 2.0}, r"threshold margin must be within \[0, 1\]"),
        ({"metrics__val_accuracy": "high"}, r"metrics\.val_accuracy must be a number"),
    ],
)
def test_damaged_model_cards_are_refused_with_the_key(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ModelCardError, match=message) as refused:
        ModelCard.from_json(_card_json(**changes), "models/toy/model.json")
    assert str(refused.value).startswith("models/toy/model.json")
    assert "make train" in str(refused.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format_version=1), r"format_version 1; this server reads \(3, 4, 5, 6"),
        (lambda m: m.pop("files"), r"lacks the keys \['files'\]"),
        (lambda m: m["encoders"].update(int8="../encoder.onnx"), r"encoders\.int8 must be a plain"),
        (lambda m: m.update(default_encoder="fp16"), r"default_encoder 'fp16'"),
        (lambda m: m.update(labels=["a", "a"]), r"labels contain duplicates"),
        (lambda m: m["encoder"].pop("feature_dim"), r"lacks encoder\.feature_dim"),
        (lambda m: m.update(heads={"int8": "../head.onnx"}), r"heads\.int8 must be a plain"),
        (lambda m: m.update(heads={"fp16": "head.onnx"}), r"heads \['fp16'\] must name"),
        (lambda m: m.update(heads=["head.onnx"]), r"heads must be an object"),
    ],
)
def test_damaged_manifests_are_refused_with_the_key(change: Any, message: str) -> None:
    data = sample_manifest().to_json()
    change(data)
    with pytest.raises(ExportError, match=message):
        Manifest.from_json(data, "exported/toy/v1/manifest.json")


def test_unreadable_files_are_contract_errors(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="cannot be read"):
        ModelCard.read(tmp_path / "model.json")
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ExportError, match="must hold a JSON object, found list"):
        Manifest.read(tmp_path)


def _tuning(kept: str = "tuned") -> FineTuning:
    return FineTuning(
        recipe="end-to-end",
        mode="auto",
        kept=kept,
        compared_on="cross-validated",
        compared_examples=1500,
        frozen_accuracy=0.91,
        tuned_accuracy=0.93,
        base_weights_sha256="53aa5117" + "0" * 56,
        runs=4,
        epochs=10,
        steps=470,
        stopped_early=False,
        minutes=9.5,
    )


def test_a_fine_tuning_record_round_trips_in_card_and_manifest(tmp_path: Path) -> None:
    card = replace(sample_card(), fine_tuning=_tuning())
    card.write(tmp_path / "model.json")
    assert ModelCard.read(tmp_path / "model.json") == card
    manifest = sample_manifest()
    manifest = replace(manifest, encoder=replace(manifest.encoder, fine_tuning=_tuning()))
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest
    assert "+2.00 points" in _tuning().summary()
    older = sample_card().to_json()
    del older["fine_tuning"]  # a card from before --fine-tune
    assert ModelCard.from_json(older, "model.json").fine_tuning is None


def test_a_damaged_fine_tuning_record_is_refused() -> None:
    data = _card_json(fine_tuning=_tuning().to_json())
    data["fine_tuning"]["kept"] = "both"
    with pytest.raises(ModelCardError, match=r"fine_tuning\.kept must be 'tuned' or 'frozen'"):
        ModelCard.from_json(data, "models/toy/model.json")
    data["fine_tuning"] = {"recipe": "end-to-end"}
    with pytest.raises(ModelCardError, match=r"lacks fine_tuning\.mode"):
        ModelCard.from_json(data, "models/toy/model.json")
