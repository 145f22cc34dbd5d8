"""The MLP head over frozen encoder features (default: one 1024-wide layer over the 1152-d
multi-layer features of all-MiniLM-L6-v2; the article's 384-256-128 stays reachable)."""

from __future__ import annotations

import torch
from torch import nn

from intent_server.core.model_card import HeadConfig
from trainer.calibration.familiarity import MASKED_COSINE


class MLPHead(nn.Module):
    """Linear-[BatchNorm]-ReLU-Dropout blocks, then a linear layer to class logits."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.input_dim
        for size in config.hidden:
            layers.append(nn.Linear(width, size))
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(nn.ReLU())
            layers.append(nn.Dropout(config.dropout))
            width = size
        layers.append(nn.Linear(width, config.num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits [N, C]; use `probabilities` for softmax output."""
        return self.layers(embeddings)  # type: ignore[no-any-return]


class ServedHead(nn.Module):
    """What `head.onnx` computes: the head's probabilities and each text's familiarity, its
    cosines to the unit vectors of `bank` [M, input_dim] less each vector's `offsets` [M]:
    the best of them, or with `intent_neighbours` > 0 the mean of that many best among the
    vectors whose `intents` [M] is the predicted label (fewer where it has fewer; none: the
    best of all); plus `confidence_weight` x log(best probability) when that weight is not 0
    (see `trainer.calibration.familiarity`, whose numpy twin this is)."""

    def __init__(
        self,
        head: nn.Module,
        bank: torch.Tensor,
        offsets: torch.Tensor | None = None,
        confidence_weight: float = 0.0,
        intents: torch.Tensor | None = None,
        intent_neighbours: int = 0,
    ) -> None:
        super().__init__()
        self.head = head
        self.confidence_weight = float(confidence_weight)
        self.neighbours = min(int(intent_neighbours), int(bank.shape[0]))
        self.bank_t: torch.Tensor
        self.offsets: torch.Tensor
        self.intents: torch.Tensor
        self.register_buffer("bank_t", bank.t().contiguous())
        if offsets is None:
            offsets = torch.zeros(bank.shape[0], dtype=bank.dtype)
        self.register_buffer("offsets", offsets.reshape(1, -1).contiguous())
        if intents is None:
            intents = torch.zeros(bank.shape[0], dtype=torch.int64)
        self.register_buffer("intents", intents.reshape(1, -1).to(torch.int64).contiguous())

    def _near_intent(self, scores: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        """Mean of the best `neighbours` scores among the predicted intent's vectors."""
        same = self.intents == predicted.reshape(-1, 1)
        masked = torch.where(same, scores, torch.full_like(scores, MASKED_COSINE))
        top = torch.topk(masked, self.neighbours, dim=1).values
        valid = top > MASKED_COSINE / 2
        count = valid.to(scores.dtype).sum(dim=1)
        mean = torch.where(valid, top, torch.zeros_like(top)).sum(dim=1) / count.clamp_min(1.0)
        return torch.where(count > 0, mean, scores.max(dim=1).values)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.softmax(self.head(features), dim=-1)
        unit = nn.functional.normalize(features, p=2.0, dim=1)
        scores = unit @ self.bank_t - self.offsets
        if self.neighbours > 0:
            familiarity = self._near_intent(scores, probabilities.argmax(dim=1))
        else:
            familiarity = scores.max(dim=1).values
        if self.confidence_weight != 0.0:
            best = probabilities.max(dim=1).values.clamp_min(1e-12)
            familiarity = familiarity + self.confidence_weight * torch.log(best)
        return probabilities, familiarity
