"""What the fine-tuning benchmark trains: datasets x shots x seeds, and the anchors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.datasets import Pairs

FULL = 0  # shots: every training example

# Published results the bars come from (test accuracy, %).
ANCHORS = {
    ("clinc", 10): ("CPFT, RoBERTa-base, contrastive (Zhang et al. 2021)", 94.18),
    ("banking", 10): ("CPFT, RoBERTa-base, contrastive (Zhang et al. 2021)", 87.20),
    ("clinc", FULL): ("ConvFiT, RoBERTa-base (Vulić et al. 2021)", 97.34),
    ("banking", FULL): ("ConvFiT, RoBERTa-base (Vulić et al. 2021)", 94.16),
}
BARS = {("clinc", 10): 94.2, ("banking", 10): 87.2, ("clinc", FULL): 97.0, ("banking", FULL): 94.0}
SERVE_BAR_MINUTES = 10.0


@dataclass(frozen=True)
class FineTunePlan:
    shots: tuple[int, ...] = (10, 5, FULL)
    seeds: tuple[int, ...] = (0, 1)
    datasets: tuple[str, ...] = ("clinc", "banking")
    serve_intents: int = 50  # the "several dozen intents, 10-shot" bot timed end to end
    serve_shots: int = 10
    serve: bool = True  # False: the rows only, no served bot


SMALL_PLAN = FineTunePlan(
    shots=(5,), seeds=(0,), datasets=("clinc",), serve_intents=5, serve_shots=5
)


def few_shot(pairs: Pairs, shots: int, seed: int) -> Pairs:
    """`shots` examples of every intent, drawn with `seed` (FULL: all of them)."""
    if shots == FULL:
        return list(pairs)
    by_intent: dict[str, list[str]] = {}
    for text, intent in pairs:
        by_intent.setdefault(intent, []).append(text)
    rng = np.random.default_rng(seed)
    return [
        (texts[i], intent)
        for intent, texts in sorted(by_intent.items())
        for i in sorted(rng.permutation(len(texts))[:shots].tolist())
    ]


def first_intents(pairs: Pairs, count: int) -> Pairs:
    """The examples of the first `count` intents (sorted by name)."""
    keep = set(sorted({intent for _, intent in pairs})[:count])
    return [(text, intent) for text, intent in pairs if intent in keep]
