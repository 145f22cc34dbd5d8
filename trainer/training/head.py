"""The MLP head over frozen encoder features (default: one 1024-wide layer over the 1152-d
multi-layer features of all-MiniLM-L6-v2; the article's 384-256-128 stays reachable)."""

from __future__ import annotations

import torch
from torch import nn

from intent_server.core.model_card import HeadConfig


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
    best cosine to the unit vectors of `bank` [M, input_dim]."""

    def __init__(self, head: nn.Module, bank: torch.Tensor) -> None:
        super().__init__()
        self.head = head
        self.bank_t: torch.Tensor
        self.register_buffer("bank_t", bank.t().contiguous())

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.softmax(self.head(features), dim=-1)
        unit = nn.functional.normalize(features, p=2.0, dim=1)
        familiarity = (unit @ self.bank_t).max(dim=1).values
        return probabilities, familiarity
