"""The out-of-scope rule, shared by trainer, exporter, server and benchmark."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from intent_server.core.fields import Fields

OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Thresholds:
    """Out of scope: familiarity below `familiarity` (None: no such rule), confidence below
    `confidence`, or a top-two gap below `margin`."""

    confidence: float = 0.0
    margin: float = 0.0
    rule: str = ""
    familiarity: float | None = None

    def __post_init__(self) -> None:
        for field_name in ("confidence", "margin"):
            value = getattr(self, field_name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold {field_name} must be within [0, 1], got {value}")
        if self.familiarity is not None and not -1.0 <= self.familiarity <= 1.0:
            raise ValueError(
                f"threshold familiarity must be within [-1, 1], got {self.familiarity}"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> Thresholds:
        """From a model card's or manifest's `thresholds` object."""
        try:
            return fields.build(cls)
        except ValueError as exc:  # out of range
            raise fields.error(f"{fields.source}: {fields.prefix}{exc}{fields.fix}") from None


class Reason(enum.IntEnum):
    """Why an answer is out of scope; values equal the proto enum OutOfScopeReason."""

    NONE = 0
    LOW_CONFIDENCE = 1
    AMBIGUOUS = 2
    OUT_OF_SCOPE_CLASS = 3
    UNFAMILIAR = 4


@dataclass(frozen=True)
class Decision:
    label: str
    confidence: float
    reason: Reason
    top_index: int

    @property
    def out_of_scope(self) -> bool:
        return self.label == OUT_OF_SCOPE


def decide(
    probs: np.ndarray,
    labels: Sequence[str],
    thresholds: Thresholds,
    familiarity: float | None = None,
) -> Decision:
    """Apply the out-of-scope rule to one row of probabilities and the text's familiarity
    (None: not computed, the familiarity rule is skipped); see docs/ARCHITECTURE.md."""
    top = int(np.argmax(probs))
    if labels[top] == OUT_OF_SCOPE:
        return Decision(OUT_OF_SCOPE, float(probs[top]), Reason.OUT_OF_SCOPE_CLASS, top)
    floor = thresholds.familiarity
    if floor is not None and familiarity is not None and familiarity < floor:
        return Decision(OUT_OF_SCOPE, 1.0 - float(probs[top]), Reason.UNFAMILIAR, top)
    # The top label is in scope, so it is also the best in-scope one; the runner-up is the
    # largest in-scope probability left once the top (and out_of_scope) are masked out.
    best = float(probs[top])
    rest = np.array(probs, dtype=np.float64)
    rest[top] = -np.inf
    if OUT_OF_SCOPE in labels:
        rest[labels.index(OUT_OF_SCOPE)] = -np.inf
    runner_up = float(rest.max()) if len(rest) > 1 else 0.0
    second = runner_up if np.isfinite(runner_up) else 0.0
    if best < thresholds.confidence:
        return Decision(OUT_OF_SCOPE, 1.0 - best, Reason.LOW_CONFIDENCE, top)
    if best - second < thresholds.margin:
        return Decision(OUT_OF_SCOPE, 1.0 - best, Reason.AMBIGUOUS, top)
    return Decision(labels[top], best, Reason.NONE, top)
