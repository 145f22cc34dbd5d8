"""The served head: the graph's familiarity is the calibration's, term for term."""

from __future__ import annotations

import numpy as np
import torch

from intent_server.core.model_card import HeadConfig
from trainer.calibration.familiarity import build_bank, familiarity, with_confidence
from trainer.training.head import MLPHead, ServedHead


def test_served_familiarity_equals_the_calibration_score() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 8)).astype(np.float32)
    y = np.repeat(np.arange(3), 10)
    bank = build_bank(x, y, np.ones(3, dtype=bool))
    head = MLPHead(HeadConfig(input_dim=8, hidden=(4,), num_classes=3)).eval()
    query = rng.normal(size=(6, 8)).astype(np.float32)
    for weight in (0.0, 0.05):
        served = ServedHead(
            head, torch.from_numpy(bank.vectors), torch.from_numpy(bank.offsets), weight
        ).eval()
        with torch.no_grad():
            probs, score = served(torch.from_numpy(query))
        expected = with_confidence(familiarity(query, bank), probs.numpy(), weight)
        assert np.allclose(score.numpy(), expected, atol=1e-5)
