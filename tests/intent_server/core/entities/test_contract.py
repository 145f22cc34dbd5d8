"""The `entities` section of the model card and the manifest: round trip, damaged keys,
and exports from before it (format 3) still read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.spans import EntityLexicon, NamedPattern
from intent_server.core.entities.tags import EntityKey
from intent_server.core.errors import ExportError
from intent_server.core.manifest import Manifest
from intent_server.core.model_card import ModelCard
from tests.fixtures.contracts import sample_card, sample_manifest

INFO = EntityHeadInfo(
    keys=(EntityKey("city", "from"), EntityKey("city", "to"), EntityKey("date")),
    token_dim=384,
    hidden=256,
    lexicon=EntityLexicon(
        synonyms={"nyc": "New York"},
        regexes=(NamedPattern("zip", r"\d{5}"),),
        lookups={"cuisine": ("sushi", "dim sum")},
    ),
    val_f1=0.9,
    val_spans=12,
    head_file="entities.onnx",
)


def test_card_and_manifest_round_trip_with_entities(tmp_path: Path) -> None:
    card = replace(sample_card(), entities=replace(INFO, head_file=""))
    card.write(tmp_path / "model.json")
    assert ModelCard.read(tmp_path / "model.json") == card
    manifest = replace(sample_manifest(), entities=INFO)
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest
    assert manifest.to_json()["entities"]["tags"][:3] == ["O", "B-city/from/-", "I-city/from/-"]


def test_a_format_3_export_reads_without_entities() -> None:
    data = sample_manifest().to_json()
    data["format_version"] = 3
    del data["entities"]
    manifest = Manifest.from_json(data, "exported/toy/v1/manifest.json")
    assert manifest.entities is None and manifest.format_version == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update(keys=[["date", None, None], ["city", None, None]]), r"entities\.keys"),
        (lambda e: e.update(head_file="../x.onnx"), r"head_file must be a plain file name"),
        (lambda e: e.update(token_dim="384"), r"entities\.token_dim must be an integer"),
        (lambda e: e["lookups"].update(cuisine="sushi"), r"entities\.lookups\.cuisine"),
    ],
)
def test_damaged_entity_sections_name_the_key(change: object, message: str) -> None:
    data = replace(sample_manifest(), entities=INFO).to_json()
    change(data["entities"])  # type: ignore[operator]
    with pytest.raises(ExportError, match=message):
        Manifest.from_json(data, "exported/toy/v1/manifest.json")
