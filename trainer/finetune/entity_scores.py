"""Slot F1 for the fine-tuning comparison: the jointly trained token head over the tuned
encoder, and a head trained on the frozen encoder's states, scored on the same texts the
intent comparison scores (held-out, or out of fold)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.model_card import EncoderIdentity
from trainer.entity_metrics import micro_f1
from trainer.finetune.joint import EntityTargets
from trainer.tagging.fitting import HIDDEN, TokenData, extract, train_token_head
from trainer.tagging.head import TokenHead
from trainer.tagging.states import token_states, tokenize, tokenizer_of


def token_data(
    model: Any, identity: EncoderIdentity, texts: Sequence[str], targets: EntityTargets
) -> TokenData:
    """Tokens, states (of `model`, frozen or tuned) and gold tags of `texts`."""
    tokens = tokenize(tokenizer_of(identity), texts)
    states = token_states(model, identity, tokens)
    return TokenData(tuple(tokens), tuple(states), tuple(targets.tags(tokens)))


def extracted(
    head: TokenHead, targets: EntityTargets, data: TokenData
) -> list[list[ExtractedEntity]]:
    """The spans the head and the decoder find (the learned ones: no lexicon here)."""
    return extract(head, targets.tag_set, data)


def frozen_head(data: TokenData, targets: EntityTargets, seed: int) -> TokenHead:
    """The frozen path's head (trainer/tagging's recipe) on `data`."""
    return train_token_head(data, targets.tag_set.size, HIDDEN, seed)


def slot_f1(
    found: Sequence[Sequence[ExtractedEntity]], targets: EntityTargets, texts: Sequence[str]
) -> float | None:
    """Micro F1 of exact spans; None when the texts annotate no span (nothing to compare)."""
    gold = targets.gold(texts)
    if not any(gold):
        return None
    return micro_f1(found, gold)


def spans_in(targets: EntityTargets, texts: Sequence[str]) -> int:
    return sum(len(spans) for spans in targets.gold(texts))


@dataclass(frozen=True)
class SlotScores:
    """Slot F1 on the compared examples: the frozen encoder's head, the tuned run's joint
    head, and a head retrained on the tuned encoder's states (trainer/tagging's recipe)."""

    frozen: float
    joint: float
    retrained: float
    spans: int

    @property
    def keeps_joint(self) -> bool:
        """The joint head is kept unless the retrained one scored higher."""
        return self.joint >= self.retrained

    @property
    def tuned(self) -> float:
        return max(self.joint, self.retrained)

    def summary(self) -> str:
        return (
            f"slot F1 {self.joint:.4f} joint head, {self.retrained:.4f} retrained head, "
            f"{self.frozen:.4f} frozen ({self.spans} spans)"
        )
