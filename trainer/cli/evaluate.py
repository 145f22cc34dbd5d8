"""`intent-train evaluate`: score an export on a labelled YAML file, as the server answers."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from intent_server.core.layout import VARIANTS
from trainer.cli.flags import HelpFormatter
from trainer.errors import UserError

log = logging.getLogger(__name__)

EXIT_BELOW = 1  # accuracy under --min-accuracy
EVALUATION_DIR = Path("evaluation")


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:  # NaN included
        raise argparse.ArgumentTypeError(
            f"is a fraction between 0 and 1 (0.9 = 90 %), got {value!r}"
        )
    return number


def add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model's export on a labelled test file (YAML or Rasa)",
        description="Answer every example of a labelled YAML/Rasa file with the export the "
        "server loads (EXPORT_DIR/MODEL/current: the same onnxruntime model, thresholds and "
        "familiarity rule) and write report.json, report.md and confusion.png: accuracy "
        "(the share of examples answered right; for an out_of_scope example the right answer "
        "is out of scope), macro-F1, in-scope accuracy, out-of-scope recall, per-intent "
        "table, confused pairs, wrong answers. "
        "Examples of intents the model does not know are counted wrong, with a warning. "
        "A model that is trained but not exported is refused: run `intent-export --model "
        "MODEL` (`make export MODEL=MODEL`) first. Exit 0; 1 when accuracy is below "
        "--min-accuracy; 2 for a mistake (bad data file, unknown model).",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="labelled test examples: a YAML file or a folder of them, in the training data "
        "format (native or Rasa; at least two intents, out_of_scope counts as one)",
    )
    p.add_argument("--model", default="default", help="model name (the folder under EXPORT_DIR)")
    p.add_argument(
        "--export-dir", type=Path, default=Path("exported"), help="where exports are read from"
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=Path("models"),
        help="trained models: only to say what to run when MODEL is not exported, and to "
        "warn when the export was made from another version than the trained one",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"report folder (default: {EVALUATION_DIR}/MODEL/)",
    )
    p.add_argument(
        "--min-accuracy",
        type=_fraction,
        default=None,
        help="exit 1 when accuracy is below this fraction (0.9 = 90 %%); for CI gates",
    )
    p.add_argument(
        "--encoder-variant",
        choices=("auto", *VARIANTS),
        default="auto",
        help="encoder to run; auto: the one the export serves by default, as the server does",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_evaluate(args: argparse.Namespace) -> int:
    """Load the data, answer it, write the report, print the summary; the exit code."""
    from trainer.data import load_training_data
    from trainer.evaluation.report import build_evaluation, unknown_intents
    from trainer.evaluation.report_text import summary_text, write_evaluation
    from trainer.evaluation.scoring import answer_texts, open_export

    data = load_training_data(args.data, min_examples=1)
    variant = None if args.encoder_variant == "auto" else args.encoder_variant
    loaded = open_export(args.model, args.export_dir, args.models_dir, variant)
    unknown = unknown_intents(data, loaded.labels)
    if unknown:
        where: dict[str, str] = {}
        for example in data.examples:
            where.setdefault(example.intent, f"{example.source}:{example.line}")
        log.warning(
            "warning: model '%s' does not know %s; these examples count as wrong answers",
            loaded.name,
            ", ".join(f"'{name}' ({n}, first at {where[name]})" for name, n in unknown.items()),
        )
    got = answer_texts(loaded, data.texts())
    report = build_evaluation(loaded, data, got, args.min_accuracy)
    folder = args.out if args.out is not None else EVALUATION_DIR / loaded.name
    try:
        write_evaluation(folder, report, data, got)
    except OSError as exc:
        raise UserError(f"cannot write the report to {folder}: {exc}") from None
    print(summary_text(report))
    print(f"report: {folder / 'report.md'}")
    return _gate(report.labels.accuracy, args.min_accuracy)


def _gate(accuracy: float, minimum: float | None) -> int:
    if minimum is None:
        return 0
    measured = f"accuracy {accuracy:.4f} ({accuracy:.2%})"
    if accuracy < minimum:
        print(f"intent-train: {measured} is below --min-accuracy {minimum:g}", file=sys.stderr)
        return EXIT_BELOW
    print(f"{measured} >= --min-accuracy {minimum:g}: passed")
    return 0
