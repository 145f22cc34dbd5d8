"""The entity loss inside `--fine-tune`, without tuning: the masked token loss, the padded
batches it reads (special tokens and padding never scored), and the targets of a bot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from intent_server.core.entities.spans import EntitySpan
from intent_server.core.entities.tags import TagSet
from tests.fixtures.entities import entity_data, plain_data
from trainer.data.model import Example, TrainingData
from trainer.features.identity import encoder_identity
from trainer.finetune.comparison import _Tuned
from trainer.finetune.entity_scores import SlotScores
from trainer.finetune.joint import EntityTargets, masked_tag_loss, token_batch
from trainer.tagging.states import tokenize, tokenizer_of
from trainer.training.options import TrainOptions


def test_the_loss_is_the_cross_entropy_of_the_scored_positions_only() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5)
    tags = torch.tensor([[0, 1, 2, 0], [3, 4, 0, 0]])
    scored = torch.tensor([[False, True, True, False], [False, True, False, False]])
    expected = torch.nn.functional.cross_entropy(
        torch.stack([logits[0, 1], logits[0, 2], logits[1, 1]]), torch.tensor([1, 2, 4])
    )
    assert torch.allclose(masked_tag_loss(logits, tags, scored), expected)
    changed = logits.clone()
    changed[~scored] = 100.0  # padding and special tokens: whatever the head says there
    changed_tags = tags.masked_fill(~scored, 3)
    assert torch.allclose(masked_tag_loss(changed, changed_tags, scored), expected)


def test_the_loss_of_a_batch_without_scored_positions_is_zero_and_differentiable() -> None:
    logits = torch.randn(1, 3, 5, requires_grad=True)
    loss = masked_tag_loss(logits, torch.zeros(1, 3, dtype=torch.int64), torch.zeros(1, 3) > 0)
    loss.backward()  # type: ignore[no-untyped-call]
    assert float(loss.detach()) == 0.0 and logits.grad is not None and not logits.grad.any()


def test_a_batch_pads_and_scores_only_the_real_word_pieces() -> None:
    options = TrainOptions()
    identity = encoder_identity(options.encoder, options.feature_layers, options.encoder_layers)
    targets = EntityTargets.of(entity_data())
    assert targets is not None
    texts = ["book a table for 2 at 7pm", "hi"]  # the first example: party_size, time
    tokens = tokenize(tokenizer_of(identity), texts)
    batch = token_batch(tokens, targets.tags(tokens), torch.device("cpu"))
    long, short = (len(tok.ids) for tok in tokens)
    assert batch.ids.shape == batch.tags.shape == batch.scored.shape == (2, long)
    assert batch.mask[1].tolist() == [1] * short + [0] * (long - short)
    # [CLS] and [SEP] of each text, and the padding, are not scored
    assert batch.scored[0].tolist() == [False] + [True] * (long - 2) + [False]
    assert batch.scored[1].tolist() == [False] + [True] * (short - 2) + [False] * (long - short + 1)
    names = targets.tag_set.names()
    pairs = zip(batch.tags[0].tolist(), batch.scored[0].tolist(), strict=True)
    tagged = [names[tag] for tag, on in pairs if on]
    assert "B-party_size/-/-" in tagged and "B-time/-/-" in tagged


def test_a_bot_without_annotations_has_no_targets() -> None:
    assert EntityTargets.of(plain_data()) is None


def test_validation_spans_are_scored_but_a_type_the_training_lacks_tags_o() -> None:
    data = entity_data()
    unseen = Example(
        "fly to Mars", "book_flight", Path("valid.yml"), 1, (EntitySpan(7, 11, "planet", "Mars"),)
    )
    targets = EntityTargets.of(data, TrainingData((unseen,), ()))
    assert targets is not None
    assert targets.gold(["fly to Mars"]) == [unseen.entities]
    assert "planet" not in {key.entity for key in targets.tag_set.keys}
    options = TrainOptions()
    identity = encoder_identity(options.encoder, options.feature_layers, options.encoder_layers)
    tokens = tokenize(tokenizer_of(identity), ["fly to Mars"])
    assert not np.any(targets.tags(tokens)[0])
    assert targets.tag_set == TagSet.of_spans([s for e in data.examples for s in e.entities])


@pytest.mark.parametrize(
    ("intent", "slots", "kept"),
    [
        ((0.95, 0.96), (0.60, 0.80, 0.70), True),  # a small intent loss, a large slot gain
        ((0.95, 0.90), (0.60, 0.62, 0.50), False),  # a large intent loss, a small slot gain
        ((0.95, 0.94), (0.60, 0.50, 0.70), True),  # the retrained head's gain counts
        ((0.90, 0.91), None, True),  # no spans compared: intent accuracy alone
        ((0.90, 0.90), (0.70, 0.70, 0.70), False),  # a tie keeps the frozen model
    ],
)
def test_the_comparison_weighs_a_point_of_slot_f1_as_a_point_of_accuracy(
    intent: tuple[float, float], slots: tuple[float, float, float] | None, kept: bool
) -> None:
    scores = None if slots is None else SlotScores(*slots, spans=5)
    tuned = _Tuned(1, None, None, 10, intent[0], intent[1], scores)
    assert (tuned.gain() > 0) is kept


def test_the_joint_head_is_kept_unless_a_retrained_one_scores_higher() -> None:
    assert SlotScores(0.5, 0.8, 0.8, 3).keeps_joint
    assert not SlotScores(0.5, 0.7, 0.8, 3).keeps_joint
    assert SlotScores(0.5, 0.7, 0.8, 3).tuned == 0.8
