"""Running the encoder in PyTorch: threads, and the features the head trains on."""

from __future__ import annotations

import pytest

from intent_server.core import cpus
from trainer.features.torch_features import encode_threads


def test_embedding_threads_follow_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTENT_TRAIN_THREADS", raising=False)
    assert encode_threads() == cpus.usable_cpus()
    monkeypatch.setenv("INTENT_TRAIN_THREADS", "3")
    assert encode_threads() == 3
