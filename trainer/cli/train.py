"""`intent-train`: train a model from YAML examples, or validate the examples only."""

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
from trainer import logs
from trainer.cli.evaluate import add_evaluate, run_evaluate
from trainer.cli.flags import HelpFormatter, add_option_flags, options_from_args
from trainer.errors import UserError
from trainer.training.options import CROSS_FIT_BELOW, TrainOptions


def _min_examples(value: str) -> int:
    count = int(value)
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {count}")
    return count


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from YAML examples into MODELS_DIR/MODEL/",
        description="Embed the examples with the frozen sentence encoder (cached on disk), "
        "train the MLP head (a one-cycle schedule), choose the out-of-scope thresholds, "
        f"write a report, and publish MODELS_DIR/MODEL/ atomically. Bots under "
        f"{CROSS_FIT_BELOW} examples train the head on every example and calibrate on "
        "cross-validated answers; larger ones hold out --val-fraction (the epoch with the "
        "best validation accuracy is kept). A message unlike every training example "
        "(low familiarity) is answered out_of_scope even without out_of_scope examples. "
        "With --fine-tune the encoder itself is tuned on the examples too (minutes on a CPU) "
        "and kept only when it answers more held-out examples correctly than the frozen one.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--data",
        type=Path,
        default=Path("examples/assistant"),
        help="a YAML file, or a folder of *.yml/*.yaml files",
    )
    p.add_argument("--model", default="default", help="model name (the folder under MODELS_DIR)")
    p.add_argument(
        "--models-dir", type=Path, default=Path("models"), help="where trained models are written"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="embedding cache folder (default: .cache/embeddings/ at the project root)",
    )
    p.add_argument(
        "--min-examples", type=_min_examples, default=3, help="fewest examples an intent may have"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    add_option_flags(p, TrainOptions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intent-train",
        description="Train intent models from YAML examples (see docs/training.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,validate,evaluate}")
    _add_train(sub)
    v = sub.add_parser(
        "validate",
        help="check training data for mistakes without training",
        description="Report every problem in the training data (file, line, intent) and a "
        "summary; exit 0 when it can be trained, 2 otherwise.",
        formatter_class=HelpFormatter,
    )
    v.add_argument("path", type=Path, help="a YAML file or a folder of them")
    v.add_argument(
        "--min-examples", type=_min_examples, default=3, help="fewest examples an intent may have"
    )
    add_evaluate(sub)
    return parser


def _train(args: argparse.Namespace) -> int:
    from trainer.data import load_training_data
    from trainer.pipeline import train

    options = options_from_args(args, TrainOptions)
    data = load_training_data(args.data, min_examples=args.min_examples)
    result = train(
        data,
        model_name=args.model,
        models_dir=args.models_dir,
        options=options,
        cache_dir=args.cache_dir,
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
        f"model {args.model} version {result.version} written to {result.model_dir}\n"
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

            return run_validate_command(args.path, args.min_examples)
        if args.command == "evaluate":
            return run_evaluate(args)
        return _train(args)
    except UserError as exc:
        print(f"intent-train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        kept = _model_after_interrupt(args, started) if args.command == "train" else ""
        print(f"intent-train: interrupted{kept}", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
