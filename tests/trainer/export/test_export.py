"""The exporter: gates recorded in the manifest, ONNX signatures, atomic publishing, CLI codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from intent_server.core.exports import load_export, resolve_current
from tests.fixtures.export import link_copy
from trainer.cli.export import main
from trainer.cli.train import main as intent_train
from trainer.errors import UserError
from trainer.export import gates
from trainer.export import pipeline as export_module
from trainer.export.pipeline import export_model
from trainer.training.model_store import load_trained_model


def _manifest(version_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((version_dir / "manifest.json").read_text())
    return data


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture()
def fast_onnx(monkeypatch: pytest.MonkeyPatch, exported_example_version: Path) -> None:
    """Reuse the session's encoder files instead of re-tracing (~15 s) and re-quantizing
    (~10 s); the gates, manifest and publishing still run for real on them."""

    def encoder(transformer: Any, identity: Any, path: Path, opset: int = 17) -> None:
        shutil.copyfile(load_export(exported_example_version, "fp32").encoder_path, path)

    def quantize(fp32_path: Path, int8_path: Path) -> None:
        shutil.copyfile(load_export(exported_example_version, "int8").encoder_path, int8_path)

    monkeypatch.setattr(export_module, "export_encoder", encoder)
    monkeypatch.setattr(export_module, "quantize_encoder", quantize)


@pytest.fixture()
def previous(exported_example_version: Path, tmp_path: Path) -> Path:
    """An export folder that already holds a good export of `default`."""
    export_dir = tmp_path / "exported"
    link_copy(exported_example_version, export_dir)
    return export_dir


def test_manifest_records_gates_metrics_and_files(
    exported_example_version: Path, trained_example_model: Path
) -> None:
    manifest = _manifest(exported_example_version)
    trained = load_trained_model(trained_example_model)
    assert manifest["model_version"] == trained.version
    assert manifest["version"] == exported_example_version.name
    assert manifest["labels"] == list(trained.labels)
    assert manifest["opset"] == 17
    assert manifest["encoder"]["weights_sha256"].startswith("53aa5117")
    assert manifest["encoder"]["max_tokens"] == 256
    assert manifest["encoder"]["feature_layers"] == [4, 5, 6]
    assert manifest["encoder"]["feature_dim"] == 1152
    assert manifest["encoder_store"] == ".encoders" and set(manifest["encoders"]) == {
        "fp32",
        "int8",
    }
    for name in manifest["encoders"].values():  # content-addressed: named by their sha256
        assert manifest["files"][name] + ".onnx" == name
    checks = manifest["verification"]
    for name in (
        "encoder_fp32_vs_pytorch",
        "features_fp32_vs_trainer",
        "head_onnx_vs_pytorch",
        "familiarity_onnx_vs_pytorch",
        "reference_hello_world",
    ):
        assert checks[name]["passed"] and not checks[name]["skipped"], checks[name]
    assert checks["encoder_fp32_vs_pytorch"]["value"] >= 0.9999
    assert checks["features_fp32_vs_trainer"]["value"] >= 0.9999
    assert checks["head_onnx_vs_pytorch"]["value"] <= 1e-5
    metrics = manifest["metrics"]
    assert metrics["val_examples"] == len(trained.validation.texts)
    # The example bot is cross-validated: the export's texts are the ones its head learnt, so
    # they score at least as well as the cross-validated answers the card records.
    assert metrics["val_held_out"] is False and not trained.validation.held_out
    assert metrics["val_accuracy_fp32"] >= trained.card.metrics.val_accuracy
    assert checks["familiarity_onnx_vs_pytorch"]["value"] <= 1e-5
    assert manifest["familiarity"] == trained.card.familiarity.to_json()
    expected = gates.choose_default(
        metrics["val_accuracy_fp32"],
        metrics["val_accuracy_int8"],
        checks["int8_vs_fp32"]["passed"],
        metrics["val_examples"],
    )
    assert manifest["default_encoder"] == expected
    assert checks["int8_vs_fp32"]["value"] >= 0.99  # mean cosine to fp32
    assert manifest["heads"] == {"int8": "head.int8.onnx"} and manifest["format_version"] == 6
    assert checks["head_int8_vs_fp32"]["passed"], checks["head_int8_vs_fp32"]
    assert checks["head_int8_vs_fp32"]["value"] <= gates.HEAD_INT8_MAX_ABS_DIFF
    # the example bot's validation texts are annotated: INT8 is scored on their spans
    assert "slot F1 int8" in checks["entities_int8_vs_fp32"]["detail"]


def test_tokenizer_has_no_padding_and_truncates_at_256(exported_example_version: Path) -> None:
    tokenizer = json.loads((exported_example_version / "tokenizer.json").read_text())
    assert tokenizer["padding"] is None
    assert tokenizer["truncation"]["max_length"] == 256


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_encoder_signature(exported_example_version: Path, variant: str) -> None:
    path = load_export(exported_example_version, variant).encoder_path
    session = ort.InferenceSession(str(path))
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {
        "input_ids": ("tensor(int64)", ["batch", "sequence"]),
        "attention_mask": ("tensor(int64)", ["batch", "sequence"]),
    }
    outputs = {o.name: (o.type, o.shape) for o in session.get_outputs()}
    assert outputs == {
        "sentence_embedding": ("tensor(float)", ["batch", 384]),
        "features": ("tensor(float)", ["batch", 1152]),
        "token_states": ("tensor(float)", ["batch", "sequence", 384]),
    }


def test_head_signature(exported_example_version: Path) -> None:
    session = ort.InferenceSession(str(exported_example_version / "head.onnx"))
    (feed,) = session.get_inputs()
    probabilities, familiarity = session.get_outputs()
    classes = len(_manifest(exported_example_version)["labels"])
    assert (feed.name, feed.type, feed.shape) == ("embedding", "tensor(float)", ["batch", 1152])
    assert (probabilities.name, probabilities.shape) == ("probabilities", ["batch", classes])
    assert (familiarity.name, familiarity.type, familiarity.shape) == (
        "familiarity",
        "tensor(float)",
        ["batch"],
    )


def test_failed_gate_keeps_the_previous_export(
    previous: Path,
    trained_example_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_onnx: None,
) -> None:
    before = _listing(previous)
    monkeypatch.setattr(gates, "ENCODER_MIN_COSINE", 1.5)
    with pytest.raises(gates.GateFailure, match=r"gate 'encoder_fp32_vs_pytorch' failed"):
        export_model(
            "default",
            models_dir=trained_example_model.parent,
            export_dir=previous,
            skip_int8=True,
        )
    assert _listing(previous) == before
    load_export(resolve_current(previous, "default"))


def test_interrupt_midway_leaves_no_temp_dir(
    previous: Path,
    trained_example_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_onnx: None,
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    before = _listing(previous)
    monkeypatch.setattr(export_module, "export_head", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model("default", models_dir=trained_example_model.parent, export_dir=previous)
    assert _listing(previous) == before


def test_reexport_gets_a_suffixed_version_and_switches_current(
    previous: Path, trained_example_model: Path, fast_onnx: None
) -> None:
    old = resolve_current(previous, "default")
    stale = previous / "default" / ".20000101T000000Z-0.tmp-999999999-x"
    stale.mkdir()
    result = export_model(
        "default",
        models_dir=trained_example_model.parent,
        export_dir=previous,
        skip_int8=True,
    )
    assert result.version == f"{old.name}-2"
    assert resolve_current(previous, "default") == result.version_dir
    assert old.is_dir() and not stale.exists()
    manifest = _manifest(result.version_dir)
    assert set(manifest["encoders"]) == {"fp32"}
    assert manifest["heads"] == {} and not (result.version_dir / "head.int8.onnx").exists()
    assert manifest["default_encoder"] == "fp32"
    assert manifest["metrics"]["val_accuracy_int8"] is None
    assert load_export(result.version_dir).encoder_variant == "fp32"


def test_int8_gate_failure_falls_back_to_fp32_or_fails_when_required(
    tmp_path: Path,
    trained_example_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_onnx: None,
) -> None:
    monkeypatch.setattr(gates, "INT8_MIN_AGREEMENT", 1.01)
    monkeypatch.setattr(gates, "INT8_SMALL_SAMPLE_FLIPS", -1)
    export_dir = tmp_path / "exported"
    with pytest.raises(gates.GateFailure, match=r"gate 'int8_vs_fp32' failed"):
        export_model(
            "default",
            models_dir=trained_example_model.parent,
            export_dir=export_dir,
            require_int8=True,
        )
    assert _listing(export_dir) == ["default"]  # an empty model folder, nothing in it
    result = export_model("default", models_dir=trained_example_model.parent, export_dir=export_dir)
    assert result.default_encoder == "fp32"
    assert not result.verification["int8_vs_fp32"].passed
    assert load_export(result.version_dir, "int8").encoder_variant == "int8"


def test_int8_agreement_allows_two_flips_on_small_sets_and_one_percent_on_large() -> None:
    assert gates.allowed_disagreements(80) == 2
    assert gates.allowed_disagreements(200) == 2
    assert gates.allowed_disagreements(3000) == 30
    same = np.zeros(80, dtype=np.int64)
    vectors = np.ones((80, 4), dtype=np.float32)
    two_flips, three_flips = same.copy(), same.copy()
    two_flips[:2] = 1
    three_flips[:3] = 1
    assert gates.int8_parity(vectors, vectors, two_flips, same).passed
    assert not gates.int8_parity(vectors, vectors, three_flips, same).passed


def test_default_variant_rule() -> None:
    assert gates.choose_default(0.950, 0.948, True) == "int8"
    assert gates.choose_default(0.950, 0.947, True) == "int8"
    assert gates.choose_default(0.950, 0.946, True) == "fp32"
    assert gates.choose_default(0.950, 0.960, False) == "fp32"
    assert gates.choose_default(0.950, None, True) == "fp32"


def test_default_variant_rule_allows_two_texts_on_small_validation_sets() -> None:
    # 83 texts: losing 2 (2.4 points) is within the agreement gate's small-sample allowance.
    assert gates.choose_default(76 / 83, 74 / 83, True, 83) == "int8"
    assert gates.choose_default(76 / 83, 73 / 83, True, 83) == "fp32"
    # 3,000 texts: the 0.3-point rule is the stricter one again.
    assert gates.choose_default(0.950, 0.947, True, 3000) == "int8"
    assert gates.choose_default(0.950, 0.946, True, 3000) == "fp32"


def test_bad_encoder_folder_is_a_user_error(tmp_path: Path, trained_example_model: Path) -> None:
    with pytest.raises(UserError, match=r"not a sentence-transformers model folder"):
        export_model(
            "default",
            models_dir=trained_example_model.parent,
            export_dir=tmp_path / "exported",
            encoder=tmp_path,
        )
    assert not (tmp_path / "exported").exists()


def test_cli_exit_codes(
    tmp_path: Path,
    trained_example_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fast_onnx: None,
) -> None:
    models = str(trained_example_model.parent)
    common = ["--models-dir", models, "--export-dir", str(tmp_path / "out"), "--quiet"]
    assert main(["--model", "missing", *common]) == 2
    assert "no trained model" in capsys.readouterr().err
    assert main(["--model", "bad name!", *common]) == 2
    assert main(["--opset", "5", *common]) == 2
    monkeypatch.setattr(gates, "HEAD_MAX_ABS_DIFF", -1.0)
    assert main(["--skip-int8", *common]) == 1
    err = capsys.readouterr().err
    assert "export failed: verification gate 'head_onnx_vs_pytorch' failed" in err
    assert intent_train(["export", "--skip-int8", *common]) == 1  # the same command
    assert "export failed: verification gate 'head_onnx_vs_pytorch'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "default" / "current").exists()
    monkeypatch.undo()
    assert main(["--model", "default", "--skip-int8", *common]) == 0
    out = capsys.readouterr().out
    assert "gate encoder_fp32_vs_pytorch" in out and "serving fp32" in out


def test_prune_keeps_the_newest_versions_and_current(tmp_path: Path) -> None:
    import os

    from trainer.export.publish import prune_versions

    for age, name in enumerate(["v5", "v4", "v3", "v2", "v1"]):
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, ns=(10**18 - age * 10**9, 10**18 - age * 10**9))
    (tmp_path / ".v6.tmp-1-x").mkdir()
    removed = prune_versions(tmp_path, keep=2, current="v1")
    assert sorted(removed) == ["v2", "v3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".v6.tmp-1-x", "v1", "v4", "v5"]
