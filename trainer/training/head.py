"""The MLP head over frozen encoder features (default: one 1024-wide layer over the 1152-d
multi-layer features of all-MiniLM-L6-v2; the article's 384-256-128 stays reachable)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class HeadConfig:
    input_dim: int = 1152
    hidden: tuple[int, ...] = (1024,)
    dropout: float = 0.3
    batch_norm: bool = True
    num_classes: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.input_dim <= 0 or self.num_classes < 2:
            raise ValueError("a head needs input_dim > 0 and at least 2 classes")
        if any(size <= 0 for size in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        data["type"] = "mlp"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeadConfig:
        return cls(
            input_dim=int(data["input_dim"]),
            hidden=tuple(int(s) for s in data["hidden"]),
            dropout=float(data["dropout"]),
            batch_norm=bool(data["batch_norm"]),
            num_classes=int(data["num_classes"]),
            extra=dict(data.get("extra", {})),
        )


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


class ProbabilityHead(nn.Module):
    """Wraps a trained head so that forward returns softmax probabilities (used for export)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(embeddings), dim=-1)


def build_head(config: HeadConfig) -> MLPHead:
    return MLPHead(config)
