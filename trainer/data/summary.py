"""What loaded training data holds: totals, examples per intent, then entities."""

from __future__ import annotations

from collections import Counter

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
    return lines + entity_summary(data)


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def entity_summary(data: TrainingData) -> list[str]:
    """Annotated entities per type and the lexicon's size; nothing for a bot without them."""
    types = Counter(span.entity for example in data.examples for span in example.entities)
    lexicon = data.lexicon
    if not types and lexicon.empty:
        return []
    annotated = sum(1 for example in data.examples if example.entities)
    lines = [
        f"entities: {_plural(sum(types.values()), 'span')} of {_plural(len(types), 'type')} in "
        f"{_plural(annotated, 'example')}"
    ]
    lines += [f"  {name}  {count}" for name, count in sorted(types.items())]
    if not lexicon.empty:
        lookups = sum(len(values) for values in lexicon.lookups.values())
        lines.append(
            f"lexicon: {_plural(len(lexicon.synonyms), 'synonym')}, "
            f"{_plural(len(lexicon.regexes), 'regex', 'regexes')}, "
            f"{_plural(len(lexicon.lookups), 'lookup table')} ({_plural(lookups, 'value')})"
        )
    return lines
