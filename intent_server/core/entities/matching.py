"""Rasa's RegexEntityExtractor and EntitySynonymMapper, and how their answers join the head's.

Patterns: a `regex:` item is used as written, a `lookup:` table becomes one alternation of its
escaped values, longest first, each between `\\b` word boundaries; both match
case-insensitively, and only items named after an entity the examples annotate are used
(Rasa's `use_only_entities`: a regex that only helps the intent classifier yields nothing).

Combining (`combine`): every regex or lookup match is kept (they are exact by
construction); a span of the head that overlaps one of them is dropped, the others are kept;
the result is in text order. Then synonyms: a value whose casefolded form is a synonym
variant takes the canonical value, and `processors` records `EntitySynonymMapper`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from intent_server.core.entities.extracted import (
    REGEX_EXTRACTOR,
    SYNONYM_PROCESSOR,
    ExtractedEntity,
)
from intent_server.core.entities.spans import EntityLexicon


def lookup_pattern(values: Sequence[str]) -> str:
    """Rasa's lookup regex with word boundaries: longest values first."""
    escaped = [re.escape(value) for value in sorted(values, key=len, reverse=True) if value]
    return "(" + "|".join(rf"\b{value}\b" for value in escaped) + ")"


class LexiconMatcher:
    """The compiled patterns of a lexicon for the entities a bot annotates."""

    def __init__(self, lexicon: EntityLexicon, entities: Collection[str]) -> None:
        patterns: list[tuple[str, str]] = [
            (item.name, item.pattern) for item in lexicon.regexes if item.name in entities
        ]
        patterns += [
            (name, lookup_pattern(values))
            for name, values in sorted(lexicon.lookups.items())
            if name in entities and any(values)
        ]
        self.patterns = tuple(
            (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in patterns
        )
        self.synonyms = {variant.casefold(): value for variant, value in lexicon.synonyms.items()}

    def match(self, text: str) -> list[ExtractedEntity]:
        found = []
        for name, pattern in self.patterns:
            for hit in pattern.finditer(text):
                if hit.end() > hit.start():
                    found.append(
                        ExtractedEntity(
                            start=hit.start(),
                            end=hit.end(),
                            entity=name,
                            value=text[hit.start() : hit.end()],
                            confidence=1.0,
                            extractor=REGEX_EXTRACTOR,
                        )
                    )
        return found

    def map_synonyms(self, entities: Sequence[ExtractedEntity]) -> list[ExtractedEntity]:
        out = []
        for entity in entities:
            canonical = self.synonyms.get(entity.value.casefold())
            out.append(
                entity if canonical is None else entity.with_value(canonical, SYNONYM_PROCESSOR)
            )
        return out

    def finish(self, text: str, learned: Sequence[ExtractedEntity]) -> list[ExtractedEntity]:
        """The head's entities of `text` joined with the pattern matches, synonyms applied."""
        if not self.patterns and not self.synonyms:  # the head's spans are already in order
            return list(learned)
        return self.map_synonyms(combine(learned, self.match(text)))


def combine(
    learned: Sequence[ExtractedEntity], matched: Sequence[ExtractedEntity]
) -> list[ExtractedEntity]:
    """All matches, and the learned spans that overlap none of them, in text order."""
    kept = [
        entity
        for entity in learned
        if not any(entity.start < hit.end and hit.start < entity.end for hit in matched)
    ]
    return sorted([*kept, *matched], key=lambda entity: (entity.start, entity.end))
