"""Sample training files for the data tests: a native and a Rasa bot, and file helpers."""

from __future__ import annotations

import textwrap
from pathlib import Path

from trainer.data import Problem, validate_path

NATIVE = """\
version: 1
intents:
  greet:
    examples:
      - hello there
      - good morning
      - hi
  book_flight:
    examples:
      - book a flight to Paris
      - I need a plane ticket for friday
      - fly me to New York
"""

RASA = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello there
    - good morning
    - hi
- intent: book_flight
  examples: |
    - book a flight to [Paris](city)
    - I need a plane ticket for [friday]{"entity": "date"}
    - fly me to [New York]{"entity": "city", "value": "nyc"}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def native(intents: str, version: str = "version: 1\n") -> str:
    """A native file whose `intents:` body is `intents` (dedented, then indented by two)."""
    body = textwrap.indent(textwrap.dedent(intents), "  ")
    return f"{version}intents:\n{body}"


def only_error(path: Path, **kwargs: int) -> Problem:
    result = validate_path(path, **kwargs)
    assert result.data is None
    assert len(result.errors) == 1, [p.format() for p in result.problems]
    return result.errors[0]
