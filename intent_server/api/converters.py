"""Model output -> protobuf messages. The out-of-scope rule is `decision.decide`, never here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from intent_server.core.decision import Reason, decide
from intent_server.core.prediction import Prediction
from intent_server.proto import intent_pb2
from intent_server.serving.registry import ServedModel
from intent_server.serving.validation import Limits

if TYPE_CHECKING:
    from intent_server.serving.reload import ReloadResult

_REASONS: dict[Reason, intent_pb2.OutOfScopeReason] = {
    Reason.NONE: intent_pb2.OUT_OF_SCOPE_REASON_UNSPECIFIED,
    Reason.LOW_CONFIDENCE: intent_pb2.OUT_OF_SCOPE_REASON_LOW_CONFIDENCE,
    Reason.AMBIGUOUS: intent_pb2.OUT_OF_SCOPE_REASON_AMBIGUOUS,
    Reason.OUT_OF_SCOPE_CLASS: intent_pb2.OUT_OF_SCOPE_REASON_OUT_OF_SCOPE_CLASS,
    Reason.UNFAMILIAR: intent_pb2.OUT_OF_SCOPE_REASON_UNFAMILIAR,
}


def to_response(
    prediction: Prediction, row: int, served: ServedModel, top_k: int
) -> intent_pb2.ClassifyIntentResponse:
    """One text's prediction -> response with decision, reason and the real-score ranking."""
    labels = served.labels
    probs = prediction.probabilities[row]
    scores = prediction.familiarity
    familiarity = None if scores is None else float(scores[row])
    decision = decide(probs, labels, served.thresholds, familiarity)
    values: list[float] = probs.tolist()  # plain floats: much cheaper for protobuf than numpy
    response = intent_pb2.ClassifyIntentResponse(
        intent=intent_pb2.IntentScore(name=decision.label, confidence=decision.confidence),
        out_of_scope=decision.out_of_scope,
        model_version=served.version,
        out_of_scope_reason=_REASONS[decision.reason],
        truncated=prediction.truncated[row],
        top_intent=intent_pb2.IntentScore(
            name=labels[decision.top_index], confidence=values[decision.top_index]
        ),
        model=served.name,
        familiarity=familiarity,
    )
    # sorted() is stable, so equal scores keep label order.
    for index in sorted(range(len(values)), key=values.__getitem__, reverse=True)[:top_k]:
        response.ranking.add(name=labels[index], confidence=values[index])
    if prediction.entities is not None:
        for found in prediction.entities[row]:
            response.entities.add(
                entity=found.entity,
                value=found.value,
                start=found.start,
                end=found.end,
                confidence=found.confidence,
                role=found.role,
                group=found.group,
                extractor=found.extractor,
                processors=found.processors,
            )
    return response


def _metrics(raw: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric manifest metrics; nested groups become dotted names (training.val_accuracy)."""
    flat: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            flat.update(_metrics(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def to_model_info(
    served: ServedModel, limits: Limits, available: list[str]
) -> intent_pb2.ModelInfo:
    export = served.export
    manifest = export.manifest
    thresholds = served.thresholds
    return intent_pb2.ModelInfo(
        name=served.name,
        version=export.version,
        labels=list(export.labels),
        thresholds=intent_pb2.Thresholds(
            confidence=thresholds.confidence,
            margin=thresholds.margin,
            rule=thresholds.rule,
            familiarity=thresholds.familiarity,
        ),
        metrics=_metrics(manifest.metrics.to_json()),
        encoder=manifest.encoder.name,
        encoder_variant=export.encoder_variant,
        max_batch_texts=limits.max_batch_texts,
        max_text_bytes=limits.max_text_bytes,
        max_tokens=export.max_tokens,
        created_at=manifest.created_at,
        available_models=available,
    )


def to_reload_response(results: Sequence[ReloadResult]) -> intent_pb2.ReloadModelsResponse:
    return intent_pb2.ReloadModelsResponse(
        results=[
            intent_pb2.ModelReload(
                model=r.model,
                outcome=r.outcome,
                serving_version=r.serving_version,
                previous_version=r.previous_version,
                candidate_version=r.candidate_version,
                error=r.error,
                seconds=r.seconds,
            )
            for r in results
        ]
    )
