"""The torch-free loader refuses every kind of broken export with a message naming the problem."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from intent_server.core.errors import ExportError
from intent_server.core.exports import list_models, load_export, parse_pointer, resolve_current
from intent_server.core.files import sha256_file
from tests.fixtures.export import detach


def _manifest(version_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((version_dir / "manifest.json").read_text())
    return data


def _write_manifest(version_dir: Path, data: dict[str, Any]) -> None:
    path = detach(version_dir / "manifest.json")
    path.write_text(json.dumps(data), encoding="utf-8")


def test_loads_the_example_export(exported_example_model: Path) -> None:
    version_dir = resolve_current(exported_example_model, "default")
    export = load_export(version_dir)
    manifest = _manifest(version_dir)
    assert export.version == manifest["version"] == version_dir.name
    assert export.labels == tuple(manifest["labels"])
    assert "out_of_scope" in export.labels
    assert export.encoder_variant == manifest["default_encoder"]
    assert export.max_tokens == 256
    assert export.encoder_path.name == manifest["encoders"][export.encoder_variant]
    assert list_models(exported_example_model) == ["default"]


def test_every_file_hash_is_recorded(exported_example_version: Path) -> None:
    manifest = _manifest(exported_example_version)
    on_disk = {p.name for p in exported_example_version.iterdir()} - {"manifest.json"}
    stored = set(manifest["encoders"].values())  # in the shared store, not the version folder
    assert on_disk.isdisjoint(stored) and set(manifest["files"]) == on_disk | stored
    load_export(exported_example_version, "fp32", verify_all=True)


def test_corrupted_file_is_refused(export_copy: Path) -> None:
    head = detach(export_copy / "head.onnx")
    data = bytearray(head.read_bytes())
    data[len(data) // 2] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=r"head\.onnx is corrupted.*sha256"):
        load_export(export_copy, "fp32")


def test_each_encoder_variant_serves_its_own_head(export_copy: Path) -> None:
    assert load_export(export_copy, "int8").head_path == export_copy / "head.int8.onnx"
    assert load_export(export_copy, "fp32").head_path == export_copy / "head.onnx"
    head = detach(export_copy / "head.int8.onnx")
    data = bytearray(head.read_bytes())
    data[len(data) // 2] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=r"head\.int8\.onnx is corrupted.*sha256"):
        load_export(export_copy, "int8")
    load_export(export_copy, "fp32")  # the fp32 encoder never reads the INT8 head


def test_wrong_sha_in_manifest_is_refused(export_copy: Path) -> None:
    manifest = _manifest(export_copy)
    manifest["files"]["tokenizer.json"] = "0" * 64
    _write_manifest(export_copy, manifest)
    with pytest.raises(ExportError, match=r"tokenizer\.json.*expects 000000000000"):
        load_export(export_copy)


def test_missing_file_is_refused(export_copy: Path) -> None:
    (export_copy / "tokenizer.json").unlink()
    with pytest.raises(ExportError, match=r"tokenizer\.json is missing"):
        load_export(export_copy)


HEADS = pytest.mark.parametrize(
    ("head", "variant"), [("head.onnx", "fp32"), ("head.int8.onnx", "int8")]
)


@HEADS
def test_truncated_onnx_is_refused_by_hash(export_copy: Path, head: str, variant: str) -> None:
    path = detach(export_copy / head)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ExportError, match=rf"{re.escape(head)} is corrupted"):
        load_export(export_copy, variant)


@HEADS
def test_truncated_onnx_with_matching_hash_fails_in_onnxruntime(
    export_copy: Path, head: str, variant: str
) -> None:
    """Even if the manifest was rewritten to match, onnxruntime's error becomes ExportError."""
    manifest = _manifest(export_copy)
    path = detach(export_copy / head)
    path.write_bytes(path.read_bytes()[:4096])
    manifest["files"][head] = sha256_file(path)
    _write_manifest(export_copy, manifest)
    with pytest.raises(ExportError, match=rf"{re.escape(head)} cannot be loaded by onnxruntime"):
        load_export(export_copy, variant)


def test_truncated_encoder_fails_when_the_model_is_built(export_copy: Path) -> None:
    manifest = _manifest(export_copy)
    path = detach(load_export(export_copy, "fp32").encoder_path)
    path.write_bytes(path.read_bytes()[:4096])
    manifest["files"][path.name] = sha256_file(path)
    _write_manifest(export_copy, manifest)
    export = load_export(export_copy, "fp32")
    with pytest.raises(ExportError, match=rf"{path.name} cannot be loaded by onnxruntime"):
        export.open()


def test_missing_manifest_is_refused(export_copy: Path) -> None:
    (export_copy / "manifest.json").unlink()
    with pytest.raises(ExportError, match=r"manifest\.json is missing"):
        load_export(export_copy)


def test_garbled_manifest_is_refused(export_copy: Path) -> None:
    path = detach(export_copy / "manifest.json")
    path.write_text('{"format_version": 1,\n "labels": [', encoding="utf-8")
    with pytest.raises(ExportError, match=r"manifest\.json is not valid JSON \(line 2"):
        load_export(export_copy)


def test_manifest_missing_keys_is_refused(export_copy: Path) -> None:
    manifest = _manifest(export_copy)
    del manifest["labels"], manifest["files"]
    _write_manifest(export_copy, manifest)
    with pytest.raises(ExportError, match=r"lacks the keys \['labels', 'files'\]"):
        load_export(export_copy)


def test_unsupported_format_version_is_refused(export_copy: Path) -> None:
    manifest = _manifest(export_copy)
    manifest["format_version"] = 99
    _write_manifest(export_copy, manifest)
    with pytest.raises(ExportError, match=r"format_version 99"):
        load_export(export_copy)


def test_label_count_must_match_the_head(export_copy: Path) -> None:
    manifest = _manifest(export_copy)
    manifest["labels"] = manifest["labels"][:-1]
    _write_manifest(export_copy, manifest)
    classes = len(manifest["labels"]) + 1
    with pytest.raises(ExportError, match=rf"outputs {classes} classes .* {classes - 1} labels"):
        load_export(export_copy)


def test_unknown_variant_is_refused(export_copy: Path) -> None:
    with pytest.raises(ExportError, match=r"variant 'fp16' is not available"):
        load_export(export_copy, "fp16")


def test_dangling_current_is_refused(export_copy: Path) -> None:
    export_dir = export_copy.parent.parent
    (export_copy.parent / "current").write_text("20990101T000000Z-deadbeef\n")
    with pytest.raises(ExportError, match=r"points at '20990101T000000Z-deadbeef', which does"):
        resolve_current(export_dir, "default")


def test_current_pointing_at_a_temp_dir_is_refused(export_copy: Path) -> None:
    export_dir = export_copy.parent.parent
    temp = export_copy.parent / f".{export_copy.name}.tmp-123-abc"
    export_copy.rename(temp)
    (export_copy.parent / "current").write_text(temp.name + "\n")
    with pytest.raises(ExportError, match=r"temporary"):
        resolve_current(export_dir, "default")
    with pytest.raises(ExportError, match=r"temporary \(half-written\) export"):
        load_export(temp)


def test_missing_pointer_and_unknown_model(export_copy: Path) -> None:
    export_dir = export_copy.parent.parent
    with pytest.raises(ExportError, match=r"no export for model 'other'.*exported models: default"):
        resolve_current(export_dir, "other")
    (export_copy.parent / "current").unlink()
    with pytest.raises(ExportError, match=r"current is missing"):
        resolve_current(export_dir, "default")
    assert list_models(export_dir) == []


def test_an_edited_manifest_is_refused_through_the_pointer(
    exported_example_model: Path, export_copy: Path
) -> None:
    published = (exported_example_model / "default" / "current").read_text(encoding="utf-8")
    version, manifest_sha = parse_pointer(published)
    assert manifest_sha is not None  # the exporter writes the manifest's checksum
    export_dir = export_copy.parent.parent
    (export_copy.parent / "current").write_text(published)
    assert resolve_current(export_dir, "default") == export_copy
    manifest_path = detach(export_copy / "manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["labels"] = list(reversed(manifest["labels"]))  # same files, labels reordered
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ExportError, match=r"manifest.json was changed after export"):
        resolve_current(export_dir, "default")
    assert version == export_copy.name


def test_a_format_3_export_with_its_encoders_in_the_version_folder_still_loads(
    export_copy: Path,
) -> None:
    """Exports made before the shared store: format 3, no `encoder_store`, the encoders as
    encoder.onnx and encoder.int8.onnx beside the head."""
    manifest = _manifest(export_copy)
    stored = {v: load_export(export_copy, v).encoder_path for v in ("fp32", "int8")}
    old_names = {"fp32": "encoder.onnx", "int8": "encoder.int8.onnx"}
    for variant, path in stored.items():
        (export_copy / old_names[variant]).hardlink_to(path)
        del manifest["files"][path.name]
        manifest["files"][old_names[variant]] = sha256_file(path)
    del manifest["encoder_store"]
    manifest.update(format_version=3, encoders=old_names)
    _write_manifest(export_copy, manifest)
    for path in stored.values():
        path.unlink()
    for variant, name in old_names.items():
        export = load_export(export_copy, variant, verify_all=True)
        assert export.encoder_path == export_copy / name
