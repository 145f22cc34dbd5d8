"""`intent-train evaluate`: score an export on a labelled YAML file, as the server answers."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from trainer.cli.options import EVALUATION_DIR, EvaluateOptions
from trainer.errors import UserError

if TYPE_CHECKING:
    from intent_server.core.exports import LoadedExport
    from trainer.data import TrainingData

log = logging.getLogger(__name__)

EXIT_BELOW = 1  # accuracy under --min-accuracy, or entity F1 under --min-entity-f1


def run_evaluate(options: EvaluateOptions) -> int:
    """Load the data, answer it, write the report, print the summary; the exit code."""
    from trainer.data import load_training_data
    from trainer.evaluation.report import build_evaluation, unknown_intents
    from trainer.evaluation.report_text import summary_text, write_evaluation
    from trainer.evaluation.scoring import answer_texts, open_export

    data = load_training_data(options.data, min_examples=1)
    variant = None if options.encoder_variant == "auto" else options.encoder_variant
    loaded = open_export(options.model, options.export_dir, options.models_dir, variant)
    _check_entities(data, loaded, options)
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
    report = build_evaluation(loaded, data, got, options.min_accuracy, options.min_entity_f1)
    folder = options.out if options.out is not None else EVALUATION_DIR / loaded.name
    try:
        write_evaluation(folder, report, data, got)
    except OSError as exc:
        raise UserError(f"cannot write the report to {folder}: {exc}") from None
    print(summary_text(report))
    print(f"report: {folder / 'report.md'}")
    codes = [_gate("accuracy", report.labels.accuracy, "--min-accuracy", options.min_accuracy)]
    if report.entities is not None:
        f1 = report.entities.f1
        codes.append(_gate("entity F1", f1, "--min-entity-f1", options.min_entity_f1))
    return max(codes)


def _check_entities(data: TrainingData, loaded: LoadedExport, options: EvaluateOptions) -> None:
    """--min-entity-f1 needs annotations and an entity head; without the flag, annotations
    the model cannot answer are only worth a warning."""
    annotated = any(example.entities for example in data.examples)
    head = loaded.manifest.entities is not None
    if options.min_entity_f1 is not None:
        if not annotated:
            raise UserError(
                f"--min-entity-f1 needs entity annotations in the evaluation data, and "
                f"{options.data} has none: annotate the entities of its examples "
                "([Paris](city)) or leave --min-entity-f1 out"
            )
        if not head:
            raise UserError(
                f"--min-entity-f1 needs a model with an entity head, and model "
                f"'{loaded.name}' ({loaded.path}) has none: it was trained on examples "
                "without entity annotations; annotate them, then train and export again, or "
                "leave --min-entity-f1 out"
            )
    elif annotated and not head:
        log.warning(
            "warning: %s annotates entities but model '%s' has no entity head: entities are "
            "not scored",
            options.data,
            loaded.name,
        )


def _gate(what: str, value: float, flag: str, minimum: float | None) -> int:
    if minimum is None:
        return 0
    measured = f"{what} {value:.4f} ({value:.2%})"
    if value < minimum:
        print(f"intent-train: {measured} is below {flag} {minimum:g}", file=sys.stderr)
        return EXIT_BELOW
    print(f"{measured} >= {flag} {minimum:g}: passed")
    return 0
