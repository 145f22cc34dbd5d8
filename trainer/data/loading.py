"""Training data: load YAML (native or Rasa NLU, a file or a folder) and validate it.

`validate_path` reports every problem at once and never raises for user mistakes;
`load_training_data` raises one `UserError` listing all errors. See README "Training data".
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from intent_server.decision import OUT_OF_SCOPE
from trainer.data_checks import merge_and_check
from trainer.data_model import ERROR, WARNING, Example, Problem, TrainingData, ValidationResult
from trainer.data_parse import parse_file
from trainer.data_text import collapse_spaces
from trainer.errors import UserError

__all__ = [
    "ERROR",
    "OUT_OF_SCOPE",
    "WARNING",
    "Example",
    "Problem",
    "TrainingData",
    "ValidationResult",
    "data_from_pairs",
    "find_data_files",
    "load_training_data",
    "run_validate_command",
    "validate_path",
    "write_native_yaml",
]

YAML_SUFFIXES = (".yml", ".yaml")
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def find_data_files(path: Path) -> list[Path]:
    """A file is itself; a folder is every *.yml/*.yaml inside, recursively, sorted."""
    if path.is_file():
        return [path]
    found = [
        item
        for item in path.rglob("*")
        if item.suffix.lower() in YAML_SUFFIXES
        and item.is_file()
        and not any(part.startswith(".") for part in item.relative_to(path).parts)
    ]
    return sorted(found, key=lambda item: item.relative_to(path).as_posix())


def validate_path(path: Path, *, min_examples: int = 3) -> ValidationResult:
    """Load and check a YAML file or folder; every problem found is in the result."""
    path = Path(path)
    if not path.exists():
        message = "not found; pass a YAML file or a folder of them"
        return ValidationResult(None, (Problem(ERROR, path, None, None, message),))
    files = find_data_files(path)
    if not files:
        message = "no *.yml or *.yaml files in this folder"
        return ValidationResult(None, (Problem(ERROR, path, None, None, message),))
    parsed = [parse_file(file) for file in files]
    examples, cross_file = merge_and_check(parsed, min_examples, path)
    order = {file: index for index, file in enumerate(files)}
    problems = [problem for item in parsed for problem in item.problems] + cross_file
    # File order, then line; a problem about a whole file or the whole data comes after its lines.
    last = len(files)
    problems.sort(
        key=lambda p: (order.get(p.source, last) if p.source else last, p.line or sys.maxsize)
    )
    has_errors = any(problem.severity == ERROR for problem in problems)
    data = None if has_errors else TrainingData(tuple(examples), tuple(files))
    return ValidationResult(data, tuple(problems))


def load_training_data(path: Path, *, min_examples: int = 3) -> TrainingData:
    """Validated data; raises UserError listing every error. Warnings go to stderr."""
    result = validate_path(path, min_examples=min_examples)
    for warning in result.warnings:
        print(warning.format(), file=sys.stderr)
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


def write_native_yaml(data_or_pairs: TrainingData | Sequence[tuple[str, str]], path: Path) -> None:
    """Write the native format (`version: 1`, `intents:`), atomically; intents in first-seen
    order, examples in their given order."""
    pairs = (
        list(zip(data_or_pairs.texts(), data_or_pairs.intents(), strict=True))
        if isinstance(data_or_pairs, TrainingData)
        else list(data_or_pairs)
    )
    intents: dict[str, dict[str, list[str]]] = {}
    for text, intent in pairs:
        intents.setdefault(intent, {"examples": []})["examples"].append(text)
    document = {"version": 1, "intents": intents}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yaml.dump(
                document, stream, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=10**6
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def summary(data: TrainingData) -> list[str]:
    """Lines describing loaded data: totals, then examples per intent."""
    counts = data.counts()
    smallest = min(counts, key=lambda label: (counts[label], label))
    largest = max(counts, key=lambda label: (counts[label], label))
    width = max(len(label) for label in counts)
    in_scope = sum(1 for label in counts if label != OUT_OF_SCOPE)
    oos = f", plus {OUT_OF_SCOPE}" if OUT_OF_SCOPE in counts else f", no {OUT_OF_SCOPE} examples"
    lines = [
        f"{len(data.examples)} examples, {in_scope} intents{oos}, from {len(data.sources)} "
        f"file{'s' if len(data.sources) != 1 else ''}",
        f"examples per intent: min {counts[smallest]} ({smallest}), "
        f"max {counts[largest]} ({largest})",
    ]
    lines += [f"  {label:<{width}}  {count}" for label, count in counts.items()]
    return lines


def run_validate_command(path: Path, min_examples: int = 3) -> int:
    """`intent-train validate`: print every problem and a summary; 0 when usable, else 2."""
    result = validate_path(Path(path), min_examples=min_examples)
    for problem in result.problems:
        print(problem.format())
    errors, warnings = len(result.errors), len(result.warnings)
    counted = f"{errors} error{'s' if errors != 1 else ''}, "
    counted += f"{warnings} warning{'s' if warnings != 1 else ''}"
    if result.data is None:
        print(f"{path}: {counted}; fix the errors above and run validate again")
        return UserError.exit_code
    print(f"{path}: OK ({counted})")
    for line in summary(result.data):
        print(line)
    return 0
