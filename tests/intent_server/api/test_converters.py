"""Model output -> response: ranking order and real scores, decision fields from `decide`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from intent_server.api.converters import to_response
from intent_server.core.decision import Thresholds
from intent_server.core.prediction import Prediction
from intent_server.proto import intent_pb2
from intent_server.serving.batching import DirectRunner
from intent_server.serving.registry import ServedModel
from tests.fixtures.contracts import sample_export


class NoModel:
    def predict(self, texts: Sequence[str]) -> Prediction:
        raise NotImplementedError

    lowercases = False

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        raise NotImplementedError


def served() -> ServedModel:
    export = sample_export(thresholds=Thresholds(confidence=0.5, margin=0.1, familiarity=0.4))
    return ServedModel("toy", NoModel(), export, DirectRunner(NoModel().predict))


def one(probs: list[float], truncated: bool = False, familiarity: float = 0.9) -> Prediction:
    return Prediction(
        np.array([probs], dtype=np.float32),
        (truncated,),
        familiarity=np.array([familiarity], dtype=np.float32),
    )


def test_in_scope_answer_ranks_best_first_and_ties_keep_label_order() -> None:
    response = to_response(one([0.1, 0.7, 0.1, 0.1]), 0, served(), top_k=3)
    assert (response.intent.name, response.out_of_scope) == ("music", False)
    assert [s.name for s in response.ranking] == ["music", "alarm", "out_of_scope"]
    assert response.ranking[0].confidence == np.float32(0.7)
    assert response.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_UNSPECIFIED
    assert (response.model, response.model_version) == ("toy", "v1")


def test_low_confidence_keeps_the_real_scores() -> None:
    response = to_response(one([0.3, 0.45, 0.05, 0.2], truncated=True), 0, served(), top_k=4)
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
    oos = to_response(one([0.1, 0.1, 0.7, 0.1]), 0, served(), 2)
    assert oos.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_OUT_OF_SCOPE_CLASS
    close = to_response(one([0.0, 0.52, 0.0, 0.48]), 0, served(), 2)
    assert close.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_AMBIGUOUS


def test_unfamiliar_text_is_out_of_scope_and_the_score_is_returned() -> None:
    response = to_response(one([0.05, 0.9, 0.0, 0.05], familiarity=0.25), 0, served(), 2)
    assert response.out_of_scope and response.intent.name == "out_of_scope"
    assert response.out_of_scope_reason == intent_pb2.OUT_OF_SCOPE_REASON_UNFAMILIAR
    assert response.familiarity == np.float32(0.25)
    assert response.top_intent.name == "music"
    assert response.ranking[0].confidence == np.float32(0.9)
    familiar = to_response(one([0.05, 0.9, 0.0, 0.05], familiarity=0.4), 0, served(), 2)
    assert not familiar.out_of_scope and familiar.HasField("familiarity")


def test_a_model_without_familiarity_sends_no_score() -> None:
    plain = Prediction(np.array([[0.05, 0.9, 0.0, 0.05]], dtype=np.float32), (False,))
    response = to_response(plain, 0, served(), 2)
    assert not response.out_of_scope and not response.HasField("familiarity")


def test_entities_are_copied_with_unset_role_and_group_left_out() -> None:
    from intent_server.core.entities.extracted import ExtractedEntity

    found = (
        ExtractedEntity(
            9,
            12,
            "city",
            "New York",
            0.75,
            "EntityHead",
            role="to",
            processors=("EntitySynonymMapper",),
        ),
        ExtractedEntity(13, 18, "zip", "12345", 1.0, "RegexEntityExtractor"),
    )
    prediction = Prediction(
        np.array([[0.9, 0.05, 0.05]], dtype=np.float32), (False,), entities=(found,)
    )
    response = to_response(prediction, 0, served(), 3)
    city, zip_code = response.entities
    assert (city.entity, city.value, city.start, city.end, city.role) == (
        "city",
        "New York",
        9,
        12,
        "to",
    )
    assert list(city.processors) == ["EntitySynonymMapper"] and not city.HasField("group")
    assert (zip_code.extractor, zip_code.HasField("role")) == ("RegexEntityExtractor", False)
    assert not to_response(one([0.9, 0.05, 0.05]), 0, served(), 3).entities
