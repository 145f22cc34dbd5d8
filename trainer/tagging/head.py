"""The entity head: a small per-token classifier over the encoder's token states.

`hidden` 0 is one linear layer; otherwise Dropout-Linear-GELU-Dropout-Linear. `ServedTokenHead`
adds the softmax and is what `entities.onnx` is traced from; decoding (constrained Viterbi)
happens outside the graph, in `intent_server.core.entities`, for trainer and server alike.
"""

from __future__ import annotations

import torch
from torch import nn

DROPOUT = 0.1


class TokenHead(nn.Module):
    def __init__(self, token_dim: int, hidden: int, tags: int) -> None:
        super().__init__()
        self.layers: nn.Module
        if hidden == 0:
            self.layers = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(token_dim, tags))
        else:
            self.layers = nn.Sequential(
                nn.Dropout(DROPOUT),
                nn.Linear(token_dim, hidden),
                nn.GELU(),
                nn.Dropout(DROPOUT),
                nn.Linear(hidden, tags),
            )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Tag logits [..., tags] for token states [..., token_dim]."""
        return self.layers(states)  # type: ignore[no-any-return]


class ServedTokenHead(nn.Module):
    """token states [B, T, dim] -> tag probabilities [B, T, tags]."""

    def __init__(self, head: TokenHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(states), dim=-1)
