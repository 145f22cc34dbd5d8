"""CLINC150 and BANKING77 from the shared datasets folder, as (text, intent) pairs."""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE
from intent_server.core.options import Option, Shared

Pairs = list[tuple[str, str]]
DATASETS_ENV = "INTENT_BENCH_DATASETS"
BANKING_HOLDOUT = 0.10
HOLDOUT_SEED = 0


def _folder(text: str) -> Path | None:
    return Path(text) if text.strip() else None


# --datasets of every benchmark command.
DATASETS = Shared(
    None,
    Option(
        parse=_folder,
        env=DATASETS_ENV,
        shown="../shared/datasets next to the project",
        help="folder holding clinc150/ and banking77/",
    ),
)


def datasets_dir() -> Path:
    """`$INTENT_BENCH_DATASETS`, else `../shared/datasets` next to the project root."""
    configured = os.environ.get(DATASETS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass(frozen=True)
class Clinc:
    train: Pairs
    val: Pairs
    test: Pairs
    oos_train: Pairs  # intent already renamed to OUT_OF_SCOPE
    oos_val: Pairs
    oos_test: Pairs


@dataclass(frozen=True)
class Banking:
    train: Pairs  # train minus the hold-out
    holdout: Pairs  # stratified 10 % of train: validation for early stopping and thresholds
    test: Pairs


def _rows(raw: list[list[str]], oos: bool = False) -> Pairs:
    return [(text, OUT_OF_SCOPE if oos else intent) for text, intent in raw]


def load_clinc(root: Path | None = None) -> Clinc:
    data = json.loads(((root or datasets_dir()) / "clinc150" / "data_full.json").read_text())
    return Clinc(
        train=_rows(data["train"]),
        val=_rows(data["val"]),
        test=_rows(data["test"]),
        oos_train=_rows(data["oos_train"], oos=True),
        oos_val=_rows(data["oos_val"], oos=True),
        oos_test=_rows(data["oos_test"], oos=True),
    )


def intent_name(category: str) -> str:
    """A valid intent name: BANKING77 has `reverted_card_payment?`, the loader wants
    letters, digits and '_' only."""
    return re.sub(r"[^A-Za-z0-9_]", "", category)


def _read_csv(path: Path) -> Pairs:
    with path.open(newline="", encoding="utf-8") as stream:
        return [(row["text"], intent_name(row["category"])) for row in csv.DictReader(stream)]


def stratified_holdout(pairs: Pairs, fraction: float, seed: int) -> tuple[Pairs, Pairs]:
    """(rest, holdout): `fraction` of every intent, at least one, held out."""
    rng = np.random.default_rng(seed)
    by_intent: dict[str, list[int]] = {}
    for index, (_, intent) in enumerate(pairs):
        by_intent.setdefault(intent, []).append(index)
    held: set[int] = set()
    for intent in sorted(by_intent):
        members = rng.permutation(by_intent[intent])
        held.update(int(i) for i in members[: max(1, round(len(members) * fraction))])
    rest = [pair for i, pair in enumerate(pairs) if i not in held]
    return rest, [pair for i, pair in enumerate(pairs) if i in held]


def one_intent_per_text(pairs: Pairs) -> Pairs:
    """`pairs` without repeated texts and without the texts filed under two intents (CLINC150's
    train + val holds two: 'what is on my to do list', 'turn up your volume'), which the
    loader rightly refuses."""
    intents: dict[str, set[str]] = {}
    for text, intent in pairs:
        intents.setdefault(text, set()).add(intent)
    kept, seen = [], set()
    for text, intent in pairs:
        if len(intents[text]) == 1 and text not in seen:
            seen.add(text)
            kept.append((text, intent))
    return kept


def load_banking(root: Path | None = None) -> Banking:
    folder = (root or datasets_dir()) / "banking77"
    train, holdout = stratified_holdout(
        _read_csv(folder / "train.csv"), BANKING_HOLDOUT, HOLDOUT_SEED
    )
    return Banking(train=train, holdout=holdout, test=_read_csv(folder / "test.csv"))


def _subset(pairs: Pairs, intents: set[str], per_intent: int) -> Pairs:
    taken: dict[str, int] = {}
    chosen: Pairs = []
    for text, intent in pairs:
        if intent in intents and taken.get(intent, 0) < per_intent:
            taken[intent] = taken.get(intent, 0) + 1
            chosen.append((text, intent))
    return chosen


def _first_intents(pairs: Pairs, count: int) -> set[str]:
    return set(sorted({intent for _, intent in pairs})[:count])


def small_clinc(full: Clinc, intents: int = 10, per_intent: int = 8) -> Clinc:
    """A tiny CLINC150 for the test suite: `intents` intents, few examples each."""
    keep = _first_intents(full.train, intents)
    return Clinc(
        train=_subset(full.train, keep, per_intent),
        val=_subset(full.val, keep, 3),
        test=_subset(full.test, keep, 4),
        oos_train=full.oos_train[:per_intent],
        oos_val=full.oos_val[:10],
        oos_test=full.oos_test[:20],
    )


def small_banking(full: Banking, intents: int = 10, per_intent: int = 8) -> Banking:
    keep = _first_intents(full.train, intents)
    return Banking(
        train=_subset(full.train, keep, per_intent),
        holdout=_subset(full.holdout, keep, 3),
        test=_subset(full.test, keep, 4),
    )
