"""Shared reading of one YAML file: problems, mappings with unknown keys, intent names, examples."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trainer.data.markup import parse_markup
from trainer.data.model import ERROR, SYNONYM, WARNING, Example, LexiconItem, Problem
from trainer.data.text import is_intent_name, suggest_intent_name
from trainer.data.yaml_nodes import Entry, describe, entries, is_null, is_string, line_of

EXAMPLE_KEYS = ("text", "metadata")


@dataclass
class IntentBlock:
    """One place where an intent is declared, with the valid examples found there."""

    name: str
    source: Path
    line: int
    examples: list[Example] = field(default_factory=list)


@dataclass
class ParsedFile:
    source: Path
    blocks: list[IntentBlock] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lexicon: list[LexiconItem] = field(default_factory=list)  # synonyms, regexes, lookups
    # No intents could be read (I/O, syntax, shape): the intent count check would only add noise.
    unreadable: bool = False


def closest(key: str, allowed: Collection[str]) -> str:
    """' Did you mean 'x'?' when a known key is close, else ''."""
    match = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def _allowed(keys: Collection[str]) -> str:
    return ", ".join(f"'{key}'" for key in keys)


def _fix_for(node: Node) -> str:
    if is_null(node):
        return "; write the sentence after '- ', or delete the line"
    if isinstance(node, ScalarNode):
        return f'; put it in quotes: "{node.value}"'
    return "; write one sentence per item"


class Reader:
    """Collects the problems of one file while its parts are read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.result = ParsedFile(path)

    def error(self, line: int | None, message: str, intent: str | None = None) -> None:
        self.result.problems.append(Problem(ERROR, self.path, line, intent, message))

    def warning(self, line: int | None, message: str, intent: str | None = None) -> None:
        self.result.problems.append(Problem(WARNING, self.path, line, intent, message))

    def mapping(self, node: MappingNode, intent: str | None = None) -> list[Entry]:
        """The entries of a mapping; a key written twice is an error (YAML keeps only one)."""
        result = entries(node)
        seen: dict[str, int] = {}
        for entry in result:
            key = entry.shown_key
            if key in seen:
                self.error(
                    entry.line,
                    f"key '{key}' is written twice (also on line {seen[key]}); YAML keeps only "
                    f"the last one: merge them into one",
                    intent,
                )
            else:
                seen[key] = entry.line
        return result

    def unknown_keys(
        self, found: list[Entry], allowed: Collection[str], intent: str | None = None
    ) -> None:
        for entry in found:
            if entry.key not in allowed:
                self.error(
                    entry.line,
                    f"unknown key '{entry.shown_key}'; allowed here: {_allowed(allowed)}."
                    f"{closest(entry.shown_key, allowed)}",
                    intent,
                )

    def intent_name(self, node: Node, line: int) -> str:
        if not isinstance(node, ScalarNode) or is_null(node):
            self.error(line, f"an intent name must be a word, but it is {describe(node)}")
            return "?"
        name = str(node.value)
        if not is_intent_name(name):
            self.error(
                line,
                f"'{name}' is not a valid intent name (letters, digits and '_', not starting "
                f"with a digit); rename it, e.g. to '{suggest_intent_name(name)}'",
                name,
            )
        return name

    def examples(self, node: Node, intent: str) -> list[Example]:
        if is_null(node):
            return []
        if is_string(node):
            return self.block_examples(node, intent)
        if not isinstance(node, SequenceNode):
            self.error(
                line_of(node),
                f"'examples' must be a list of sentences, but it is {describe(node)}",
                intent,
            )
            return []
        result = []
        for item in node.value:
            example = self.example(item, intent)
            if example is not None:
                result.append(example)
        return result

    def example(self, item: Node, intent: str) -> Example | None:
        node = item
        if isinstance(item, MappingNode):
            found = self.mapping(item, intent)
            self.unknown_keys(found, EXAMPLE_KEYS, intent)
            texts = [entry.value for entry in found if entry.key == "text"]
            if not texts:
                self.error(line_of(item), "an example written as a mapping needs 'text:'", intent)
                return None
            node = texts[0]
        if not is_string(node):
            message = f"an example must be text, but it is {describe(node)}"
            self.error(line_of(node), message + _fix_for(node), intent)
            return None
        return self.text_example(str(node.value), line_of(node), intent)

    def text_example(self, raw: str, line: int, intent: str) -> Example | None:
        markup = parse_markup(raw)
        for message in markup.problems:
            self.error(line, message, intent)
        if markup.problems:
            return None
        if not markup.text:
            self.error(line, "empty example; write a sentence or delete the line", intent)
            return None
        for text, value in markup.synonyms:  # `[NYC](city:New York)`: a synonym, as in Rasa
            self.result.lexicon.append(LexiconItem(SYNONYM, value, text, self.path, line))
        return Example(markup.text, intent, self.path, line, markup.entities)

    def block_examples(self, node: ScalarNode, intent: str) -> list[Example]:
        """Rasa's `examples: |` block: one `- sentence` per line."""
        result = []
        for line, text in self.block_lines(node, "examples", intent):
            example = self.text_example(text, line, intent)
            if example is not None:
                result.append(example)
        return result

    def block_lines(self, node: ScalarNode, what: str, intent: str | None) -> list[tuple[int, str]]:
        """The `- item` lines of a Rasa block (`examples: |`), with their line numbers."""
        if node.style == ">":
            self.error(
                line_of(node),
                f"write the {what} block with '|' (keeps one item per line), not '>'",
                intent,
            )
            return []
        # A literal block starts on the line after its '|'; other styles map lines roughly.
        first = line_of(node) + (1 if node.style == "|" else 0)
        result = []
        for offset, raw_line in enumerate(str(node.value).split("\n")):
            stripped = raw_line.strip()
            line = first + offset
            if not stripped:
                continue
            if not stripped.startswith("-"):
                self.error(
                    line,
                    f"each line of an {what} block must start with '- ', got '{stripped[:40]}'",
                    intent,
                )
                continue
            result.append((line, stripped[1:]))
        return result
