"""`--fine-tune` for real on a three-intent bot: the tuned encoder is kept (force), written
into the model folder, exported through the same gates and answered by the server's runtime;
the embedding cache keeps only stock features; an interrupted tuning leaves the previous
model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from intent_server.core.exports import load_export, resolve_current
from intent_server.core.layout import TUNED_ENCODER
from tests.trainer.test_pipeline import small_data
from trainer.cli.train import main
from trainer.export.pipeline import export_model
from trainer.finetune import comparison
from trainer.pipeline import TrainOptions, train

pytestmark = pytest.mark.slow

QUICK = {"fine_tune_epochs": 1, "fine_tune_folds": 2}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(models dir, export version folder, cache dir) of a bot trained with --fine-tune=force."""
    root = tmp_path_factory.mktemp("tuned")
    train(
        small_data(),
        model_name="bot",
        models_dir=root / "models",
        options=TrainOptions(fine_tune="force", **QUICK),  # type: ignore[arg-type]
        cache_dir=root / "cache",
    )
    export_model("bot", models_dir=root / "models", export_dir=root / "exported")
    return root / "models", resolve_current(root / "exported", "bot"), root / "cache"


def test_the_card_and_manifest_record_the_tuning(tuned: tuple[Path, Path, Path]) -> None:
    models, version_dir, _ = tuned
    card = json.loads((models / "bot" / "model.json").read_text())
    record = card["fine_tuning"]
    assert record["kept"] == "tuned" and record["mode"] == "force"
    assert record["recipe"] == TrainOptions().fine_tune_recipe
    assert record["compared_on"] == "cross-validated" and record["runs"] == 3
    assert record["base_weights_sha256"].startswith("53aa5117")
    assert not card["encoder"]["weights_sha256"].startswith("53aa5117")
    assert card["encoder"]["path"] == str((models / "bot" / TUNED_ENCODER).resolve())
    report = (models / "bot" / "report" / "report.md").read_text()
    assert "Encoder: fine-tuning (end-to-end" in report and "kept the fine-tuned encoder" in report
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["encoder"]["weights_sha256"] == card["encoder"]["weights_sha256"]
    assert manifest["encoder"]["fine_tuning"] == record
    gates = manifest["verification"]
    assert gates["reference_hello_world"]["skipped"] is True
    for name in ("encoder_fp32_vs_pytorch", "features_fp32_vs_trainer", "head_onnx_vs_pytorch"):
        assert gates[name]["passed"] and not gates[name]["skipped"], gates[name]


def test_the_server_runtime_answers_with_the_tuned_encoder(
    tuned: tuple[Path, Path, Path],
) -> None:
    _, version_dir, _ = tuned
    examples = small_data().examples
    texts, truth = [e.text for e in examples], [e.intent for e in examples]
    loaded = load_export(version_dir, "int8", verify_all=True)
    probs = loaded.open().predict(texts).probabilities
    predicted = [loaded.labels[i] for i in np.argmax(probs, axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) >= 0.9


def test_the_cache_holds_only_stock_features(tuned: tuple[Path, Path, Path]) -> None:
    models, _, cache = tuned
    card = json.loads((models / "bot" / "model.json").read_text())
    tuned_key = card["encoder"]["weights_sha256"]
    cached = [path for path in cache.iterdir() if path.suffix == ".bin"]
    assert len(cached) == 1
    assert tuned_key not in cached[0].read_bytes()[:4096].decode("utf-8", "replace")


def test_an_interrupted_tuning_leaves_the_previous_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(__file__).parents[2] / "data" / "assistant_heldout.yml"
    models = tmp_path / "models"
    args = ["train", "--data", str(data), "--models-dir", str(models), "--quiet"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    before = (models / "default" / "model.json").read_bytes()

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(comparison, "tune_encoder", interrupt)
    assert main([*args, "--fine-tune", "--cache-dir", str(tmp_path / "cache")]) == 130
    assert "previous model was left unchanged" in capsys.readouterr().err
    assert (models / "default" / "model.json").read_bytes() == before
    assert not (models / "default" / TUNED_ENCODER).exists()


def test_the_contrastive_recipe_stops_when_its_minutes_are_spent(tmp_path: Path) -> None:
    options = TrainOptions(
        fine_tune="force",
        fine_tune_recipe="contrastive",
        fine_tune_epochs=50,
        fine_tune_folds=2,
        max_minutes=0.02,  # 1.2 s for three runs: each stops after a step or two
    )
    result = train(
        small_data(),
        model_name="quick",
        models_dir=tmp_path / "models",
        options=options,
        cache_dir=tmp_path / "cache",
    )
    record = result.card.fine_tuning
    assert record is not None and record.recipe == "contrastive" and record.keeps_tuned
    assert record.stopped_early and record.epochs == 1 and record.steps < 50
    assert (result.model_dir / TUNED_ENCODER / "model.safetensors").is_file()


def test_the_same_seed_tunes_the_same_weights() -> None:
    from trainer.features.identity import encoder_identity
    from trainer.finetune.budget import Budget
    from trainer.finetune.tuning import tune_encoder
    from trainer.logs import progress

    examples = small_data().examples[::3]
    texts = [e.text for e in examples]
    names = sorted({e.intent for e in examples})
    y = np.array([names.index(e.intent) for e in examples])
    options = TrainOptions(fine_tune="force", fine_tune_epochs=1)
    identity = encoder_identity()

    def weights(seed: int) -> dict[str, Any]:
        with progress(total=1) as bar:
            run = tune_encoder(texts, y, len(names), identity, options, Budget(None), 1, bar, seed)
        return {k: v.clone() for k, v in run.model.state_dict().items()}

    first, again, other = weights(5), weights(5), weights(6)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
