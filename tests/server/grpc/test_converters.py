"""Model output -> response: ranking order and real scores, decision fields from `decide`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from intent_server.batching import DirectRunner
from intent_server.converters import to_response
from intent_server.decision import Thresholds
from intent_server.model_registry import ServedModel
from intent_server.proto import intent_pb2


class TableModel:
    labels: tuple[str, ...] = ("alarm", "music", "out_of_scope", "weather")
    thresholds = Thresholds(confidence=0.5, margin=0.1)
    version = "v1"
    name = "toy"

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        raise NotImplementedError


def served() -> ServedModel:
    model = TableModel()
    return ServedModel("toy", model, cast(Any, None), DirectRunner(model.predict))


def test_in_scope_answer_ranks_best_first_and_ties_keep_label_order() -> None:
    probs = np.array([0.1, 0.7, 0.1, 0.1], dtype=np.float32)
    response = to_response(probs, False, served(), top_k=3)
    assert (response.intent.name, response.out_of_scope) == ("music", False)
    assert [s.name for s in response.ranking] == ["music", "alarm", "out_of_scope"]
    assert response.ranking[0].confidence == np.float32(0.7)
    assert response.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_UNSPECIFIED
    assert (response.model, response.model_version) == ("toy", "v1")


def test_low_confidence_keeps_the_real_scores() -> None:
    probs = np.array([0.3, 0.45, 0.05, 0.2], dtype=np.float32)
    response = to_response(probs, True, served(), top_k=4)
    assert response.out_of_scope and response.intent.name == "out_of_scope"
    assert response.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_LOW_CONFIDENCE
    assert response.intent.confidence == np.float32(1 - 0.45)
    assert response.top_intent.name == "music"
    assert response.top_intent.confidence == np.float32(0.45)
    assert [s.confidence for s in response.ranking] == [
        np.float32(p) for p in (0.45, 0.3, 0.2, 0.05)
    ]
    assert response.truncated


def test_out_of_scope_class_and_ambiguous_reasons() -> None:
    oos = to_response(np.array([0.1, 0.1, 0.7, 0.1], np.float32), False, served(), 2)
    assert oos.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_OUT_OF_SCOPE_CLASS
    close = to_response(np.array([0.0, 0.52, 0.0, 0.48], np.float32), False, served(), 2)
    assert close.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_AMBIGUOUS
