"""The shared encoder store: one file per encoder identity, reused without tracing, collected
only when no version of any model refers to it, refused when missing or damaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intent_server.core.errors import ExportError
from intent_server.core.exports import load_export, resolve_current
from tests.fixtures.export import add_model, detach, link_copy
from trainer.cli.export import main
from trainer.export import encoder_store
from trainer.export import pipeline as export_module
from trainer.export.pipeline import export_model

TEXTS = ["wake me up at seven tomorrow", "what's the weather in Paris", "play some jazz", "hi"]


def _store(export_dir: Path) -> Path:
    return export_dir / ".encoders"


def _stored(export_dir: Path) -> list[str]:
    return sorted(p.name for p in _store(export_dir).glob("*.onnx"))


@pytest.fixture()
def with_store(exported_example_version: Path, tmp_path: Path) -> Path:
    """A private export folder with the example export, its stored encoders and the store's
    identity records (so an export of the same bot takes the fast path)."""
    export_dir = tmp_path / "exported"
    link_copy(exported_example_version, export_dir)
    for record in _store(exported_example_version.parent.parent).glob("*.identity.json"):
        shutil.copyfile(record, _store(export_dir) / record.name)
    return export_dir


@pytest.fixture()
def no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the stored encoder should have been reused")

    monkeypatch.setattr(export_module, "export_encoder", refuse)
    monkeypatch.setattr(export_module, "quantize_encoder", refuse)


def test_the_example_export_keeps_its_encoders_in_the_store(exported_example_model: Path) -> None:
    version_dir = resolve_current(exported_example_model, "default")
    assert not [p.name for p in version_dir.glob("encoder*.onnx")]
    for variant in ("fp32", "int8"):
        export = load_export(version_dir, variant)
        assert export.encoder_path.parent == _store(exported_example_model)
        assert export.encoder_path.name == f"{export.encoder_sha256}.onnx"
    assert len(list(_store(exported_example_model).glob("*.identity.json"))) == 1


def test_fast_path_reuses_the_stored_encoder_and_answers_the_same(
    with_store: Path, trained_example_model: Path, no_tracing: None
) -> None:
    before = resolve_current(with_store, "default")
    stored = _stored(with_store)
    result = export_model(
        "default", models_dir=trained_example_model.parent, export_dir=with_store, keep=0
    )
    assert result.reused_encoder and "encoder onnx" not in result.seconds
    assert result.version_dir != before
    gates = result.verification
    assert all(gate.passed for name, gate in gates.items() if name != "int8_vs_fp32")
    assert "over 36 texts" in gates["encoder_fp32_vs_pytorch"].detail  # 32 + the probes
    old, new = load_export(before), load_export(result.version_dir)
    assert new.encoder_path == old.encoder_path and new.encoder_variant == old.encoder_variant
    assert _stored(with_store) == stored  # nothing added
    old_answers, new_answers = old.open().predict(TEXTS), new.open().predict(TEXTS)
    np.testing.assert_allclose(new_answers.probabilities, old_answers.probabilities, atol=1e-6)
    assert old_answers.familiarity is not None and new_answers.familiarity is not None
    np.testing.assert_allclose(new_answers.familiarity, old_answers.familiarity, atol=1e-6)


def test_collection_keeps_every_referenced_encoder(
    with_store: Path, exported_example_version: Path
) -> None:
    add_model(with_store, exported_example_version, "other", "v1")
    junk = _store(with_store) / f"{'ab' * 32}.onnx"
    junk.write_bytes(b"no version refers to this")
    stale = _store(with_store) / f".{'cd' * 32}.onnx.tmp-123"
    stale.write_bytes(b"left by a killed export")
    kept = [name for name in _stored(with_store) if name != junk.name]
    shutil.rmtree(resolve_current(with_store, "default"))  # one model's version deleted
    assert encoder_store.collect(with_store) == [junk.name]
    assert _stored(with_store) == kept and not stale.exists()
    load_export(resolve_current(with_store, "other"), verify_all=True)
    shutil.rmtree(with_store / "other")  # the last version referring to them
    assert sorted(encoder_store.collect(with_store) or []) == kept
    assert _stored(with_store) == [] and not list(_store(with_store).glob("*.identity.json"))


def test_collection_waits_for_exports_in_progress(with_store: Path) -> None:
    junk = _store(with_store) / f"{'ab' * 32}.onnx"
    junk.write_bytes(b"stored by an export that has not published yet")
    with encoder_store.store_lock(with_store):
        assert encoder_store.collect(with_store) is None
    assert junk.exists()
    assert encoder_store.collect(with_store) == [junk.name]


def test_pruning_by_export_never_removes_a_shared_encoder(
    with_store: Path, trained_example_model: Path, exported_example_version: Path
) -> None:
    add_model(with_store, exported_example_version, "other", "v1")
    stored = _stored(with_store)
    for _ in range(2):
        export_model(
            "default", models_dir=trained_example_model.parent, export_dir=with_store, keep=1
        )
    assert len([p for p in (with_store / "default").iterdir() if p.is_dir()]) == 1
    assert _stored(with_store) == stored
    load_export(resolve_current(with_store, "other"), verify_all=True)


def test_a_version_copied_without_its_store_is_refused_with_what_to_copy(
    exported_example_version: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere" / "default" / exported_example_version.name
    shutil.copytree(exported_example_version, copy)
    name = load_export(exported_example_version).encoder_path.name
    with pytest.raises(ExportError) as refused:
        load_export(copy)
    message = str(refused.value)
    assert "shared encoder store .encoders/" in message and f"copy .encoders/{name}" in message
    assert "the whole folder is" in message and "--self-contained" in message
    (tmp_path / "elsewhere" / ".encoders").mkdir()
    with pytest.raises(ExportError, match=rf"{name} is missing: .*copy \.encoders/{name}"):
        load_export(copy)


def test_a_damaged_stored_encoder_is_refused_and_written_again(
    with_store: Path,
    trained_example_model: Path,
    exported_example_version: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version_dir = resolve_current(with_store, "default")
    path = detach(load_export(version_dir).encoder_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=r"corrupted or was changed"):
        load_export(version_dir)
    traced: list[Path] = []

    def tracing(folder: Path, *args: Any) -> dict[str, Path]:
        """The session's files (the real exporter's trace), copied as a new trace would be."""
        copies = {}
        for variant in ("fp32", "int8"):
            copies[variant] = folder / f"{variant}.onnx"
            original = load_export(exported_example_version, variant).encoder_path
            shutil.copyfile(original, copies[variant])
        traced.append(folder)
        return copies

    monkeypatch.setattr(export_module, "_trace_encoders", tracing)
    result = export_model("default", models_dir=trained_example_model.parent, export_dir=with_store)
    assert traced and not result.reused_encoder  # the damaged file was not reused
    load_export(version_dir)  # the file was replaced by an intact one, under its name


def test_self_contained_export_copies_alone(
    with_store: Path, trained_example_model: Path, tmp_path: Path, no_tracing: None
) -> None:
    result = export_model(
        "default",
        models_dir=trained_example_model.parent,
        export_dir=with_store,
        self_contained=True,
    )
    manifest = json.loads((result.version_dir / "manifest.json").read_text())
    assert manifest["encoder_store"] is None
    assert manifest["encoders"] == {"fp32": "encoder.onnx", "int8": "encoder.int8.onnx"}
    copy = tmp_path / "alone" / "default" / result.version
    shutil.copytree(result.version_dir, copy)
    load_export(copy, verify_all=True)


def test_cli_says_the_encoder_was_reused(
    with_store: Path,
    trained_example_model: Path,
    capsys: pytest.CaptureFixture[str],
    no_tracing: None,
) -> None:
    models = str(trained_example_model.parent)
    assert main(["--models-dir", models, "--export-dir", str(with_store), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "encoder: reused from the store" in out and "(shared encoder store)" in out
