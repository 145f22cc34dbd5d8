"""`intent-train evaluate`: score an export on a labelled YAML file, as the server answers."""

from __future__ import annotations

import logging
import sys

from trainer.cli.options import EVALUATION_DIR, EvaluateOptions
from trainer.errors import UserError

log = logging.getLogger(__name__)

EXIT_BELOW = 1  # accuracy under --min-accuracy


def run_evaluate(options: EvaluateOptions) -> int:
    """Load the data, answer it, write the report, print the summary; the exit code."""
    from trainer.data import load_training_data
    from trainer.evaluation.report import build_evaluation, unknown_intents
    from trainer.evaluation.report_text import summary_text, write_evaluation
    from trainer.evaluation.scoring import answer_texts, open_export

    data = load_training_data(options.data, min_examples=1)
    variant = None if options.encoder_variant == "auto" else options.encoder_variant
    loaded = open_export(options.model, options.export_dir, options.models_dir, variant)
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
    report = build_evaluation(loaded, data, got, options.min_accuracy)
    folder = options.out if options.out is not None else EVALUATION_DIR / loaded.name
    try:
        write_evaluation(folder, report, data, got)
    except OSError as exc:
        raise UserError(f"cannot write the report to {folder}: {exc}") from None
    print(summary_text(report))
    print(f"report: {folder / 'report.md'}")
    return _gate(report.labels.accuracy, options.min_accuracy)


def _gate(accuracy: float, minimum: float | None) -> int:
    if minimum is None:
        return 0
    measured = f"accuracy {accuracy:.4f} ({accuracy:.2%})"
    if accuracy < minimum:
        print(f"intent-train: {measured} is below --min-accuracy {minimum:g}", file=sys.stderr)
        return EXIT_BELOW
    print(f"{measured} >= --min-accuracy {minimum:g}: passed")
    return 0
