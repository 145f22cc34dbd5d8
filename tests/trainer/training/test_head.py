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


def test_served_intent_neighbours_equal_the_calibration_score() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 8)).astype(np.float32)
    y = np.repeat(np.arange(3), 10)
    y[20:29] = 0  # intent 2 keeps one example: its score is that one cosine
    bank = build_bank(x, y, np.ones(3, dtype=bool))
    head = MLPHead(HeadConfig(input_dim=8, hidden=(4,), num_classes=4)).eval()  # 3: no vector
    query = rng.normal(size=(40, 8)).astype(np.float32)
    served = ServedHead(
        head,
        torch.from_numpy(bank.vectors),
        torch.from_numpy(bank.offsets),
        0.05,
        torch.from_numpy(bank.intents),
        2,
    ).eval()
    with torch.no_grad():
        probs, score = served(torch.from_numpy(query))
    answered = probs.numpy().argmax(axis=1)
    assert len(set(answered.tolist())) > 1
    raw = familiarity(query, bank, answered, 2)
    expected = with_confidence(raw, probs.numpy(), 0.05)
    assert np.allclose(score.numpy(), expected, atol=1e-5)
    with torch.no_grad():  # every text answered with intent 3, which has no vector
        head.layers[-1].bias[3] = 100.0
        probs, score = served(torch.from_numpy(query))
    assert (probs.numpy().argmax(axis=1) == 3).all()
    best = with_confidence(familiarity(query, bank), probs.numpy(), 0.05)
    assert np.allclose(score.numpy(), best, atol=1e-5)
