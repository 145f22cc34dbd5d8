"""Command-line options declared once: a field of an options dataclass whose metadata says how
it appears on the command line and in the environment.

    port: int = field(default=50051, metadata=option(parse=port, help="TCP port"))

From these fields a `Program` builds its argparse parser (`--field-name` flags in groups,
defaults and environment variables in the help), reads `PREFIX_NAME` environment variables
(a flag wins over the variable, the variable over the default; a bad value is an error naming
the variable), and makes the dataclass back from the parsed flags (`options_from_args`).
`problems` runs the fields' checks. The options reference (docs/reference/options.md) is
generated from the same declarations. Also here: the options several programs share
(`MODEL`, `MODELS_DIR`, `EXPORT_DIR`, `ENCODER_VARIANT`).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from intent_server.core.layout import VARIANTS

T = TypeVar("T")
SWITCH_WORDS = "1/0, true/false, yes/no or on/off"


class OptionsError(ValueError):
    """Invalid option values; the message names the flag or the environment variable."""


@dataclass(frozen=True)
class Option:
    """How one field of an options dataclass appears on the command line and what it accepts.

    A bool field without `bare` is a switch: `--name` turns it on, or `off_flag` turns a
    True-by-default one off. `env` is the variable's name after the program's prefix (by
    default the flag's name: `--max-queue` -> PREFIX_MAX_QUEUE); an option without a prefix
    has a variable only when `env` names it in full. `shown` is the default in words, for
    defaults that are None or depend on the machine ("auto")."""

    help: str
    group: str = ""
    must: str = ""  # the check in words: "--dropout must <must>, got ..."
    check: Callable[[Any], bool] | None = None
    parse: Callable[[str], Any] | None = None  # text -> value; ValueError for a bad one
    choices: tuple[str, ...] = ()  # checked by the parser, after `parse`
    env: str = ""
    flag_name: str = ""  # default: --field-name
    off_flag: str = ""
    bare: str = ""  # the value of the flag given without one (`--fine-tune` = auto)
    metavar: str = ""
    shown: str = ""
    positional: bool = False
    nargs: str = ""  # "*" for a positional taking any number of values
    cli: bool = True  # False: no flag (set in code, or by its environment variable only)

    def flag(self, name: str) -> str:
        """The flag of field `name` (the positional's name for a positional)."""
        if self.positional:
            return self.metavar or name.upper()
        return self.off_flag or self.flag_name or "--" + name.replace("_", "-")

    def but(self, more_help: str = "", **changes: Any) -> Option:
        """This option with `more_help` appended to its help and other settings changed."""
        return replace(self, help=self.help + more_help, **changes)

    def meta(self) -> dict[str, Option]:
        return {"option": self}


def option(**settings: Any) -> dict[str, Option]:
    """Field metadata: `field(default=..., metadata=option(help=..., ...))`."""
    return Option(**settings).meta()


@dataclass(frozen=True)
class Shared:
    """An option several programs declare: its default and its `Option`, written once."""

    default: Any
    option: Option

    def meta(self, more_help: str = "", **changes: Any) -> dict[str, Option]:
        """Field metadata: `model: str = field(default=MODEL.default, metadata=MODEL.meta())`."""
        return self.option.but(more_help, **changes).meta()


def switch_value(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected {SWITCH_WORDS}, got {text!r}")


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` with its ValueError turned into argparse's own error (exit 2, usage line)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value").strip("_")
    return convert


@dataclass(frozen=True)
class Declared:
    """One field of an options dataclass with its `Option`: what the programs read."""

    name: str
    option: Option
    default: Any  # MISSING: required

    @property
    def flag(self) -> str:
        return self.option.flag(self.name)

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def is_switch(self) -> bool:
        return isinstance(self.default, bool) and not self.option.bare

    def parser(self) -> Callable[[str], Any]:
        """Text -> value, for flags and variables alike."""
        if self.option.parse is not None:
            return self.option.parse
        if isinstance(self.default, Path):
            return Path
        if self.default is None or self.default is MISSING or isinstance(self.default, tuple):
            return str
        return type(self.default)

    def from_text(self, text: str) -> Any:
        """An environment variable's text -> the field's value (ValueError when bad)."""
        if self.is_switch:
            on = switch_value(text)
            return not on if self.option.off_flag else on
        value = self.parser()(text)
        if self.option.choices and value not in self.option.choices:
            raise ValueError(f"must be one of {', '.join(self.option.choices)}, got {value!r}")
        return value

    def env_name(self, prefix: str) -> str:
        """The environment variable, or "" for none."""
        if self.option.positional:
            return ""
        if self.option.env:
            return prefix + self.option.env
        if not prefix:
            return ""
        word = self.flag.lstrip("-") if self.option.cli else self.name
        return prefix + word.replace("-", "_").upper()

    def default_text(self) -> str:
        """The default as the help shows it; "" where there is none to show."""
        if self.option.shown:
            return self.option.shown
        value = self.default
        if value is MISSING or value is None or isinstance(value, bool) or value == "":
            return ""
        if isinstance(value, tuple):
            return ",".join(str(item) for item in value)
        return str(value)

    def help_text(self, prefix: str) -> str:
        """The help as --help shows it: the default and the variable appended."""
        text = self.option.help
        if self.default_text():
            text += f" (default: {self.default_text()})"
        env = self.env_name(prefix)
        if env:
            text += f" [env {env}=1]" if self.is_switch else f" [env {env}]"
        return text


def declared(options_type: type[Any]) -> list[Declared]:
    """The fields of an options dataclass, in order (each must carry an `Option`)."""
    found = []
    for item in fields(options_type):
        default = _field_default(item)
        found.append(Declared(item.name, item.metadata["option"], default))
    return found


def _field_default(item: Field[Any]) -> Any:
    if item.default is not MISSING:
        return item.default
    if item.default_factory is not MISSING:
        return item.default_factory()
    return MISSING


def _flag_settings(item: Declared, suppress_default: bool) -> dict[str, Any]:
    option = item.option
    settings: dict[str, Any] = {}
    if not item.required:
        settings["default"] = argparse.SUPPRESS if suppress_default else item.default
    if item.is_switch:
        settings["action"] = "store_false" if option.off_flag else "store_true"
        return settings
    settings["type"] = _argparse_type(option.parse) if option.parse is not None else item.parser()
    if option.choices:
        settings["choices"] = option.choices
    if option.bare:
        settings["nargs"], settings["const"] = "?", option.bare
    if option.nargs:
        settings["nargs"] = option.nargs
    if option.metavar:
        settings["metavar"] = option.metavar
    if item.required and not option.positional:
        settings["required"] = True
    return settings


def add_flags(
    parser: argparse.ArgumentParser,
    options_type: type[Any],
    env_prefix: str = "",
    suppress_defaults: bool = False,
) -> None:
    """One flag per field (fields with `cli=False` have none), in argument groups by
    `Option.group`. `suppress_defaults`: a flag left out sets nothing (the flags of a
    program repeated after its command must not overwrite those given before it)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for item in declared(options_type):
        if not item.option.cli:  # set by its variable only: the default, unless suppressed
            if not suppress_defaults and not item.required:
                parser.set_defaults(**{item.name: item.default})
            continue
        target: argparse._ActionsContainer = parser
        if item.option.group:
            group = groups.get(item.option.group) or parser.add_argument_group(item.option.group)
            target = groups[item.option.group] = group
        help_text = item.help_text(env_prefix).replace("%", "%%")
        settings = _flag_settings(item, suppress_defaults)
        if item.option.positional:
            target.add_argument(item.name, help=help_text, **settings)
        else:
            target.add_argument(item.flag, dest=item.name, help=help_text, **settings)


def env_values(options_type: type[Any], env_prefix: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The values the environment sets, by field name. Raises OptionsError on a bad one."""
    values: dict[str, Any] = {}
    for item in declared(options_type):
        name = item.env_name(env_prefix)
        if name and name in env:
            try:
                values[item.name] = item.from_text(env[name])
            except ValueError as exc:
                raise OptionsError(f"environment variable {name}={env[name]!r}: {exc}") from None
    return values


def options_from_args(args: argparse.Namespace, options_type: Callable[..., T]) -> T:
    """The options dataclass from parsed flags (fields without a value keep their default)."""
    values = {}
    for item in declared(options_type):  # type: ignore[arg-type]
        if hasattr(args, item.name):
            value = getattr(args, item.name)
            values[item.name] = tuple(value) if isinstance(value, list) else value
    return options_type(**values)


def problems(options: Any) -> list[str]:
    """Every field whose check fails: "--flag must <must>, got <value>"."""
    found = []
    for item in declared(type(options)):
        value = getattr(options, item.name)
        if item.option.check is not None and not item.option.check(value):
            found.append(f"{item.flag} must {item.option.must}, got {value!r}")
    return found


class Checked:
    """Mixin for an options dataclass: its fields' checks (and `cross_problems`) run when it
    is made; every problem is listed in one `options_error`."""

    options_error: ClassVar[type[Exception]] = OptionsError
    options_what: ClassVar[str] = "options"

    def cross_problems(self) -> list[str]:
        """Problems of options together (override)."""
        return []

    def __post_init__(self) -> None:
        found = problems(self) + self.cross_problems()
        if found:
            raise self.options_error(f"invalid {self.options_what}:\n  " + "\n  ".join(found))


@dataclass(frozen=True)
class Program:
    """A command line: its options dataclasses, their environment prefix, its commands.

    `repeat_options`: the program's own options are accepted after the command too."""

    name: str  # as typed: "intent-train train"
    description: str
    options: tuple[type[Any], ...] = ()
    env_prefix: str = ""
    summary: str = ""  # the line in the parent's list of commands
    commands: tuple[Program, ...] = ()
    repeat_options: bool = False
    aliases: tuple[str, ...] = ()  # other commands that take exactly these options

    def items(self) -> list[tuple[Declared, str]]:
        """Every option of this program (not its commands'), with its env prefix."""
        return [(item, self.env_prefix) for kind in self.options for item in declared(kind)]

    def parser(self, env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
        """The argparse parser; with `env`, its variables as defaults (exit 2 on a bad one)."""
        parser = argparse.ArgumentParser(
            prog=self.name, description=self._description(), epilog=self._env_only()
        )
        self._fill(parser, env)
        if self.commands:
            names = [command.name.split()[-1] for command in self.commands]
            sub = parser.add_subparsers(
                dest="command", required=True, metavar="{" + ",".join(names) + "}"
            )
            for name, command in zip(names, self.commands, strict=True):
                child = sub.add_parser(
                    name,
                    help=command.summary,
                    description=command._description(),
                    epilog=command._env_only(),
                )
                command._fill(child, env)
                for kind in self.options if self.repeat_options else ():
                    add_flags(child, kind, self.env_prefix, suppress_defaults=True)
        return parser

    def parse_args(
        self, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
    ) -> argparse.Namespace:
        """Flags over environment variables (`os.environ` when env is None) over defaults."""
        return self.parser(os.environ if env is None else env).parse_args(argv)

    def _fill(self, parser: argparse.ArgumentParser, env: Mapping[str, str] | None) -> None:
        for kind in self.options:
            add_flags(parser, kind, self.env_prefix)
            if env is not None:
                try:
                    parser.set_defaults(**env_values(kind, self.env_prefix, env))
                except OptionsError as exc:
                    parser.error(str(exc))

    def _description(self) -> str:
        if not self.env_prefix:
            return self.description
        return (
            f"{self.description} Every option can also be set as an environment variable "
            f"{self.env_prefix}<NAME> (shown with each option); a flag wins over the variable."
        )

    def _env_only(self) -> str | None:
        lines = [
            f"{item.env_name(prefix)}: {item.option.help}"
            for item, prefix in self.items()
            if not item.option.cli and item.env_name(prefix)
        ]
        return "environment variables without a flag: " + "; ".join(lines) if lines else None


# The options several programs share.
MODEL = Shared(
    "default",
    Option(
        flag_name="--model",
        metavar="NAME",
        help="model name: its folder in the trained and in the exported models",
    ),
)
MODELS_DIR = Shared(Path("models"), Option(help="folder of trained models (MODEL/ inside)"))
EXPORT_DIR = Shared(
    Path("exported"), Option(help="folder of exported models (MODEL/VERSION/ inside)")
)
ENCODER_VARIANT = Shared(
    "auto",
    Option(
        choices=("auto", *VARIANTS),
        help="encoder file to run: int8, fp32, or auto (the one the export serves by default)",
    ),
)
