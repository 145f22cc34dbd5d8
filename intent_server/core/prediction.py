"""What the runtime model says about a list of texts, one row per text.

Every field holds one entry per text along its first axis, so `slice` can cut a batch into
its callers' parts without knowing the fields. A new per-text output is one new field here
(`np.ndarray | None = None`: None when a model does not compute it, as test fakes do),
filled by `IntentModel.predict` and read by the converters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from intent_server.core.entities.extracted import ExtractedEntity


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # [N, C] float32, in the model's label order
    truncated: tuple[bool, ...]  # the text was longer than the model's max_tokens
    familiarity: np.ndarray | None = None  # [N] best cosine to the training examples
    # Per text, its entities in text order (None: the model has no entity head).
    entities: tuple[tuple[ExtractedEntity, ...], ...] | None = None

    def __post_init__(self) -> None:
        sizes = {name: len(value) for name, value in self._rows().items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"a Prediction needs one row per text in every field, got {sizes}")

    def _rows(self) -> dict[str, Any]:
        """The fields that hold rows (those not computed are None)."""
        values = {name: getattr(self, name) for name in _FIELDS}
        return {name: value for name, value in values.items() if value is not None}

    def __len__(self) -> int:
        return len(self.truncated)

    def slice(self, start: int, stop: int) -> Prediction:
        """Rows `start` to `stop` (exclusive) of every field."""
        if start == 0 and stop == len(self):
            return self  # one caller in the batch: nothing to cut
        return replace(self, **{name: rows[start:stop] for name, rows in self._rows().items()})

    @staticmethod
    def concat(parts: Sequence[Prediction]) -> Prediction:
        """The rows of `parts`, in order (a field is kept only when every part has it)."""
        if len(parts) == 1:
            return parts[0]
        joined: dict[str, Any] = {}
        for name in _FIELDS:
            values = [getattr(part, name) for part in parts]
            if any(value is None for value in values):
                joined[name] = None
            elif isinstance(values[0], tuple):
                joined[name] = tuple(row for value in values for row in value)
            else:
                joined[name] = np.concatenate(values)
        return Prediction(**joined)


_FIELDS = tuple(item.name for item in fields(Prediction))
