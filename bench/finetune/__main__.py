"""`python -m bench.finetune`: the fine-tuning benchmark alone (JSON + a Markdown section)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.finetune.plan import FINETUNE, SMALL_PLAN, FineTuneBenchOptions, FineTunePlan
from bench.result_types import FineTuneResults
from intent_server.core.options import options_from_args


def parse_args(argv: Sequence[str] | None) -> FineTuneBenchOptions:
    return options_from_args(FINETUNE.parse_args(argv), FineTuneBenchOptions)


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
