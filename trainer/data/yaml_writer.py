"""Write training data as the native YAML format (benchmarks and tests build bots with it):
entities as `[text](entity)` markup, the lexicon as the `synonyms:`, `regexes:` and
`lookups:` sections."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from intent_server.core.entities.spans import EntityLexicon
from intent_server.core.files import atomic_write
from trainer.data.markup import markup_text
from trainer.data.model import TrainingData

_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def write_native_yaml(data_or_pairs: TrainingData | Sequence[tuple[str, str]], path: Path) -> None:
    """Write the native format (`version: 1`, `intents:`), atomically; intents in first-seen
    order, examples in their given order. Reading the file back gives the same texts,
    entities and lexicon (ValueError for entities that markup cannot hold)."""
    if isinstance(data_or_pairs, TrainingData):
        examples = data_or_pairs.examples
        pairs = [
            (markup_text(e.text, e.entities) if e.entities else e.text, e.intent) for e in examples
        ]
        lexicon = data_or_pairs.lexicon
    else:
        pairs, lexicon = list(data_or_pairs), EntityLexicon()
    intents: dict[str, dict[str, list[str]]] = {}
    for text, intent in pairs:
        intents.setdefault(intent, {"examples": []})["examples"].append(text)
    document: dict[str, object] = {"version": 1, "intents": intents}
    document |= _lexicon_sections(lexicon)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(document, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=10**6)
    atomic_write(path, text)


def _lexicon_sections(lexicon: EntityLexicon) -> dict[str, object]:
    sections: dict[str, object] = {}
    canonical: dict[str, list[str]] = {}
    for variant, value in lexicon.synonyms.items():
        canonical.setdefault(value, []).append(variant)
    if canonical:
        sections["synonyms"] = canonical
    regexes: dict[str, list[str]] = {}
    for pattern in lexicon.regexes:
        regexes.setdefault(pattern.name, []).append(pattern.pattern)
    if regexes:
        sections["regexes"] = regexes
    if lexicon.lookups:
        sections["lookups"] = {name: list(values) for name, values in lexicon.lookups.items()}
    return sections
