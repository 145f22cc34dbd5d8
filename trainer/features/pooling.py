"""The features the head reads, as one torch module: the trainer embeds with it and the
exporter traces it into `encoder.onnx`, so training and serving compute the same thing.

Per chosen layer: the hidden states averaged over the real tokens (the attention mask
excludes padding), then L2-normalised; the layers' vectors are concatenated. The last
layer alone, pooled the same way, is the standard sentence-transformers embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over the sequence [B, T, H] -> [B, H], then L2 normalisation."""
    pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2.0, dim=1)


class PooledEncoder(nn.Module):
    """A HF transformer + pooling: (input_ids, attention_mask) -> (sentence embedding
    [B, H], features [B, H * len(feature_layers)], token states [B, T, H]). Layer numbers
    count from 1."""

    def __init__(
        self, transformer: nn.Module, feature_layers: Sequence[int], token_type_ids: bool = True
    ) -> None:
        super().__init__()
        self.transformer = transformer
        self.feature_layers = tuple(feature_layers)
        self.token_type_ids = token_type_ids

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        extra = {"token_type_ids": torch.zeros_like(input_ids)} if self.token_type_ids else {}
        output = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=True,
            **extra,
        )
        mask = attention_mask.unsqueeze(-1).to(output.last_hidden_state.dtype)
        sentence = mean_pool(output.last_hidden_state, mask)
        blocks = [mean_pool(output.hidden_states[layer], mask) for layer in self.feature_layers]
        return sentence, torch.cat(blocks, dim=1), output.last_hidden_state
