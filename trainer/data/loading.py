"""Load training data (native or Rasa NLU YAML, a file or a folder) and validate it.

`validate_path` reports every problem at once and never raises for user mistakes;
`load_training_data` raises one `UserError` listing all errors. The format: docs/training.md,
"Training data".
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from trainer.data.checks import annotation_gaps, merge_and_check
from trainer.data.folders import scan_data_folder
from trainer.data.lexicon import build_lexicon
from trainer.data.model import ERROR, Example, Problem, TrainingData, ValidationResult
from trainer.data.parse import parse_file
from trainer.data.text import collapse_spaces
from trainer.errors import UserError

log = logging.getLogger(__name__)


def validate_path(path: Path, *, min_examples: int = 3) -> ValidationResult:
    """Load and check a YAML file or folder; every problem found is in the result."""
    path = Path(path)
    if not path.exists():
        message = "not found; pass a YAML file or a folder of them"
        return ValidationResult(None, (Problem(ERROR, path, None, None, message),))
    scan = None if path.is_file() else scan_data_folder(path)
    files = list(scan.files) if scan is not None else [path]
    found = list(scan.problems) if scan is not None else []  # loops, broken links, ...
    if not files:
        message = "no *.yml or *.yaml files in this folder"
        return ValidationResult(None, (*found, Problem(ERROR, path, None, None, message)))
    parsed = [parse_file(file) for file in files]
    examples, cross_file = merge_and_check(parsed, min_examples, path)
    lexicon, lexicon_problems = build_lexicon([item for one in parsed for item in one.lexicon])
    cross_file += lexicon_problems + annotation_gaps(examples)
    order = {file: index for index, file in enumerate(files)}
    problems = found + [problem for item in parsed for problem in item.problems] + cross_file
    # File order, then line; a problem about a whole file or the whole data comes after its lines.
    last = len(files)
    problems.sort(
        key=lambda p: (order.get(p.source, last) if p.source else last, p.line or sys.maxsize)
    )
    has_errors = any(problem.severity == ERROR for problem in problems)
    data = None if has_errors else TrainingData(tuple(examples), tuple(files), lexicon)
    return ValidationResult(data, tuple(problems))


def load_training_data(path: Path, *, min_examples: int = 3) -> TrainingData:
    """Validated data; raises UserError listing every error. Warnings are logged."""
    result = validate_path(path, min_examples=min_examples)
    for warning in result.warnings:
        log.warning("%s", warning.format())
    if result.data is None:
        errors = result.errors
        lines = [problem.format() for problem in errors]
        heading = f"{len(errors)} error{'s' if len(errors) != 1 else ''} in training data {path}:"
        raise UserError("\n".join([heading, *lines]))
    return result.data


def data_from_pairs(
    pairs: Sequence[tuple[str, str]], source: Path = Path("<memory>")
) -> TrainingData:
    """(text, intent) pairs as TrainingData, for benchmarks and tests; line = 1-based index."""
    examples = []
    for index, (text, intent) in enumerate(pairs, start=1):
        cleaned = collapse_spaces(text)
        if not cleaned or not intent:
            raise ValueError(f"pair {index} has an empty text or intent: {(text, intent)!r}")
        examples.append(Example(cleaned, intent, source, index))
    return TrainingData(tuple(examples), (source,))
