"""The supervised contrastive loss (Khosla et al. 2020) over a batch of sentence features."""

from __future__ import annotations

import torch
from torch import nn


def supervised_contrastive(
    features: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean over anchors with at least one positive of -mean_p log softmax(cos/T)[p]: each
    example is pulled towards the batch's other examples of its intent and pushed away from
    every other example."""
    z = nn.functional.normalize(features, p=2.0, dim=1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=z.device)
    similarity = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~eye
    has_positive = positive.any(dim=1)
    per_anchor = -(log_prob.masked_fill(~positive, 0.0)).sum(dim=1) / positive.sum(dim=1).clamp(
        min=1
    )
    return per_anchor[has_positive].mean()
