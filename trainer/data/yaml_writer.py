"""Write training data as the native YAML format (benchmarks and tests build bots with it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from intent_server.core.files import atomic_write
from trainer.data.model import TrainingData

_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def write_native_yaml(data_or_pairs: TrainingData | Sequence[tuple[str, str]], path: Path) -> None:
    """Write the native format (`version: 1`, `intents:`), atomically; intents in first-seen
    order, examples in their given order."""
    pairs = (
        list(zip(data_or_pairs.texts(), data_or_pairs.intents(), strict=True))
        if isinstance(data_or_pairs, TrainingData)
        else list(data_or_pairs)
    )
    intents: dict[str, dict[str, list[str]]] = {}
    for text, intent in pairs:
        intents.setdefault(intent, {"examples": []})["examples"].append(text)
    document = {"version": 1, "intents": intents}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(document, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=10**6)
    atomic_write(path, text)
