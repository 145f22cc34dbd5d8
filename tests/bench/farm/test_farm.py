"""The many-bots part's pieces that need no training: the bots drawn, disk use counted like
`du`, the memory projection, the section and its bars rendered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.bars import many_bots_bars
from bench.datasets import Clinc
from bench.farm.bots import FarmSettings, bot_name, bot_pairs
from bench.farm.report import many_bots_section
from bench.farm.section import _projected_mb, disk_bytes
from bench.result_types import ManyBotsResults, ManyBotsRow

DOMAINS = {"banking": ["balance", "transfer", "bill"], "travel": ["flight", "hotel", "visa"]}


def _clinc() -> Clinc:
    train = [
        (f"{intent} text {k}", intent) for v in DOMAINS.values() for intent in v for k in range(5)
    ]
    return Clinc(train, [], [], [], [], [])


def test_bots_differ_in_domain_intents_and_texts_and_are_reproducible() -> None:
    settings = FarmSettings(intents=2, examples=3)
    bots = [bot_pairs(_clinc(), DOMAINS, i, settings) for i in range(4)]
    assert bots[0] == bot_pairs(_clinc(), DOMAINS, 0, settings)
    assert {i for _, i in bots[0]} <= set(DOMAINS["banking"])
    assert {i for _, i in bots[1]} <= set(DOMAINS["travel"])
    assert len({tuple(bot) for bot in bots}) == 4
    assert all(len(bot) == 6 for bot in bots)
    assert bot_name(7) == "bot-0007"


def test_disk_use_counts_a_hard_linked_file_once(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    alone = disk_bytes(tmp_path)
    (tmp_path / "store").mkdir()
    os.link(tmp_path / "a", tmp_path / "store" / "b")
    assert alone >= 100_000 and disk_bytes(tmp_path) - alone < 100_000


def _row(bots: int, rss: float | None, start: float | None = 1.0, skipped: str = "") -> ManyBotsRow:
    return {
        "bots": bots,
        "disk_bytes": bots * 10**7,
        "rss_mb": rss,
        "start_s": start,
        "skipped": skipped,
    }


def test_memory_is_projected_from_the_largest_counts_served() -> None:
    assert _projected_mb([], 10) is None
    assert _projected_mb([_row(1, 200.0)], 10) == pytest.approx(2000.0)
    rows = [_row(1, 200.0), _row(10, 290.0), _row(100, None, None, "too big")]
    assert _projected_mb(rows, 100) == pytest.approx(1190.0)


def _results(rows: list[ManyBotsRow], spread_bots: int) -> ManyBotsResults:
    return {
        "generated": max(row["bots"] for row in rows),
        "intents": 8,
        "examples": 10,
        "generate_seconds": 900.0,
        "train_seconds_mean": 8.0,
        "traced_export_seconds": 75.0,
        "reused_export_seconds": 4.0,
        "self_contained_version_bytes": 118_000_000,
        "shared_version_bytes": 5_000_000.0,
        "store_bytes": 113_000_000,
        "rows": rows,
        "load": {
            "bots": spread_bots,
            "clients": 32,
            "one_bot_rps": 400.0,
            "spread_rps": 380.0,
            "errors": 0,
        },
    }


def test_section_and_bars() -> None:
    rows = [_row(1, 200.0), _row(100, 550.0, 8.0), _row(1000, None, None, "projected RSS 9 GB")]
    results = _results(rows, 100)
    text = "\n".join(many_bots_section(results))
    assert "## Many bots on one server" in text and "| 1000 |" in text
    assert "projected RSS 9 GB" in text and "75.0 s for the first bot" in text
    assert "0.95 x" in text
    bars = {bar.key: bar for bar in many_bots_bars(results)}
    assert bars["many_bots_rss_100"].passed and bars["many_bots_start_100"].passed
    assert bars["many_bots_rss_1000"].passed is False
    assert bars["many_bots_rss_1000"].measured.startswith("not served")
    assert bars["many_bots_disk_100"].passed and bars["many_bots_disk_100"].measured == "1.00 GB"
    assert bars["many_bots_spread"].passed
    assert many_bots_bars(None) == []


def test_fewer_than_100_bots_give_no_bars_to_judge() -> None:
    results = _results([_row(1, 200.0), _row(3, 300.0)], 3)
    assert many_bots_bars(results) == []
    assert "over 3 bots" in "\n".join(many_bots_section(results))
