"""The entity section's part of results.json (`Results.entities`): its rows, the serving cost
of the entity head, and the section as a whole (`bench.result_types` holds the others)."""

from __future__ import annotations

from typing import TypedDict


class EntityScoresJson(TypedDict):
    """Slot scores on SNIPS test, seqeval's micro average (exact span and type)."""

    precision: float
    recall: float
    f1: float
    support: int  # true spans
    predicted: int
    correct: int


class EntityRow(TypedDict):
    subset: str  # "full" or the sentences drawn per intent ("70")
    training: str  # "frozen" or "fine-tune"
    train_sentences: int  # given to the loader
    train_examples: int  # kept by it (repeated sentences dropped)
    annotated_spans: int  # in the examples kept
    train_minutes: float  # the trainer's whole run (features, heads, entity head)
    export_minutes: float
    variant: str  # the encoder variant scored (the export's default)
    slots: EntityScoresJson
    intent_accuracy: float  # argmax of the served probabilities
    intent_accuracy_decided: float  # the server's answer, out-of-scope decision applied
    held_out_f1: float | None  # the trainer's own measurement (model.json entities.val_f1)
    model: str  # the model's name in the run's export folder


class EntityLatency(TypedDict):
    """`IntentModel.predict` of one message, with and without the entity head, interleaved."""

    model: str
    variant: str
    calls: int  # per side
    threads: int
    texts: int  # distinct messages cycled through
    with_p50_ms: float
    without_p50_ms: float
    with_cpu_p50_ms: float  # the calling thread's CPU time
    without_cpu_p50_ms: float


class EntitiesResults(TypedDict):
    train_sentences: int  # SNIPS train
    test_sentences: int  # scored
    draw_seed: int  # of the K-per-intent draws
    rows: list[EntityRow]
    latency: EntityLatency | None
