"""`--max-minutes`: one time budget shared by every fine-tuning run of a training."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    """`seconds` None: no limit. Runs are planned up front (`plan`); a run stops once the
    time spent since the first one passes the budget's share up to that run's last step,
    so a run that finishes early leaves its time to the next."""

    seconds: float | None
    planned_steps: int = 0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def of_minutes(cls, minutes: float | None) -> Budget:
        return cls(None if minutes is None else minutes * 60.0)

    def plan(self, steps: int) -> int:
        """Reserve a run of `steps` steps; returns the step its share ends at."""
        self.planned_steps += steps
        return self.planned_steps

    def spent(self) -> float:
        return time.perf_counter() - self.started

    def over(self, share_ends_at: int) -> bool:
        """True when the run whose share ends at step `share_ends_at` must stop."""
        if self.seconds is None or self.planned_steps == 0:
            return False
        return self.spent() > self.seconds * share_ends_at / self.planned_steps
