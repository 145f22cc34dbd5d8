"""The value types of training data: examples, problems found in it, and the loaded result."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from intent_server.core.entities.spans import EntityLexicon, EntitySpan

ERROR = "error"
WARNING = "warning"
SYNONYM, REGEX, LOOKUP = "synonym", "regex", "lookup"


@dataclass(frozen=True)
class Example:
    text: str  # cleaned: entity markup reduced, whitespace collapsed, case kept
    intent: str
    source: Path
    line: int  # 1-based
    entities: tuple[EntitySpan, ...] = ()  # offsets into `text`


@dataclass(frozen=True)
class LexiconItem:
    """One synonym variant, regex pattern or lookup value, and where it was written."""

    kind: str  # SYNONYM, REGEX or LOOKUP
    name: str  # the canonical value (SYNONYM) or the entity (REGEX, LOOKUP)
    value: str  # the variant, the pattern or the lookup value
    source: Path
    line: int  # 1-based; of a lookup file's line for values read from one


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR or WARNING
    source: Path | None
    line: int | None
    intent: str | None
    message: str  # what is wrong and how to fix it

    def __post_init__(self) -> None:
        if self.severity not in (ERROR, WARNING):
            raise ValueError(f"severity must be {ERROR!r} or {WARNING!r}, got {self.severity!r}")

    def format(self) -> str:
        """`bot.yml:12: error: intent 'book_flight': ...` (parts left out when unknown)."""
        where = ""
        if self.source is not None:
            where = f"{self.source}:{self.line}: " if self.line is not None else f"{self.source}: "
        about = f"intent '{self.intent}': " if self.intent is not None else ""
        return f"{where}{self.severity}: {about}{self.message}"


@dataclass(frozen=True)
class TrainingData:
    examples: tuple[Example, ...]
    sources: tuple[Path, ...]
    lexicon: EntityLexicon = field(default_factory=EntityLexicon)

    @property
    def labels(self) -> tuple[str, ...]:
        """Sorted intent names (out_of_scope included when present)."""
        return tuple(sorted({example.intent for example in self.examples}))

    def texts(self) -> list[str]:
        return [example.text for example in self.examples]

    def intents(self) -> list[str]:
        return [example.intent for example in self.examples]

    def counts(self) -> dict[str, int]:
        """Examples per intent, in label order."""
        counted = Counter(self.intents())
        return {label: counted[label] for label in self.labels}


@dataclass(frozen=True)
class ValidationResult:
    data: TrainingData | None  # None when there are errors
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors
