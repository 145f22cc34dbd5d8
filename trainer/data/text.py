"""Text rules for examples and intent names: entity markup, normalisation, identifiers."""

from __future__ import annotations

import re

# [Paris](city), [Paris](city:paris), [Paris]{"entity": "city", ...}, [Paris][{...}, {...}]
_ENTITY = re.compile(r"\[(?P<text>[^\[\]]+)\](?:\([^()]*\)|\{[^{}]*\}|\[\s*\{.*?\}\s*\])")
_SPACES = re.compile(r"\s+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")


def strip_entities(text: str) -> str:
    """Reduce Rasa entity markup to the text it annotates."""
    return _ENTITY.sub(lambda match: match.group("text"), text)


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def clean_text(text: str) -> str:
    """The text a model sees: entity markup reduced, whitespace collapsed, case kept."""
    return collapse_spaces(strip_entities(text))


def duplicate_key(text: str) -> str:
    """Two examples with the same key are the same sentence (case and spacing ignored)."""
    return collapse_spaces(text).casefold()


def is_intent_name(name: str) -> bool:
    return _IDENTIFIER.fullmatch(name) is not None


def suggest_intent_name(name: str) -> str:
    """A valid identifier close to `name`: `book flight` -> `book_flight`, `2fa` -> `_2fa`."""
    fixed = _NOT_WORD.sub("_", name.strip()).strip("_") or "intent"
    return fixed if fixed[0].isalpha() or fixed[0] == "_" else f"_{fixed}"
