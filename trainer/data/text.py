"""Text rules for examples and intent names: normalisation, identifiers (entity markup:
`markup.py`)."""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def duplicate_key(text: str) -> str:
    """Two examples with the same key are the same sentence (case and spacing ignored)."""
    return collapse_spaces(text).casefold()


def is_intent_name(name: str) -> bool:
    return _IDENTIFIER.fullmatch(name) is not None


def suggest_intent_name(name: str) -> str:
    """A valid identifier close to `name`: `book flight` -> `book_flight`, `2fa` -> `_2fa`."""
    fixed = _NOT_WORD.sub("_", name.strip()).strip("_") or "intent"
    return fixed if fixed[0].isalpha() or fixed[0] == "_" else f"_{fixed}"
