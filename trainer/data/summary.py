"""What loaded training data holds: totals, then examples per intent."""

from __future__ import annotations

from intent_server.core.decision import OUT_OF_SCOPE
from trainer.data.model import TrainingData


def summary(data: TrainingData) -> list[str]:
    """Lines describing loaded data: totals, then examples per intent."""
    counts = data.counts()
    smallest = min(counts, key=lambda label: (counts[label], label))
    largest = max(counts, key=lambda label: (counts[label], label))
    width = max(len(label) for label in counts)
    in_scope = sum(1 for label in counts if label != OUT_OF_SCOPE)
    oos = f", plus {OUT_OF_SCOPE}" if OUT_OF_SCOPE in counts else f", no {OUT_OF_SCOPE} examples"
    lines = [
        f"{len(data.examples)} examples, {in_scope} intents{oos}, from {len(data.sources)} "
        f"file{'s' if len(data.sources) != 1 else ''}",
        f"examples per intent: min {counts[smallest]} ({smallest}), "
        f"max {counts[largest]} ({largest})",
    ]
    lines += [f"  {label:<{width}}  {count}" for label, count in counts.items()]
    return lines
