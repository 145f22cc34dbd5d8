"""Typed reads from parsed JSON, for the `from_json` of the on-disk contracts.

Every wrong or missing value raises the contract's error class with the file and the dotted
key in the message (`…/manifest.json: encoder.feature_dim must be an integer, found 'x'`);
an item of a list is named by its index (`intents[3].f1`).

`Json` is a JSON value as `json.dumps` writes it: what the `to_json` methods return.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeAlias, TypeVar

from intent_server.core.errors import ArtifactError

T = TypeVar("T")
Json: TypeAlias = str | int | float | bool | list["Json"] | dict[str, "Json"] | None
JsonObject: TypeAlias = dict[str, Json]


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types: resolving them is most of what reading a manifest
    costs (~5 ms), paid once per class instead of once per bot at start."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


class Fields:
    """One JSON object of a file; `prefix` is the dotted path of this object in the file."""

    def __init__(
        self,
        data: object,
        source: str,
        error: type[ArtifactError],
        prefix: str = "",
        fix: str = "",
    ) -> None:
        self.source = source
        self.error = error
        self.prefix = prefix
        self.fix = fix  # appended to every message: how to get a good file
        if not isinstance(data, dict):
            what = f"{prefix.rstrip('.')} must be" if prefix else "must hold"
            raise error(f"{source}: {what} a JSON object, found {type(data).__name__}{fix}")
        self.data: dict[str, Any] = data

    def fail(self, key: str, problem: str) -> ArtifactError:
        return self.error(f"{self.source}: {self.prefix}{key} {problem}{self.fix}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(f"{self.source} lacks {self.prefix}{key}{self.fix}")
        return self.data[key]

    def _typed(self, key: str, kinds: tuple[type, ...], what: str) -> Any:
        value = self.raw(key)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.fail(key, f"must be {what}, found {value!r}")
        return value

    def text(self, key: str) -> str:
        return str(self._typed(key, (str,), "a string"))

    def integer(self, key: str) -> int:
        return int(self._typed(key, (int,), "an integer"))

    def number(self, key: str) -> float:
        return float(self._typed(key, (int, float), "a number"))

    def optional_number(self, key: str) -> float | None:
        return None if self.raw(key) is None else self.number(key)

    def flag(self, key: str) -> bool:
        return bool(self._typed(key, (bool,), "true or false"))

    def texts(self, key: str) -> tuple[str, ...]:
        values = self._typed(key, (list,), "a list of strings")
        if not all(isinstance(value, str) for value in values):
            raise self.fail(key, "must be a list of strings")
        return tuple(values)

    def integers(self, key: str) -> tuple[int, ...]:
        values = self._typed(key, (list,), "a list of integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self.fail(key, "must be a list of integers")
        return tuple(values)

    def text_map(self, key: str) -> dict[str, str]:
        values = self._typed(key, (dict,), "an object of strings")
        if not all(isinstance(value, str) for value in values.values()):
            raise self.fail(key, "must map names to strings")
        return dict(values)

    def count_map(self, key: str) -> dict[str, int]:
        values = self._typed(key, (dict,), "an object of integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
            raise self.fail(key, "must map names to integers")
        return dict(values)

    def section(self, key: str) -> Fields:
        return Fields(self.raw(key), self.source, self.error, f"{self.prefix}{key}.", self.fix)

    def items(self, key: str) -> tuple[Fields, ...]:
        """The objects of the list under `key`, each named `key[index]` in messages."""
        values = self._typed(key, (list,), "a list of objects")
        return tuple(
            Fields(value, self.source, self.error, f"{self.prefix}{key}[{index}].", self.fix)
            for index, value in enumerate(values)
        )

    def build(self, cls: type[T], **given: Any) -> T:
        """The dataclass `cls`, each field read by its declared type (a nested contract by
        its own `from_json`, a tuple of them from a list); `given` holds the fields the
        caller read itself."""
        readers: list[tuple[object, Any]] = [
            (str, self.text),
            (int, self.integer),
            (float, self.number),
            (bool, self.flag),
            (float | None, self.optional_number),
            (tuple[str, ...], self.texts),
            (tuple[int, ...], self.integers),
            (dict[str, str], self.text_map),
            (dict[str, int], self.count_map),
        ]
        hints = _type_hints(cls)
        values = dict(given)
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            if item.name in values:
                continue
            kind = hints[item.name]
            reader = next((read for known, read in readers if kind == known), None)
            if reader is not None:
                values[item.name] = reader(item.name)
            elif _is_tuple_of_contracts(kind):
                part = typing.get_args(kind)[0]
                values[item.name] = tuple(part.from_json(f) for f in self.items(item.name))
            elif hasattr(kind, "from_json"):
                values[item.name] = kind.from_json(self.section(item.name))
            else:  # pragma: no cover - a contract field of a type this reader lacks
                raise TypeError(f"{cls.__name__}.{item.name}: no reader for {kind}")
        return cls(**values)


def _is_tuple_of_contracts(kind: object) -> bool:
    """`tuple[X, ...]` where X reads itself with `X.from_json(fields)`."""
    args = typing.get_args(kind)
    return (
        typing.get_origin(kind) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and hasattr(args[0], "from_json")
    )
