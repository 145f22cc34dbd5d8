"""What the entity head costs a call: one export served in-process twice, with its entity head
and without it (the same files, the same encoder session, the head left out), one message a
call, the two sides interleaved call by call with the order alternating, so both see the
same machine load. Wall-clock p50 and the calling thread's CPU time p50 of `predict`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import replace

from bench.snips.results import EntityLatency
from intent_server.core.exports import LoadedExport
from intent_server.core.intent_model import IntentModel

LATENCY_CALLS = 600  # per side
THREADS = 1  # session threads: the steadiest timing on a shared machine
TEXTS = 100  # distinct messages cycled through


def _without_entities(loaded: LoadedExport, beside: IntentModel) -> IntentModel:
    """The export's model without its entity head, sharing `beside`'s encoder session."""
    plain = replace(loaded, manifest=replace(loaded.manifest, entities=None))
    return plain.open(THREADS, encoder=beside.encoder, tokenizer=beside.tokenizer)


def _time(model: IntentModel, text: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    model.predict([text])
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def measure_latency(loaded: LoadedExport, texts: Sequence[str], calls: int) -> EntityLatency:
    """p50 of `predict([text])` with and without the entity head, interleaved."""
    with_head = loaded.open(THREADS)
    without = _without_entities(loaded, with_head)
    if not with_head.has_entities or without.has_entities:
        raise RuntimeError(f"{loaded.path}: expected an export with an entity head")
    messages = list(texts[:TEXTS])
    with_head.warm_up()
    without.warm_up()
    timed: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for call in range(calls):
        text = messages[call % len(messages)]
        order = (True, False) if call % 2 == 0 else (False, True)
        for entities in order:
            timed[entities].append(_time(with_head if entities else without, text))

    def p50(entities: bool, part: int) -> float:
        return statistics.median(sample[part] for sample in timed[entities])

    return {
        "model": loaded.name,
        "variant": loaded.encoder_variant,
        "calls": calls,
        "threads": THREADS,
        "texts": len(messages),
        "with_p50_ms": p50(True, 0),
        "without_p50_ms": p50(False, 0),
        "with_cpu_p50_ms": p50(True, 1),
        "without_cpu_p50_ms": p50(False, 1),
    }
