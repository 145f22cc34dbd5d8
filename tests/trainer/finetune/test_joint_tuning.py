"""`--fine-tune` on the tiny entity bot for real: every tuning run trains a token head along
with the encoder (the joint loss), the comparison scores slot F1 out of fold, the kept tuned
model keeps that head, and the export answers entities with it through the server's runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from intent_server.core.exports import load_export, resolve_current
from intent_server.core.layout import ENTITY_HEAD_WEIGHTS, MODEL_CARD
from tests.fixtures.entities import entity_data
from trainer.export.pipeline import export_model
from trainer.finetune import tuning
from trainer.pipeline import TrainOptions, train

pytestmark = pytest.mark.slow

QUICK = {"fine_tune_epochs": 20, "fine_tune_folds": 2}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[torch.Tensor]]:
    """(model folder, export version folder, the joint heads' first weights as tuned)."""
    root = tmp_path_factory.mktemp("joint")
    heads: list[torch.Tensor] = []
    real = tuning.tune_encoder

    def recording(*args: object, **kwargs: object) -> tuning.TunedEncoder:
        out = real(*args, **kwargs)  # type: ignore[arg-type]
        assert out.token_head is not None  # the bot annotates entities: the joint loss ran
        heads.append(next(out.token_head.parameters()).detach().clone())
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("trainer.finetune.comparison.tune_encoder", recording)
        train(
            entity_data(),
            model_name="slots",
            models_dir=root / "models",
            options=TrainOptions(fine_tune="force", **QUICK),  # type: ignore[arg-type]
            cache_dir=root / "cache",
        )
    export_model("slots", models_dir=root / "models", export_dir=root / "exported")
    return root / "models" / "slots", resolve_current(root / "exported", "slots"), heads


def test_the_comparison_scores_slots_out_of_fold(
    tuned: tuple[Path, Path, list[torch.Tensor]],
) -> None:
    folder, _, heads = tuned
    card = json.loads((folder / MODEL_CARD).read_text())
    record = card["fine_tuning"]
    assert record["kept"] == "tuned" and record["runs"] == 3 and len(heads) == 3
    assert record["entity_spans"] == sum(len(e.entities) for e in entity_data().examples)
    assert 0.0 <= record["frozen_entity_f1"] <= 1.0
    assert 0.0 <= record["tuned_entity_f1"] <= 1.0
    # the kept head is the last run's joint head, with the out-of-fold F1 as its score
    assert card["entities"]["val_f1"] == record["tuned_entity_f1"]
    kept = load_file(str(folder / ENTITY_HEAD_WEIGHTS))["layers.1.weight"]
    assert torch.equal(kept, heads[-1])
    assert "slot F1" in (folder / "report" / "report.md").read_text()


def test_the_export_extracts_entities_with_the_joint_head(
    tuned: tuple[Path, Path, list[torch.Tensor]],
) -> None:
    _, version_dir, _ = tuned
    examples = [e for e in entity_data().examples if e.entities]
    loaded = load_export(version_dir, "fp32", verify_all=True)
    found = loaded.open().predict([e.text for e in examples]).entities
    assert found is not None
    hits = sum(
        len({(s.start, s.end, s.entity) for s in example.entities}
            & {(x.start, x.end, x.entity) for x in answer})
        for example, answer in zip(examples, found, strict=True)
    )  # fmt: skip
    assert hits >= len(examples) // 2, found
