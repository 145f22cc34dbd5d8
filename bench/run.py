"""`make bench` / `python -m bench.run`: accuracy and speed benchmark, results as JSON + Markdown.

Accuracy: CLINC150 and BANKING77 trained, exported and scored through the product's path.
Depth: the same at several `--encoder-layers` depths, with their in-process speed.
Speed: the server in its own process under load from another process, with the in-process
baselines measured in the same run. Entities: SNIPS slots through the product (`bench.snips`).
`--small` runs tiny subsets (used by the test suite).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.datasets import DATASETS
from bench.snips.dataset import SUBSETS, parse_subsets
from intent_server.core.options import Program, option, options_from_args

if TYPE_CHECKING:
    from bench.accuracy import Workspace
    from bench.result_types import ManyBotsResults, Results
    from bench.snips.results import EntitiesResults

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchOptions:
    out: Path = field(
        default=DEFAULT_OUT,
        metadata=option(
            shown="bench/results/ in the project", help="folder for results.json and RESULTS.md"
        ),
    )
    small: bool = field(
        default=False,
        metadata=option(
            help="tiny subsets (10 intents x 8 examples) and 2-second load phases: checks that "
            "the harness works in about a minute; the numbers mean nothing"
        ),
    )
    skip_speed: bool = field(default=False, metadata=option(help="skip the speed part"))
    skip_accuracy: bool = field(
        default=False,
        metadata=option(
            help="skip accuracy scoring; the CLINC model is still trained and exported for the "
            "speed part"
        ),
    )
    skip_depth: bool = field(
        default=False,
        metadata=option(
            help="skip the speed/accuracy dial (--encoder-layers 6, 4, 3, 2: CLINC150 and "
            "BANKING77 trained and exported at each depth, about 20 minutes on 2 cores; "
            "--small: 6 and 2 on the tiny subsets)"
        ),
    )
    fine_tune: bool = field(
        default=False,
        metadata=option(
            help="also run the fine-tuning part: frozen against --fine-tune on CLINC150 and "
            "BANKING77 (10-shot, 5-shot, full data; two seeds each) and a 10-shot bot served "
            "end to end; several hours on 2 cores (alone: python -m bench.finetune)"
        ),
    )
    skip_many_bots: bool = field(
        default=False,
        metadata=option(
            help="skip the many-bots part (small CLINC150 bots trained and exported, then 1, "
            "10 and 100 of them (--many-bots) served by one server; --small: 3 bots)"
        ),
    )
    many_bots: int = field(
        default=100,
        metadata=option(
            check=lambda v: v >= 1,
            must="be 1 or more",
            help="make at most this many bots for the many-bots part (the counts above it are "
            "left out; 1000 adds the 1,000-bot count); a bot took 28 s (training and an export "
            "that reuses the stored encoder) on a busy 2-core machine: 100 bots 47 minutes, "
            "1,000 about 8 hours",
        ),
    )
    skip_entities: bool = field(
        default=False,
        metadata=option(
            help="skip the entity part (SNIPS slots: each subset of --entity-subsets trained "
            "and exported through the product, slot F1 and intent accuracy on SNIPS test, the "
            "entity head's serving cost; --small: 5 per intent, 60 test sentences)"
        ),
    )
    entity_subsets: tuple[str, ...] = field(
        default=SUBSETS,
        metadata=option(
            parse=parse_subsets,
            shown=",".join(SUBSETS),
            help="the entity part's training sets, comma-separated: 'full' (all 13,084 SNIPS "
            "training sentences: 20 minutes of training and 13 of export on a busy 2-core "
            "machine) and/or a count drawn per intent (70: about 5 minutes, 10: 1; seeded)",
        ),
    )
    entity_fine_tune: bool = field(
        default=False,
        metadata=option(
            help="the entity part also trains each subset with --fine-tune (the encoder tuned "
            "on the examples; slow: an hour or more for the full set on a CPU)"
        ),
    )
    datasets: Path | None = field(default=DATASETS.default, metadata=DATASETS.meta())
    keep_work: bool = field(
        default=False,
        metadata=option(
            help="keep the temporary work folder (models, exports, logs) and print its path"
        ),
    )


BENCH = Program(
    "python -m bench.run",
    "Benchmark accuracy (CLINC150, BANKING77: train, export, score via the server's runtime), "
    "entities (SNIPS slot F1) and speed (gRPC server under concurrent load vs in-process "
    "baselines). Writes results.json and RESULTS.md.",
    options=(BenchOptions,),
)


def parse_args(argv: Sequence[str] | None = None) -> BenchOptions:
    return options_from_args(BENCH.parse_args(argv), BenchOptions)


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _sizes(clinc: Any, banking: Any) -> dict[str, dict[str, int]]:
    return {
        "clinc": {
            k: len(getattr(clinc, k))
            for k in ("train", "val", "test", "oos_train", "oos_val", "oos_test")
        },
        "banking": {k: len(getattr(banking, k)) for k in ("train", "holdout", "test")},
    }


def _empty_results(args: BenchOptions, clinc: Any, banking: Any) -> Results:
    from bench.report import machine

    return {
        "command": "python -m bench.run " + " ".join(sys.argv[1:])
        if sys.argv[1:]
        else "make bench",
        "small": args.small,
        "machine": machine(),
        "datasets": _sizes(clinc, banking),
        "accuracy": None,
        "speed": None,
        "depth": None,
        "fine_tune": None,
        "many_bots": None,
        "entities": None,
    }


def run(args: BenchOptions, work: Path) -> Results:
    from bench import datasets
    from bench.accuracy import Workspace, run_accuracy, train_and_export
    from bench.depth import SMALL, DepthSettings, run_depth
    from bench.small_bots import load_domains, run_small_bots, small_plan
    from bench.speed import SpeedSettings, run_speed

    clinc = datasets.load_clinc(args.datasets)
    full_clinc = clinc
    domains = load_domains(args.datasets or datasets.datasets_dir())
    banking = datasets.load_banking(args.datasets)
    if args.small:
        clinc, banking = datasets.small_clinc(clinc), datasets.small_banking(banking)
    ws = Workspace(work)
    results = _empty_results(args, clinc, banking)
    started = time.perf_counter()
    if not args.skip_accuracy:
        plan = small_plan(domains, args.small)
        results["accuracy"] = run_accuracy(
            ws,
            clinc,
            banking,
            lambda scorer, export: run_small_bots(ws, full_clinc, plan, scorer, export),
        )
    if not args.skip_depth:  # reuses the accuracy part's full-depth models
        results["depth"] = run_depth(ws, clinc, banking, SMALL if args.small else DepthSettings())
    if args.fine_tune:
        from bench.finetune.plan import SMALL_PLAN, FineTunePlan
        from bench.finetune.runner import run_fine_tune

        tuning = SMALL_PLAN if args.small else FineTunePlan()
        results["fine_tune"] = run_fine_tune(ws, clinc, banking, tuning)
    if args.skip_accuracy and not args.skip_speed:
        train_and_export(ws, "clinc", clinc.train, clinc.val)
    from intent_server.core.exports import load_export, resolve_current

    if (ws.export_dir / "clinc").is_dir():
        results["default_variant"] = load_export(
            resolve_current(ws.export_dir, "clinc")
        ).encoder_variant
    if not args.skip_speed:
        settings = (
            SpeedSettings(latency_seconds=1.5, load_seconds=1.5, baseline_texts=20, batch_rounds=2)
            if args.small
            else SpeedSettings()
        )
        results["speed"] = run_speed(
            ws.export_dir, ws.models_dir, "clinc", [t for t, _ in clinc.test], work, settings
        )
    if not args.skip_many_bots:
        results["many_bots"] = _many_bots(args, ws, full_clinc, domains)
    if not args.skip_entities:
        results["entities"] = _entities(args, ws)
    results["seconds"] = time.perf_counter() - started
    return results


def _many_bots(
    args: BenchOptions, ws: Workspace, clinc: Any, domains: dict[str, list[str]]
) -> ManyBotsResults:
    """--small: 3 bots, starting from the CLINC export's stored encoder (nothing traced)."""
    from bench.farm.bots import FarmSettings
    from bench.farm.section import run_many_bots

    if args.small:
        settings = FarmSettings(counts=(1, 3), spread_bots=3, clients=4, load_seconds=1.5)
        return run_many_bots(ws.root, clinc, domains, settings, ws.cache_dir, ws.export_dir)
    counts = tuple(c for c in FarmSettings().counts if c < args.many_bots)
    settings = FarmSettings(counts=(*counts, args.many_bots))
    return run_many_bots(ws.root, clinc, domains, settings, ws.cache_dir)


def _entities(args: BenchOptions, ws: Workspace) -> EntitiesResults:
    """SNIPS through the product; the run's export folder, so its stored encoder is reused."""
    from bench.snips.section import EntitySettings, run_entities

    settings = EntitySettings(subsets=args.entity_subsets, fine_tune=args.entity_fine_tune)
    if args.small:
        settings = EntitySettings(
            subsets=("5",), fine_tune=args.entity_fine_tune, test_sentences=60, latency_calls=40
        )
    return run_entities(ws.root, settings, ws.cache_dir, ws.export_dir, args.datasets)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    from trainer import logs

    logs.configure(quiet=args.small)  # the trainer's progress lines and bars
    from bench.datasets import DATASETS_ENV, datasets_dir
    from bench.report import write_results
    from trainer.errors import UserError

    root = args.datasets or datasets_dir()
    snips = () if args.skip_entities else ("snips/train/seq.in", "snips/test/seq.in")
    for needed in ("clinc150/data_full.json", "banking77/train.csv", "banking77/test.csv", *snips):
        if not (root / needed).is_file():
            print(
                f"bench: error: {root / needed} not found; point --datasets (or "
                f"${DATASETS_ENV}) at the folder holding clinc150/, banking77/ and snips/ "
                "(or pass --skip-entities)",
                file=sys.stderr,
            )
            return 2
    work = Path(tempfile.mkdtemp(prefix="intent-bench-"))
    try:
        results = run(args, work)
        json_path, md_path = write_results(results, args.out)
    except UserError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep_work:
            _say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    _say(f"wrote {json_path} and {md_path} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
