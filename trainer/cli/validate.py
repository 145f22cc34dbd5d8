"""`intent-train validate`: every problem in the data, then a summary of what was loaded."""

from __future__ import annotations

from pathlib import Path

from trainer.data.loading import validate_path
from trainer.data.summary import summary
from trainer.errors import UserError


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
