"""`intent-train`: train a model from YAML examples, validate them, evaluate or export a model
(the options of each command: `trainer.cli.options`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from intent_server.core.layout import MODEL_CARD
from intent_server.core.options import options_from_args
from trainer import logs
from trainer.cli.evaluate import run_evaluate
from trainer.cli.export import run_export
from trainer.cli.options import INTENT_TRAIN, EvaluateOptions, TrainCommandOptions, ValidateOptions
from trainer.errors import UserError, folder_size, make_room, write_failure
from trainer.training.options import TrainOptions


def build_parser() -> argparse.ArgumentParser:
    return INTENT_TRAIN.parser()


def _train(args: argparse.Namespace) -> int:
    from trainer.data import load_training_data
    from trainer.pipeline import train

    command = options_from_args(args, TrainCommandOptions)
    options = options_from_args(args, TrainOptions)
    data = load_training_data(command.data, min_examples=command.min_examples)
    result = train(
        data,
        model_name=command.model,
        models_dir=command.models_dir,
        options=options,
        cache_dir=command.cache_dir,
    )
    metrics, th = result.metrics, result.thresholds
    accuracy = metrics.val_accuracy
    scored = (
        f"validation accuracy {accuracy:.1%} ({metrics.val_method})"
        if accuracy is not None
        else "no validation"
    )
    floor = "off" if th.familiarity is None else f"{th.familiarity:.3f}"
    print(
        f"model {command.model} version {result.version} written to {result.model_dir}\n"
        f"  {scored}; thresholds: confidence {th.confidence:.2f}, margin {th.margin:.2f}, "
        f"familiarity {floor}\n"
        f"  embeddings: {result.embedded_count} embedded, {result.cached_count} from the cache; "
        f"{result.total_seconds:.1f} s in all\n"
        f"  report: {result.model_dir / 'report' / 'report.md'}"
    )
    if result.card.fine_tuning is not None:
        print(f"  {result.card.fine_tuning.summary()}")
    return 0


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds like Ctrl-C, so temp folders are removed and the old model stays.
    raise SystemExit(128 + signum)


def _model_after_interrupt(args: argparse.Namespace, started: float) -> str:
    """What an interrupted `train` left in MODELS_DIR/MODEL (the interrupt may come after the
    new model was swapped in)."""
    folder = Path(args.models_dir) / args.model
    try:
        written = (folder / MODEL_CARD).stat().st_mtime
    except OSError:
        return "; no model was written"
    if written >= started:
        return f"; the new model was already published to {folder}"
    return "; the previous model was left unchanged"


def _write_failure(args: argparse.Namespace, exc: OSError, started: float) -> str:
    """What failed to be written, where to make room, and what `train` left in place."""
    if args.command != "train":
        return f"{write_failure(exc, Path(exc.filename or '.'))}: {make_room(exc)}"
    folder = Path(args.models_dir)
    if exc.filename and not Path(exc.filename).resolve().is_relative_to(folder.resolve()):
        folder = Path(exc.filename).parent  # not the model (a cache the run could not skip)
    needed = folder_size(Path(args.models_dir) / args.model)  # a model like the last one
    what = write_failure(exc, folder)
    kept = _model_after_interrupt(args, started)
    return f"{what}: {make_room(exc, needed)}, then run it again{kept}"


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.time()
    args = build_parser().parse_args(argv)
    logs.configure(quiet=getattr(args, "quiet", False))
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if on_main_thread else None
    try:
        if args.command == "validate":
            from trainer.cli.validate import run_validate_command

            checked = options_from_args(args, ValidateOptions)
            return run_validate_command(checked.path, checked.min_examples)
        if args.command == "evaluate":
            return run_evaluate(options_from_args(args, EvaluateOptions))
        if args.command == "export":
            return run_export(args)
        return _train(args)
    except UserError as exc:
        print(f"intent-train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a full disk, a folder it may not write: one line, exit 1
        print(f"intent-train: error: {_write_failure(args, exc, started)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = _model_after_interrupt(args, started) if args.command == "train" else ""
        print(f"intent-train: interrupted{kept}", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
