"""`--fine-tune` on the tiny entity bot for real: the tuning run trains a token head along
with the encoder (the joint loss), the comparison scores slot F1 on the validation examples,
the kept tuned model keeps that head, and the export answers entities with it through the
server's runtime. One tuning run (a validation file): the cross-validated path runs the
same code once per fold."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from intent_server.core.exports import load_export, resolve_current
from intent_server.core.layout import ENTITY_HEAD_WEIGHTS, MODEL_CARD
from tests.fixtures.entities import entity_data
from trainer.data.model import TrainingData
from trainer.export.pipeline import export_model
from trainer.finetune import tuning
from trainer.pipeline import TrainOptions, train

# A guard for a shared, loaded machine (about a minute on an idle one), not a timed claim.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

QUICK = {"fine_tune_epochs": 30}
HELD = 2  # validation examples per intent


def _split() -> tuple[TrainingData, TrainingData]:
    data, held, seen = entity_data(), [], Counter[str]()
    for example in data.examples:
        if example.entities and seen[example.intent] < HELD:
            held.append(example)
            seen[example.intent] += 1
    rest = tuple(example for example in data.examples if example not in held)
    return replace(data, examples=rest), TrainingData(tuple(held), data.sources)


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
        data, validation = _split()
        train(
            data,
            model_name="slots",
            models_dir=root / "models",
            options=TrainOptions(fine_tune="force", **QUICK),  # type: ignore[arg-type]
            cache_dir=root / "cache",
            validation=validation,
        )
    export_model("slots", models_dir=root / "models", export_dir=root / "exported")
    return root / "models" / "slots", resolve_current(root / "exported", "slots"), heads


def test_the_comparison_scores_slots_on_the_validation_examples(
    tuned: tuple[Path, Path, list[torch.Tensor]],
) -> None:
    folder, _, heads = tuned
    card = json.loads((folder / MODEL_CARD).read_text())
    record = card["fine_tuning"]
    assert record["kept"] == "tuned" and record["compared_on"] == "held-out"
    assert record["runs"] == 1 and len(heads) == 1
    assert record["entity_spans"] == sum(len(e.entities) for e in _split()[1].examples)
    assert 0.0 <= record["frozen_entity_f1"] <= 1.0
    assert 0.0 <= record["tuned_entity_f1"] <= 1.0
    # the joint head is kept, with the validation F1 as its score, unless a head retrained
    # on the tuned states scored higher there
    joint = record["entity_head"] == "joint"
    assert record["entity_head"] in ("joint", "retrained")
    kept = load_file(str(folder / ENTITY_HEAD_WEIGHTS))["layers.1.weight"]
    assert torch.equal(kept, heads[-1]) is joint
    assert (card["entities"]["val_f1"] == record["tuned_entity_f1"]) is joint
    assert "slot F1" in (folder / "report" / "report.md").read_text()


def test_the_export_extracts_entities_with_the_joint_head(
    tuned: tuple[Path, Path, list[torch.Tensor]],
) -> None:
    _, version_dir, _ = tuned
    examples = [e for e in _split()[0].examples if e.entities]
    loaded = load_export(version_dir, "fp32", verify_all=True)
    found = loaded.open().predict([e.text for e in examples]).entities
    assert found is not None
    hits = sum(
        len({(s.start, s.end, s.entity) for s in example.entities}
            & {(x.start, x.end, x.entity) for x in answer})
        for example, answer in zip(examples, found, strict=True)
    )  # fmt: skip
    assert hits >= len(examples) // 2, found
