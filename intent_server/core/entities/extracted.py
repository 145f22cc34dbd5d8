"""An entity as the server answers it: Rasa's entity fields, offsets into the request text."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# `extractor` values: the learned head, and Rasa's name for regex and lookup matches (a Rasa
# bot may condition on it); `processors` gets Rasa's synonym mapper when a synonym applied.
HEAD_EXTRACTOR = "EntityHead"
REGEX_EXTRACTOR = "RegexEntityExtractor"
SYNONYM_PROCESSOR = "EntitySynonymMapper"


@dataclass(frozen=True)
class ExtractedEntity:
    start: int  # characters of the original text, end exclusive
    end: int
    entity: str
    value: str  # the text[start:end], or a synonym's canonical value
    confidence: float
    extractor: str
    role: str | None = None
    group: str | None = None
    processors: tuple[str, ...] = ()

    def with_value(self, value: str, processor: str) -> ExtractedEntity:
        return replace(self, value=value, processors=(*self.processors, processor))

    def to_rasa(self) -> dict[str, Any]:
        """Rasa's entity dict (`role`, `group`, `processors` only when set, as Rasa does)."""
        out: dict[str, Any] = {
            "entity": self.entity,
            "start": self.start,
            "end": self.end,
            "confidence_entity": self.confidence,
            "value": self.value,
            "extractor": self.extractor,
        }
        if self.role is not None:
            out["role"] = self.role
        if self.group is not None:
            out["group"] = self.group
        if self.processors:
            out["processors"] = list(self.processors)
        return out
