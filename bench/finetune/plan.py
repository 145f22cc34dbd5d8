"""What the fine-tuning benchmark trains: datasets x shots x seeds, and the anchors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.datasets import DATASETS, Pairs
from intent_server.core.options import Program, option

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


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


@dataclass(frozen=True)
class FineTuneBenchOptions:
    out: Path = field(
        metadata=option(
            parse=Path,
            help="JSON file for the results; the Markdown section goes next to it (.md)",
        )
    )
    shots: tuple[int, ...] = field(
        default=FineTunePlan.shots,
        metadata=option(parse=_ints, help=f"examples per intent, comma-separated ({FULL} = all)"),
    )
    seeds: tuple[int, ...] = field(
        default=FineTunePlan.seeds, metadata=option(parse=_ints, help="seeds per setting")
    )
    datasets: Path | None = field(default=DATASETS.default, metadata=DATASETS.meta())
    only: str | None = field(
        default=None,
        metadata=option(choices=FineTunePlan.datasets, shown="both", help="one dataset"),
    )
    no_serve: bool = field(
        default=False,
        metadata=option(
            help="the frozen/tuned rows only, without the 10-shot bot served end to end"
        ),
    )
    small: bool = field(
        default=False, metadata=option(help="tiny subsets: checks the harness in minutes")
    )


FINETUNE = Program(
    "python -m bench.finetune",
    "Frozen against --fine-tune on CLINC150 and BANKING77 (few-shot subsets and full data), "
    "then a 10-shot bot trained, exported and served. Several hours on 2 CPU cores with the "
    "defaults; rows are written as they finish.",
    options=(FineTuneBenchOptions,),
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
