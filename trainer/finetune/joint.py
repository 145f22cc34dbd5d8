"""The entity loss inside `--fine-tune`: a token head trained together with the encoder and
the intent head (JointBERT's recipe: loss = intent loss + ENTITY_WEIGHT x token-tag loss).

The texts are tokenized once by the export's tokenizer (`tagging.states.tokenizer_of`); each
batch runs the `PooledEncoder` once and takes both its features (the intent loss) and its
token states (the tag loss): the states the head learns on are what `encoder.onnx`'s
`token_states` computes. The tag loss is the cross-entropy over the real tokens only:
padding and the special tokens ([CLS], [SEP]: offsets (0, 0)) are masked out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from intent_server.core.entities.spans import EntitySpan
from intent_server.core.entities.tags import EntityKey, TagSet
from intent_server.core.model_card import EncoderIdentity
from trainer.data.model import TrainingData
from trainer.features.pooling import PooledEncoder
from trainer.tagging.fitting import HIDDEN
from trainer.tagging.head import TokenHead
from trainer.tagging.states import TokenizedText, padded_ids, tokenize, tokenizer_of

ENTITY_WEIGHT = 1.0  # docs/research/entities.md, "Fine-tuning with the entity loss"
TOKEN_HEAD_LR = 1e-3


@dataclass(frozen=True)
class EntityTargets:
    """The bot's annotations as the tuning sees them: its tag set and each text's spans
    (a text without annotations is all `O`)."""

    tag_set: TagSet
    spans: dict[str, tuple[EntitySpan, ...]]
    weight: float = ENTITY_WEIGHT

    @classmethod
    def of(
        cls,
        data: TrainingData,
        validation: TrainingData | None = None,
        weight: float = ENTITY_WEIGHT,
    ) -> EntityTargets | None:
        """None for a bot without entity annotations (the tuning is then unchanged). The
        tag set is the training data's; `validation`'s spans are scored, never trained on."""
        spans = [span for example in data.examples for span in example.entities]
        if not spans:
            return None
        examples = [*data.examples, *(validation.examples if validation else ())]
        by_text = {example.text: tuple(example.entities) for example in examples}
        return cls(TagSet.of_spans(spans), by_text, weight)

    def gold(self, texts: Sequence[str]) -> list[tuple[EntitySpan, ...]]:
        return [self.spans.get(text, ()) for text in texts]

    def tags(self, tokens: Sequence[TokenizedText]) -> list[np.ndarray]:
        """Gold tags of each text's tokens (spans of a key the tag set lacks: `O`)."""
        keys = set(self.tag_set.keys)
        return [
            self.tag_set.encode(
                tok.offsets,
                [span for span in self.spans.get(tok.text, ()) if EntityKey.of(span) in keys],
            )
            for tok in tokens
        ]


@dataclass(frozen=True)
class TokenBatch:
    """Padded token ids and attention mask [B, T], gold tags [B, T] and the tag loss's mask
    [B, T] (real, non-special tokens)."""

    ids: torch.Tensor
    mask: torch.Tensor
    tags: torch.Tensor
    scored: torch.Tensor


def token_batch(
    tokens: Sequence[TokenizedText], tags: Sequence[np.ndarray], device: torch.device
) -> TokenBatch:
    ids, mask = padded_ids(tokens)
    gold = torch.zeros(ids.shape, dtype=torch.int64)
    scored = torch.zeros(ids.shape, dtype=torch.bool)
    for row, (tok, tag) in enumerate(zip(tokens, tags, strict=True)):
        length = len(tok.ids)
        gold[row, :length] = torch.from_numpy(tag)
        scored[row, :length] = torch.tensor([end > start for start, end in tok.offsets])
    return TokenBatch(ids.to(device), mask.to(device), gold.to(device), scored.to(device))


def masked_tag_loss(logits: torch.Tensor, tags: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of tag logits [B, T, L] against tags [B, T] over the positions
    where `scored` [B, T] is true; 0 (still part of the graph) when none is."""
    if not bool(scored.any()):
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits[scored], tags[scored])


class JointTagging:
    """One tuning run's token head and the run's texts tokenized with their gold tags."""

    def __init__(
        self,
        targets: EntityTargets,
        texts: Sequence[str],
        identity: EncoderIdentity,
        device: torch.device,
    ) -> None:
        self.targets = targets
        self.identity = identity
        self.device = device
        self.tokens = tokenize(tokenizer_of(identity), texts)
        self.tags = targets.tags(self.tokens)
        self.head = TokenHead(identity.dim, HIDDEN, targets.tag_set.size).to(device)
        self.head.train()

    def forward(self, model: Any, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(the intent features [B, feature_dim], the weighted tag loss) of the texts `rows`,
        from one encoder pass."""
        batch = token_batch(
            [self.tokens[i] for i in rows], [self.tags[i] for i in rows], self.device
        )
        transformer = getattr(model[0], "auto_model")  # noqa: B009 - untyped ST attribute
        pooled = PooledEncoder(
            transformer, self.identity.feature_layers, self.identity.token_type_ids
        )
        _, features, states = pooled(batch.ids, batch.mask)
        loss = masked_tag_loss(self.head(states), batch.tags, batch.scored)
        return features, self.targets.weight * loss

    def finished(self) -> TokenHead:
        """The head in eval mode, on the CPU."""
        return self.head.to("cpu").eval()
