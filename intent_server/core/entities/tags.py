"""The tag set of the entity head: BIO tags over (entity, role, group) keys.

Roles and groups are part of the key (Rasa's `[Berlin]{"entity": "city", "role": "from"}` is
the key `city/from/-`): one head, one decoding, and a span can never get a role from one
tag and an entity from another. Bots rarely have more than a few roles, so the key space
stays small. Tag 0 is `O`; key k has `B` = 1 + 2k and `I` = 2 + 2k.

Every sub-token is tagged: the first token of a span `B`, the others `I`. The allowed
transitions (an `I` only after the `B` or `I` of its own key) are what the decoder enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from intent_server.core.entities.spans import EntitySpan

OUTSIDE = 0


@dataclass(frozen=True)
class EntityKey:
    """What a tag names besides B/I: the entity, and its role and group (None when unset)."""

    entity: str
    role: str | None = None
    group: str | None = None

    @classmethod
    def of(cls, span: EntitySpan) -> EntityKey:
        return cls(span.entity, span.role, span.group)

    def to_json(self) -> list[str | None]:
        return [self.entity, self.role, self.group]

    @classmethod
    def from_json(cls, value: object) -> EntityKey:
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], str)
            or not value[0]
            or not all(item is None or isinstance(item, str) for item in value[1:])
        ):
            raise ValueError(
                f"an entity key is [entity, role or null, group or null], not {value!r}"
            )
        return cls(value[0], value[1], value[2])

    def sort_key(self) -> tuple[str, str, str]:
        """Unset role and group sort first."""
        return (self.entity, self.role or "", self.group or "")

    def __str__(self) -> str:
        return "/".join((self.entity, self.role or "-", self.group or "-"))


@dataclass(frozen=True)
class TagSet:
    keys: tuple[EntityKey, ...]  # sorted, no duplicates

    def __post_init__(self) -> None:
        if not self.keys or list(self.keys) != sorted(set(self.keys), key=EntityKey.sort_key):
            raise ValueError("a tag set needs sorted, distinct entity keys")

    @classmethod
    def of_spans(cls, spans: Sequence[EntitySpan]) -> TagSet:
        return cls(tuple(sorted({EntityKey.of(span) for span in spans}, key=EntityKey.sort_key)))

    @property
    def size(self) -> int:
        return 1 + 2 * len(self.keys)

    def names(self) -> list[str]:
        return ["O"] + [f"{bio}-{key}" for key in self.keys for bio in ("B", "I")]

    def key_of(self, tag: int) -> EntityKey | None:
        return None if tag == OUTSIDE else self.keys[(tag - 1) // 2]

    @staticmethod
    def is_begin(tag: int) -> bool:
        return tag != OUTSIDE and tag % 2 == 1

    def allowed(self) -> tuple[np.ndarray, np.ndarray]:
        """(start [L] bool: tags a text may begin with, transitions [L, L] bool: prev -> next)."""
        return self._allowed

    @cached_property
    def _allowed(self) -> tuple[np.ndarray, np.ndarray]:
        size = self.size
        start = np.ones(size, dtype=bool)
        moves = np.ones((size, size), dtype=bool)
        for k in range(len(self.keys)):
            inside = 2 + 2 * k
            start[inside] = False
            moves[:, inside] = False
            moves[inside - 1, inside] = True  # B-k -> I-k
            moves[inside, inside] = True  # I-k -> I-k
        return start, moves

    def encode(self, offsets: Sequence[tuple[int, int]], spans: Sequence[EntitySpan]) -> np.ndarray:
        """Tag ids [T] of tokens with character `offsets` (special tokens: (0, 0), tagged O);
        a token is inside a span when their characters overlap."""
        index = {key: k for k, key in enumerate(self.keys)}
        tags = np.zeros(len(offsets), dtype=np.int64)
        for span in spans:
            k = index[EntityKey.of(span)]
            first = True
            for t, (start, end) in enumerate(offsets):
                if end > start and start < span.end and end > span.start:
                    tags[t] = 1 + 2 * k if first else 2 + 2 * k
                    first = False
        return tags
