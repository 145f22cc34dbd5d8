"""Command-line flags made from an options dataclass, so each option is defined once.

Each field carries an `Option` in its metadata (help text, parser, check, group); the flag is
`--field-name` (or the Option's `off_flag` for a switch that is on by default).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from trainer.training.options import Option

T = TypeVar("T")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where there is none to show (the help text says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        default = action.default
        if default is None or isinstance(default, bool) or default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action) or ""


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` with its ValueError turned into argparse's own error (exit 2, usage line)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _shown(default: Any) -> Any:
    """Defaults as they are typed on the command line (argparse parses string defaults)."""
    if isinstance(default, tuple):
        return ",".join(str(item) for item in default)
    return default


def add_option_flags(parser: argparse.ArgumentParser, options_type: type) -> None:
    """One flag per field of the options dataclass, in argument groups by `Option.group`."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for item in fields(options_type):
        option: Option = item.metadata["option"]
        if not option.cli:
            continue
        group = groups.get(option.group) or parser.add_argument_group(option.group)
        groups[option.group] = group
        default = item.default if item.default is not MISSING else None
        if option.off_flag:
            group.add_argument(
                option.off_flag, dest=item.name, action="store_false", help=option.help
            )
            continue
        settings: dict[str, Any] = {"dest": item.name, "default": _shown(default)}
        if option.bare:
            settings["nargs"] = "?"
            settings["const"] = option.bare
        if option.choices:
            settings["choices"] = option.choices
        elif option.parse is not None:
            settings["type"] = _argparse_type(option.parse)
        else:
            settings["type"] = type(default)
        group.add_argument(option.flag(item.name), help=option.help, **settings)


def options_from_args(args: argparse.Namespace, options_type: Callable[..., T]) -> T:
    """The options dataclass from parsed flags (fields without a flag keep their default)."""
    names = {item.name for item in fields(options_type)}  # type: ignore[arg-type]
    return options_type(**{name: getattr(args, name) for name in names if hasattr(args, name)})
