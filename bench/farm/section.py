"""The many-bots section: disk use, memory and start-up of one server holding 1, 10, 100 and
1,000 bots, and the throughput of 32 clients spread over 100 bots against 32 on one bot.

Every count gets its own export folder of hard links to the first bots' exports (so each
is what a team with that many bots would have on disk), and its own server process
(`--model all`), measured from the process's start to SERVING.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.datasets import Clinc
from bench.farm.bots import Farm, FarmSettings, bot_pairs, grow
from bench.loadgen import run_loadgen
from bench.result_types import ManyBotsLoad, ManyBotsResults, ManyBotsRow
from bench.server_process import intent_server
from intent_server.core.layout import ENCODER_STORE


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def disk_bytes(folder: Path) -> int:
    """Bytes the files under `folder` take on disk (allocated blocks, each inode once: what
    `du` says)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in folder.rglob("*"):
        stat = path.lstat()
        if (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total


def _link_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=os.link, symlinks=True)


def subset(farm: Farm, count: int, target: Path) -> Path:
    """An export folder holding the first `count` bots and the encoder store (hard links)."""
    target.mkdir(parents=True)
    for name in farm.names[:count]:
        _link_tree(farm.export_dir / name, target / name)
    store = farm.export_dir / ENCODER_STORE
    if store.is_dir():
        _link_tree(store, target / ENCODER_STORE)
    return target


def _available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def _projected_mb(rows: list[ManyBotsRow], count: int) -> float | None:
    """RSS for `count` bots, extrapolated from the two largest counts served (None: none)."""
    served = [(row["bots"], row["rss_mb"]) for row in rows if row["rss_mb"] is not None]
    if not served:
        return None
    if len(served) == 1:
        bots, rss = served[0]
        return rss * count / bots
    (low, low_rss), (high, high_rss) = served[-2], served[-1]
    return high_rss + (high_rss - low_rss) / (high - low) * (count - high)


def _serve(export_dir: Path, names: list[str], log: Path) -> tuple[float, float]:
    """Start to SERVING and RSS after one call per bot, of one server for every bot."""
    from intent_server.client import IntentClient

    with intent_server(export_dir, "all", log_path=log) as server:
        with IntentClient(server.target, timeout=30.0) as client:
            for name in names:
                client.classify("what can you do", model=name)
        return server.start_to_serving_s, server.rss_mb()


def _row(farm: Farm, count: int, root: Path, rows: list[ManyBotsRow], share: float) -> ManyBotsRow:
    folder = subset(farm, count, root / "sets" / str(count))
    row: ManyBotsRow = {
        "bots": count,
        "disk_bytes": disk_bytes(folder),
        "rss_mb": None,
        "start_s": None,
        "skipped": "",
    }
    projected, limit = _projected_mb(rows, count), share * _available_mb()
    if projected is not None and projected > limit:
        row["skipped"] = f"projected RSS {projected:.0f} MB > {limit:.0f} MB ({share:.0%} of free)"
        return row
    try:
        start, rss = _serve(folder, farm.names[:count], root / f"server-{count}.log")
    except RuntimeError as exc:
        row["skipped"] = str(exc)
        return row
    row["start_s"], row["rss_mb"] = start, rss
    _say(f"many bots: {count} bots: {rss:.0f} MB, SERVING after {start:.1f} s")
    return row


def _load(
    farm: Farm, count: int, root: Path, texts: list[str], settings: FarmSettings
) -> ManyBotsLoad:
    """32 clients on one bot, then 32 spread over `count` bots, against the same server."""
    texts_file = root / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    folder = root / "sets" / str(count)
    names = farm.names[:count]
    # The texts cycle: the answer cache off, as in the speed part, so every call runs a model.
    no_cache = ("--cache-size", "0")
    with intent_server(folder, "all", no_cache, log_path=root / "server-load.log") as server:
        clients, seconds = [settings.clients], settings.load_seconds
        (one,) = run_loadgen(server.target, texts_file, clients, seconds, models=names[:1])
        (spread,) = run_loadgen(server.target, texts_file, clients, seconds, models=names)
    return {
        "bots": count,
        "clients": settings.clients,
        "one_bot_rps": one["throughput_rps"],
        "spread_rps": spread["throughput_rps"],
        "errors": sum(one["errors"].values()) + sum(spread["errors"].values()),
    }


def _self_contained_bytes(farm: Farm, root: Path) -> int:
    """One version folder as exports were before the store: its own fp32 and INT8 encoders
    (exported again from the first bot, the store linked in so nothing is traced)."""
    from trainer.export.pipeline import export_model

    export_dir = root / "self-contained"
    _link_tree(farm.export_dir / ENCODER_STORE, export_dir / ENCODER_STORE)
    result = export_model(
        farm.names[0], models_dir=farm.models_dir, export_dir=export_dir, self_contained=True
    )
    return disk_bytes(result.version_dir)


def _version_bytes(farm: Farm) -> float:
    sizes = [disk_bytes(farm.export_dir / name) for name in farm.names]
    return statistics.fmean(sizes)


def run_many_bots(
    work: Path,
    clinc: Clinc,
    domains: dict[str, list[str]],
    settings: FarmSettings,
    cache_dir: Path,
    seed_store: Path | None = None,
) -> ManyBotsResults:
    """`seed_store`: an export folder whose stored encoders the farm starts with (then no
    bot traces the encoder: quicker, but the traced export time is not measured)."""
    root = work / "many_bots"
    farm = Farm(root / "models", root / "exported")
    if seed_store is not None and (seed_store / ENCODER_STORE).is_dir():
        _link_tree(seed_store / ENCODER_STORE, farm.export_dir / ENCODER_STORE)
    started, generated = time.perf_counter(), 0.0
    rows: list[ManyBotsRow] = []
    for count in sorted(settings.counts):  # each count measured as soon as its bots exist
        begun = time.perf_counter()
        make = lambda i: bot_pairs(clinc, domains, i, settings)  # noqa: E731
        grow(farm, root, make, count, cache_dir, settings.cross_fit_folds)
        generated += time.perf_counter() - begun
        rows.append(_row(farm, count, root, rows, settings.memory_share))
        _say(f"many bots: {count} bots measured ({time.perf_counter() - started:.0f} s)")
    served = [
        r["bots"] for r in rows if r["rss_mb"] is not None and r["bots"] <= settings.spread_bots
    ]
    texts = [text for text, _ in clinc.test[:500]]
    load = _load(farm, max(served), root, texts, settings) if served else None
    reused = [s for s, r in zip(farm.export_seconds, farm.reused, strict=True) if r]
    return {
        "generated": len(farm.names),
        "intents": settings.intents,
        "examples": settings.examples,
        "generate_seconds": generated,
        "train_seconds_mean": statistics.fmean(farm.train_seconds),
        "traced_export_seconds": None if farm.reused[0] else farm.export_seconds[0],
        "reused_export_seconds": statistics.median(reused) if reused else float("nan"),
        "self_contained_version_bytes": _self_contained_bytes(farm, root),
        "shared_version_bytes": _version_bytes(farm),
        "store_bytes": disk_bytes(farm.export_dir / ENCODER_STORE),
        "rows": rows,
        "load": load,
    }
