"""`python -m bench.finetune`: the fine-tuning benchmark alone (JSON + a Markdown section)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.finetune.plan import FULL, SMALL_PLAN, FineTunePlan
from bench.result_types import FineTuneResults


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.finetune",
        description="Frozen against --fine-tune on CLINC150 and BANKING77 (few-shot subsets "
        "and full data), then a 10-shot bot trained, exported and served. Several hours on "
        "2 CPU cores with the defaults; rows are written as they finish.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="JSON file for the results; the Markdown section goes next to it (.md)",
    )
    parser.add_argument(
        "--shots",
        type=_ints,
        default=FineTunePlan().shots,
        help=f"examples per intent, comma-separated ({FULL} = all) (default: 10,5,0)",
    )
    parser.add_argument(
        "--seeds", type=_ints, default=FineTunePlan().seeds, help="seeds per setting (default: 0,1)"
    )
    parser.add_argument(
        "--datasets", type=Path, default=None, help="folder holding clinc150/ and banking77/"
    )
    parser.add_argument(
        "--only", choices=("clinc", "banking"), default=None, help="one dataset (default: both)"
    )
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="the frozen/tuned rows only, without the 10-shot bot served end to end",
    )
    parser.add_argument(
        "--small", action="store_true", help="tiny subsets: checks the harness in minutes"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    from bench import datasets
    from bench.accuracy import Workspace
    from bench.finetune.report import fine_tune_section
    from bench.finetune.runner import run_fine_tune
    from trainer import logs

    logs.configure(quiet=args.small)
    clinc, banking = datasets.load_clinc(args.datasets), datasets.load_banking(args.datasets)
    plan = FineTunePlan(
        shots=args.shots,
        seeds=args.seeds,
        datasets=(args.only,) if args.only else FineTunePlan().datasets,
        serve=not args.no_serve,
    )
    if args.small:
        clinc, plan = datasets.small_clinc(clinc, intents=5, per_intent=10), SMALL_PLAN

    def save(results: FineTuneResults) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(
            "\n".join(fine_tune_section(results)) + "\n", encoding="utf-8"
        )

    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    try:
        run_fine_tune(Workspace(work), clinc, banking, plan, save)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"results: {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
