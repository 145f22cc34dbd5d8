"""A farm of small bots, each trained and exported through the product from CLINC150.

Bot i takes domain i mod 10 of CLINC150 (15 intents each), `intents` of that domain's
intents and `examples` training texts per intent, drawn with seed i: domains, intents,
examples and seeds differ, so every head differs, while every bot runs the stock encoder.
The features of CLINC150's texts are cached per encoder identity after the first bot, so
each further bot costs its head's training and an export that reuses the stored encoder.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.accuracy import load_yaml_data
from bench.datasets import Clinc, Pairs


@dataclass(frozen=True)
class FarmSettings:
    counts: tuple[int, ...] = (1, 10, 100, 1000)  # bots served together, one server each
    intents: int = 8  # per bot, of its domain's 15
    examples: int = 10  # training texts per intent
    # The product's training, with 2 cross-fitting folds instead of 5 (3 head fits a bot
    # instead of 6): the files, memory and speed measured here do not depend on it.
    cross_fit_folds: int = 2
    spread_bots: int = 100  # the throughput comparison spreads its clients over this many
    clients: int = 32
    load_seconds: float = 10.0
    # A server is started for a count only when the RSS projected from the smaller counts
    # fits in this share of the memory available (without shared encoders, every bot loads
    # its own: 1,000 bots would need about 76 GB).
    memory_share: float = 0.25


@dataclass
class Farm:
    """The bots made so far, in order, and what making them cost."""

    models_dir: Path
    export_dir: Path
    names: list[str] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    export_seconds: list[float] = field(default_factory=list)
    reused: list[bool] = field(default_factory=list)


def bot_name(index: int) -> str:
    return f"bot-{index:04d}"


def bot_pairs(
    clinc: Clinc, domains: dict[str, list[str]], index: int, settings: FarmSettings
) -> Pairs:
    """Bot `index`'s training examples: its domain, intents and texts drawn with seed `index`."""
    domain = sorted(domains)[index % len(domains)]
    rng = np.random.default_rng(index)
    chosen = sorted(str(i) for i in rng.choice(domains[domain], settings.intents, replace=False))
    pairs: Pairs = []
    for intent in chosen:
        texts = [t for t, i in clinc.train if i == intent]
        picked = rng.choice(len(texts), settings.examples, replace=False)
        pairs += [(texts[k], intent) for k in sorted(picked)]
    return pairs


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def add_bot(farm: Farm, root: Path, pairs: Pairs, cache_dir: Path, folds: int) -> None:
    """Train the next bot through the product (YAML -> loader -> `train`) and export it."""
    from trainer.export.pipeline import export_model
    from trainer.pipeline import TrainOptions, train

    index = len(farm.names)
    name = bot_name(index)
    data = load_yaml_data(pairs, root / "data" / f"{name}.yml")
    started = time.perf_counter()
    train(
        data,
        model_name=name,
        models_dir=farm.models_dir,
        options=TrainOptions(seed=index, cross_fit_folds=folds),
        cache_dir=cache_dir,
    )
    trained = time.perf_counter()
    result = export_model(name, models_dir=farm.models_dir, export_dir=farm.export_dir)
    farm.names.append(name)
    farm.train_seconds.append(trained - started)
    farm.export_seconds.append(time.perf_counter() - trained)
    farm.reused.append(result.reused_encoder)


def grow(
    farm: Farm,
    root: Path,
    make_pairs: Callable[[int], Pairs],
    count: int,
    cache_dir: Path,
    folds: int,
) -> None:
    """Add bots until the farm has `count`; a line of progress every 10.

    The heads train on one CPU (the trainer takes as many threads as the process may use):
    a head this small gains nothing from two, and on a busy machine two threads that wait
    for each other made 16 epochs take 30.7 s instead of 3.0 s (measured on the shared
    2-core machine). The servers started afterwards get every CPU back."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    started = time.perf_counter()
    try:
        while len(farm.names) < count:
            add_bot(farm, root, make_pairs(len(farm.names)), cache_dir, folds)
            made = len(farm.names)
            if made % 10 == 0 or made == count:
                seconds = time.perf_counter() - started
                _say(f"many bots: {made}/{count} bots made ({seconds:.0f} s)")
    finally:
        os.sched_setaffinity(0, cpus)
