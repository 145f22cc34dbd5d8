"""Read YAML as a node tree, so every value keeps the line it was written on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# libyaml is ~10x faster on big files (CLINC150 as YAML); both keep start marks.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STR_TAG = "tag:yaml.org,2002:str"
_TAG_NAMES = {
    STR_TAG: "a string",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "empty (null)",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}


class YamlSyntaxError(Exception):
    """Malformed YAML; `line` is 1-based when the parser knows it."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Alias:
    """A `*name` in the text, and the top-level key it is written under (None: not under a
    plain key, or itself a top-level key)."""

    name: str
    line: int | None
    anchor_line: int | None
    section: str | None


def find_aliases(text: str) -> list[Alias]:
    """Every alias, from the parser's events (linear in the text), before any node is built.

    An alias shares its anchor's node, so every reader after the composer sees the anchored
    examples once per alias: 40 KB of aliases became 21 s, 853 MB and 194 MB of warnings.
    """
    if "*" not in text:  # no alias can be written without one; skips the second parse
        return []
    anchors: dict[str, int | None] = {}
    found: list[Alias] = []
    depth, children, section, top_is_mapping = 0, 0, None, False
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, CollectionEndEvent):
            depth -= 1
        if not isinstance(event, NodeEvent):
            continue
        if depth == 1 and top_is_mapping:
            if children % 2 == 0:  # a key of the top-level mapping
                section = event.value if isinstance(event, ScalarEvent) else None
            children += 1
        if isinstance(event, AliasEvent):
            name = str(event.anchor)
            found.append(Alias(name, _event_line(event), anchors.get(name), section))
        elif event.anchor is not None:
            anchors.setdefault(event.anchor, _event_line(event))
        if isinstance(event, CollectionStartEvent):
            top_is_mapping = top_is_mapping or (depth == 0 and isinstance(event, MappingStartEvent))
            depth += 1
    return found


def alias_message(aliases: list[Alias]) -> str:
    """The error for a file whose data uses aliases (the first one is where it is reported)."""
    first = aliases[0]
    anchor = f" on line {first.anchor_line}" if first.anchor_line is not None else ""
    where = [f"*{first.name} here repeats &{first.name}{anchor}"]
    where += [f"{len(aliases)} aliases in this file"] if len(aliases) > 1 else []
    return (
        f"YAML aliases are not allowed in training data: write the examples out "
        f"({'; '.join(where)})"
    )


def _event_line(event: Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


def compose_text(text: str) -> tuple[Node | None, list[Alias]]:
    """The document's root node (None for an empty document) and the aliases in the text.
    The composer shares an alias's node rather than copying it, so this much is cheap."""
    try:
        aliases = find_aliases(text)
        return yaml.compose(text, Loader=_LOADER), aliases
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        parts = [exc.context, exc.problem]
        message = "; ".join(str(p) for p in parts if p)
        raise YamlSyntaxError(message or str(exc), line) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).replace("\n", " "), None) from exc


def read_text(path: Path) -> str:
    """File contents as UTF-8; OSError/UnicodeDecodeError propagate for the caller to report."""
    return path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the YAML


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def is_string(node: Node) -> TypeGuard[ScalarNode]:
    return isinstance(node, ScalarNode) and node.tag == STR_TAG


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def describe(node: Node) -> str:
    """What kind of value a node holds, for messages ('a number', 'a list', ...)."""
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    name = _TAG_NAMES.get(node.tag)
    if name is None:
        return f"a value tagged {node.tag}"
    if name in ("a number", "a boolean", "a date"):
        return f"{name} ({node.value})"
    return name


@dataclass(frozen=True)
class Entry:
    """One key of a mapping node, with its line; `key` is None when the key is not a string."""

    key: str | None
    key_node: Node
    value: Node

    @property
    def line(self) -> int:
        return line_of(self.key_node)

    @property
    def shown_key(self) -> str:
        return self.key if self.key is not None else str(getattr(self.key_node, "value", "?"))


def entries(node: MappingNode) -> list[Entry]:
    result = []
    for key_node, value in node.value:
        # Keys like `123:` or `yes:` keep their text; the caller checks names.
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else None
        result.append(Entry(key, key_node, value))
    return result
