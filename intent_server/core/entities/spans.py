"""The value types of entities: an annotated or extracted span, and a bot's lexicon.

The trainer writes them (from `[Paris](city)` markup and Rasa's `synonym:`, `regex:` and
`lookup:` items) and the server reads them back from an export; neither imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntitySpan:
    """One entity in a text, with character offsets into that text (end exclusive)."""

    start: int
    end: int
    entity: str
    value: str  # the text itself, unless `[text](entity:value)` or `{"value": ...}` says otherwise
    role: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"an entity span needs 0 <= start < end, got {self.start}..{self.end}")


@dataclass(frozen=True)
class NamedPattern:
    """A Rasa `regex:` item: matches of `pattern` are entity `name`."""

    name: str
    pattern: str


@dataclass(frozen=True)
class EntityLexicon:
    """What a bot declares besides its examples: synonyms, regexes and lookup tables."""

    synonyms: dict[str, str] = field(default_factory=dict)  # variant, casefolded -> canonical
    regexes: tuple[NamedPattern, ...] = ()
    lookups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # entity -> its values

    @property
    def empty(self) -> bool:
        return not (self.synonyms or self.regexes or self.lookups)
