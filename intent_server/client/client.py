"""Typed Python client for the intent server.

with IntentClient("127.0.0.1:50051") as client:
    result = client.classify("book me a flight to tokyo")
    print(result.intent, result.confidence, result.reason)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from intent_server.client.channel import secure_channel
from intent_server.proto import intent_pb2, intent_pb2_grpc

DEFAULT_TARGET = "127.0.0.1:50051"
_REASON_PREFIX = "OUT_OF_SCOPE_REASON_"


class IntentClientError(Exception):
    """A failed call: the gRPC status code and the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class Entity:
    """One entity of the text: `text[start:end]` (code points) is the span, `value` the span
    or a synonym's canonical value."""

    entity: str
    value: str
    start: int
    end: int
    confidence: float
    extractor: str
    role: str | None = None
    group: str | None = None
    processors: tuple[str, ...] = ()

    @classmethod
    def from_proto(cls, message: intent_pb2.Entity) -> Entity:
        return cls(
            entity=message.entity,
            value=message.value,
            start=message.start,
            end=message.end,
            confidence=message.confidence,
            extractor=message.extractor,
            role=message.role if message.HasField("role") else None,
            group=message.group if message.HasField("group") else None,
            processors=tuple(message.processors),
        )


@dataclass(frozen=True)
class Classification:
    """One answer. `reason` is "" in scope, else unfamiliar / low_confidence / ambiguous /
    out_of_scope_class. `familiarity`: best cosine to a training example (None: not sent)."""

    intent: str
    confidence: float
    out_of_scope: bool
    reason: str
    ranking: tuple[IntentScore, ...]
    top_intent: IntentScore
    truncated: bool
    model: str
    model_version: str
    familiarity: float | None = None
    entities: tuple[Entity, ...] = ()

    @classmethod
    def from_proto(cls, message: intent_pb2.ClassifyIntentResponse) -> Classification:
        reason = intent_pb2.OutOfScopeReason.Name(message.out_of_scope_reason)
        return cls(
            intent=message.intent.name,
            confidence=message.intent.confidence,
            out_of_scope=message.out_of_scope,
            reason="" if reason.endswith("UNSPECIFIED") else reason[len(_REASON_PREFIX) :].lower(),
            ranking=tuple(IntentScore(s.name, s.confidence) for s in message.ranking),
            top_intent=IntentScore(message.top_intent.name, message.top_intent.confidence),
            truncated=message.truncated,
            model=message.model,
            model_version=message.model_version,
            familiarity=message.familiarity if message.HasField("familiarity") else None,
            entities=tuple(Entity.from_proto(found) for found in message.entities),
        )


@dataclass(frozen=True)
class ModelDetails:
    name: str
    version: str
    labels: tuple[str, ...]
    confidence_threshold: float
    margin_threshold: float
    threshold_rule: str
    metrics: dict[str, float]
    encoder: str
    encoder_variant: str
    max_batch_texts: int
    max_text_bytes: int
    max_tokens: int
    created_at: str
    available_models: tuple[str, ...]
    familiarity_threshold: float | None = None

    @classmethod
    def from_proto(cls, message: intent_pb2.ModelInfo) -> ModelDetails:
        return cls(
            name=message.name,
            version=message.version,
            labels=tuple(message.labels),
            confidence_threshold=message.thresholds.confidence,
            margin_threshold=message.thresholds.margin,
            threshold_rule=message.thresholds.rule,
            metrics=dict(message.metrics),
            encoder=message.encoder,
            encoder_variant=message.encoder_variant,
            max_batch_texts=message.max_batch_texts,
            max_text_bytes=message.max_text_bytes,
            max_tokens=message.max_tokens,
            created_at=message.created_at,
            available_models=tuple(message.available_models),
            familiarity_threshold=(
                message.thresholds.familiarity
                if message.thresholds.HasField("familiarity")
                else None
            ),
        )


class IntentClient:
    """Blocking client; every call raises IntentClientError on a non-OK status."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        timeout: float = 5.0,
        *,
        token: str = "",
        ca: Path | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        tls: bool | None = None,
    ) -> None:
        """Plaintext unless `tls` or a TLS file is given; `cert` + `key` for mutual TLS;
        `token` is sent as `authorization: Bearer <token>`."""
        self.target = target
        self.timeout = timeout
        self._channel = secure_channel(target, ca=ca, cert=cert, key=key, token=token, tls=tls)
        self._stub = intent_pb2_grpc.IntentClassifierStub(self._channel)  # type: ignore[no-untyped-call]
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise IntentClientError(exc.code(), exc.details() or "") from None

    def classify_raw(
        self, text: str, top_k: int = 0, model: str = "", all_intents: bool = False
    ) -> intent_pb2.ClassifyIntentResponse:
        request = intent_pb2.ClassifyIntentRequest(
            text=text, top_k=top_k, model=model, all_intents=all_intents
        )
        response: intent_pb2.ClassifyIntentResponse = self._call(self._stub.ClassifyIntent, request)
        return response

    def classify(
        self, text: str, top_k: int = 0, model: str = "", all_intents: bool = False
    ) -> Classification:
        return Classification.from_proto(self.classify_raw(text, top_k, model, all_intents))

    def classify_batch(
        self, texts: Sequence[str], top_k: int = 0, model: str = "", all_intents: bool = False
    ) -> list[Classification]:
        request = intent_pb2.ClassifyIntentBatchRequest(
            texts=list(texts), top_k=top_k, model=model, all_intents=all_intents
        )
        response = self._call(self._stub.ClassifyIntentBatch, request)
        return [Classification.from_proto(result) for result in response.results]

    def model_info(self, model: str = "") -> ModelDetails:
        response = self._call(self._stub.GetModelInfo, intent_pb2.GetModelInfoRequest(model=model))
        return ModelDetails.from_proto(response)

    def health(self, service: str = "") -> str:
        """SERVING, NOT_SERVING or SERVICE_UNKNOWN ("" = the whole server)."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service))
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> IntentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
