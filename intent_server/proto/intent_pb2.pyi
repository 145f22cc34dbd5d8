from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutOfScopeReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUT_OF_SCOPE_REASON_UNSPECIFIED: _ClassVar[OutOfScopeReason]
    OUT_OF_SCOPE_REASON_LOW_CONFIDENCE: _ClassVar[OutOfScopeReason]
    OUT_OF_SCOPE_REASON_AMBIGUOUS: _ClassVar[OutOfScopeReason]
    OUT_OF_SCOPE_REASON_OUT_OF_SCOPE_CLASS: _ClassVar[OutOfScopeReason]
    OUT_OF_SCOPE_REASON_UNFAMILIAR: _ClassVar[OutOfScopeReason]
OUT_OF_SCOPE_REASON_UNSPECIFIED: OutOfScopeReason
OUT_OF_SCOPE_REASON_LOW_CONFIDENCE: OutOfScopeReason
OUT_OF_SCOPE_REASON_AMBIGUOUS: OutOfScopeReason
OUT_OF_SCOPE_REASON_OUT_OF_SCOPE_CLASS: OutOfScopeReason
OUT_OF_SCOPE_REASON_UNFAMILIAR: OutOfScopeReason

class ClassifyIntentRequest(_message.Message):
    __slots__ = ("text", "top_k", "model", "all_intents")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALL_INTENTS_FIELD_NUMBER: _ClassVar[int]
    text: str
    top_k: int
    model: str
    all_intents: bool
    def __init__(self, text: _Optional[str] = ..., top_k: _Optional[int] = ..., model: _Optional[str] = ..., all_intents: _Optional[bool] = ...) -> None: ...

class IntentScore(_message.Message):
    __slots__ = ("name", "confidence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    confidence: float
    def __init__(self, name: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class ClassifyIntentResponse(_message.Message):
    __slots__ = ("intent", "ranking", "out_of_scope", "model_version", "out_of_scope_reason", "truncated", "top_intent", "model", "familiarity", "entities")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_REASON_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    TOP_INTENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FAMILIARITY_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    intent: IntentScore
    ranking: _containers.RepeatedCompositeFieldContainer[IntentScore]
    out_of_scope: bool
    model_version: str
    out_of_scope_reason: OutOfScopeReason
    truncated: bool
    top_intent: IntentScore
    model: str
    familiarity: float
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    def __init__(self, intent: _Optional[_Union[IntentScore, _Mapping]] = ..., ranking: _Optional[_Iterable[_Union[IntentScore, _Mapping]]] = ..., out_of_scope: _Optional[bool] = ..., model_version: _Optional[str] = ..., out_of_scope_reason: _Optional[_Union[OutOfScopeReason, str]] = ..., truncated: _Optional[bool] = ..., top_intent: _Optional[_Union[IntentScore, _Mapping]] = ..., model: _Optional[str] = ..., familiarity: _Optional[float] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("entity", "value", "start", "end", "confidence", "role", "group", "extractor", "processors")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    EXTRACTOR_FIELD_NUMBER: _ClassVar[int]
    PROCESSORS_FIELD_NUMBER: _ClassVar[int]
    entity: str
    value: str
    start: int
    end: int
    confidence: float
    role: str
    group: str
    extractor: str
    processors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entity: _Optional[str] = ..., value: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., confidence: _Optional[float] = ..., role: _Optional[str] = ..., group: _Optional[str] = ..., extractor: _Optional[str] = ..., processors: _Optional[_Iterable[str]] = ...) -> None: ...

class ClassifyIntentBatchRequest(_message.Message):
    __slots__ = ("texts", "top_k", "model", "all_intents")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALL_INTENTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    model: str
    all_intents: bool
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ..., model: _Optional[str] = ..., all_intents: _Optional[bool] = ...) -> None: ...

class ClassifyIntentBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ClassifyIntentResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[ClassifyIntentResponse, _Mapping]]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class Thresholds(_message.Message):
    __slots__ = ("confidence", "margin", "rule", "familiarity")
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    FAMILIARITY_FIELD_NUMBER: _ClassVar[int]
    confidence: float
    margin: float
    rule: str
    familiarity: float
    def __init__(self, confidence: _Optional[float] = ..., margin: _Optional[float] = ..., rule: _Optional[str] = ..., familiarity: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "labels", "thresholds", "metrics", "encoder", "encoder_variant", "max_batch_texts", "max_text_bytes", "max_tokens", "created_at", "available_models")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    ENCODER_VARIANT_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_TEXTS_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_MODELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    thresholds: Thresholds
    metrics: _containers.ScalarMap[str, float]
    encoder: str
    encoder_variant: str
    max_batch_texts: int
    max_text_bytes: int
    max_tokens: int
    created_at: str
    available_models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., thresholds: _Optional[_Union[Thresholds, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., encoder: _Optional[str] = ..., encoder_variant: _Optional[str] = ..., max_batch_texts: _Optional[int] = ..., max_text_bytes: _Optional[int] = ..., max_tokens: _Optional[int] = ..., created_at: _Optional[str] = ..., available_models: _Optional[_Iterable[str]] = ...) -> None: ...

class ReloadModelsRequest(_message.Message):
    __slots__ = ("models", "force")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    force: bool
    def __init__(self, models: _Optional[_Iterable[str]] = ..., force: _Optional[bool] = ...) -> None: ...

class ModelReload(_message.Message):
    __slots__ = ("model", "outcome", "serving_version", "previous_version", "candidate_version", "error", "seconds")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SERVING_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    outcome: str
    serving_version: str
    previous_version: str
    candidate_version: str
    error: str
    seconds: float
    def __init__(self, model: _Optional[str] = ..., outcome: _Optional[str] = ..., serving_version: _Optional[str] = ..., previous_version: _Optional[str] = ..., candidate_version: _Optional[str] = ..., error: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class ReloadModelsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ModelReload]
    def __init__(self, results: _Optional[_Iterable[_Union[ModelReload, _Mapping]]] = ...) -> None: ...
