"""A bot's entity lexicon: Rasa's `synonym:`, `regex:` and `lookup:` items and the native
`synonyms:`, `regexes:` and `lookups:` sections, read with their lines, checked, and merged
over files into one `EntityLexicon`.

Rasa 3 reads lookup values inline; a lookup may also name a text file (one value a line,
relative to the YAML file), as Rasa's older lookup tables did.
"""

from __future__ import annotations

import re
from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from intent_server.core.entities.spans import EntityLexicon, NamedPattern
from trainer.data.model import LOOKUP, REGEX, SYNONYM, WARNING, LexiconItem, Problem
from trainer.data.reader import Reader
from trainer.data.text import collapse_spaces, is_intent_name, suggest_intent_name
from trainer.data.yaml_nodes import Entry, describe, is_null, is_string, line_of

RASA_LEXICON_ITEMS = (SYNONYM, REGEX, LOOKUP)
RASA_LEXICON_KEYS = ("examples", "metadata")
NATIVE_SECTIONS = {"synonyms": SYNONYM, "regexes": REGEX, "lookups": LOOKUP}
# Texts a pattern must not match with zero characters (an entity of no text).
_PROBES = ("", "a", "0", " ", "Ab 12-x.")


def pattern_problem(pattern: str) -> str | None:
    """Why a regex cannot be an entity pattern (as the server would use it), else None."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        return f"regex '{pattern}' does not compile: {exc}; fix the pattern"
    if any(m.end() == m.start() for probe in _PROBES for m in compiled.finditer(probe)):
        return (
            f"regex '{pattern}' can match an empty string, which is no entity; make it match "
            f"at least one character (e.g. '+' instead of '*')"
        )
    return None


def read_rasa_item(reader: Reader, found: list[Entry], kind: str) -> None:
    """`- synonym: NAME` / `- regex: NAME` / `- lookup: NAME` with `examples:`."""
    by_key = {entry.key: entry for entry in found}
    head = by_key[kind]
    reader.unknown_keys(found, (kind, *RASA_LEXICON_KEYS))
    name = _name(reader, head.value, head.line, kind)
    examples = by_key.get("examples")
    if name is None:
        return
    if examples is None or is_null(examples.value):
        reader.warning(head.line, f"'{kind}: {name}' has no examples; skipped (add '- ' lines)")
        return
    node = examples.value
    if not is_string(node):
        message = f"'examples' of '{kind}: {name}' must be a '|' block of '- ' lines"
        reader.error(examples.line, f"{message}, but it is {describe(node)}")
        return
    text = str(node.value).strip()
    if kind == LOOKUP and "\n" not in text and not text.startswith("-"):
        _lookup_file(reader, name, text, line_of(node))
        return
    for line, value in reader.block_lines(node, "examples", None):
        _add(reader, kind, name, value.strip(), line)


def read_native_section(reader: Reader, entry: Entry) -> None:
    """`synonyms:` (canonical value: [variants]), `regexes:` (entity: [patterns]) or
    `lookups:` (entity: [values], or entity: a file)."""
    kind = NATIVE_SECTIONS[str(entry.key)]
    node = entry.value
    if is_null(node):
        return
    if not isinstance(node, MappingNode):
        what = "a canonical value" if kind == SYNONYM else "an entity name"
        reader.error(
            entry.line, f"'{entry.key}' must map {what} to a list, but it is {describe(node)}"
        )
        return
    for item in reader.mapping(node):
        name = _name(reader, item.key_node, item.line, kind)
        if name is None:
            continue
        value = item.value
        if kind == LOOKUP and is_string(value):
            _lookup_file(reader, name, str(value.value).strip(), line_of(value))
            continue
        values = value.value if isinstance(value, SequenceNode) else [value]
        for element in values:
            if not is_string(element) or not str(element.value).strip():
                shown = "empty" if is_null(element) else describe(element)
                reader.error(
                    line_of(element),
                    f"each item of '{entry.key}: {name}' must be text, but it is {shown}; "
                    f'put it in quotes ("...")',
                )
                continue
            _add(reader, kind, name, str(element.value).strip(), line_of(element))


def _name(reader: Reader, node: Node, line: int, kind: str) -> str | None:
    if not is_string(node) or not str(node.value).strip():
        shown = "empty" if is_null(node) else describe(node)
        reader.error(line, f"the name of a {kind} must be text, but it is {shown}; quote it")
        return None
    name = str(node.value).strip()
    if kind != SYNONYM and not is_intent_name(name):
        reader.error(
            line,
            f"'{name}' is not a valid entity name (letters, digits and '_', not starting with "
            f"a digit); rename it, e.g. to '{suggest_intent_name(name)}'",
        )
        return None
    return name


def _add(reader: Reader, kind: str, name: str, value: str, line: int) -> None:
    if not value:
        reader.error(line, f"empty item in '{kind}: {name}'; write a value or delete the line")
        return
    if kind == REGEX and (problem := pattern_problem(value)) is not None:
        reader.error(line, f"'{kind}: {name}': {problem}")
        return
    reader.result.lexicon.append(LexiconItem(kind, name, value, reader.path, line))


def _lookup_file(reader: Reader, name: str, written: str, line: int) -> None:
    path = Path(written)
    path = path if path.is_absolute() else reader.path.parent / path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        reader.error(
            line,
            f"lookup file '{written}' of 'lookup: {name}' not found (looked for {path}); paths "
            f"are relative to this file's folder; or list the values ('- value' lines)",
        )
        return
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.reason if isinstance(exc, UnicodeDecodeError) else (exc.strerror or exc)
        reader.error(line, f"cannot read lookup file {path} of 'lookup: {name}': {why}")
        return
    values = [(number, value.strip()) for number, value in enumerate(text.splitlines(), 1)]
    values = [(number, value) for number, value in values if value]
    if not values:
        reader.warning(line, f"lookup file {path} of 'lookup: {name}' is empty; skipped")
    items = [LexiconItem(LOOKUP, name, value, path, number) for number, value in values]
    reader.result.lexicon.extend(items)


def build_lexicon(items: list[LexiconItem]) -> tuple[EntityLexicon, list[Problem]]:
    """Merge the items of every file; a variant given two canonical values keeps the first
    (a warning, as in Rasa), repeated patterns and values are kept once."""
    synonyms: dict[str, str] = {}
    first: dict[str, LexiconItem] = {}
    problems: list[Problem] = []
    regexes: dict[NamedPattern, None] = {}
    lookups: dict[str, dict[str, str]] = {}  # entity -> casefolded value -> value
    for item in items:
        if item.kind == SYNONYM:
            key = collapse_spaces(item.value).casefold()
            earlier = first.setdefault(key, item)
            if earlier.name != item.name:
                problems.append(
                    Problem(
                        WARNING, item.source, item.line, None,
                        f"'{item.value}' is a synonym of '{earlier.name}' "
                        f"({earlier.source}:{earlier.line}) and here of '{item.name}'; the "
                        f"first is kept: delete one",
                    )
                )  # fmt: skip
            else:
                synonyms.setdefault(key, item.name)
        elif item.kind == REGEX:
            regexes[NamedPattern(item.name, item.value)] = None
        else:
            lookups.setdefault(item.name, {}).setdefault(item.value.casefold(), item.value)
    lexicon = EntityLexicon(
        synonyms=synonyms,
        regexes=tuple(regexes),
        lookups={name: tuple(values.values()) for name, values in lookups.items()},
    )
    return lexicon, problems
