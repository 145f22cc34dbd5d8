"""Read YAML as a node tree, so every value keeps the line it was written on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import yaml
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


def compose_text(text: str) -> Node | None:
    """The document's root node, or None for an empty document."""
    try:
        return yaml.compose(text, Loader=_LOADER)
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
