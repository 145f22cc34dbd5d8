"""`make options`: docs/reference/options.md, generated from the option declarations.

Every program's options are fields of options dataclasses (`intent_server.core.options`);
this lists them program by program, grouped as they are declared, with flag, default,
environment variable, choices and help. `--check` (`make options-check`) fails when the
committed file differs. Defaults that depend on the machine are declared in words (`shown`),
so the text is the same everywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.depth import DEPTH
from bench.finetune.plan import FINETUNE
from bench.loadgen import LOAD_GENERATOR
from bench.run import BENCH
from intent_server.client.cli import CLIENT
from intent_server.config import SERVER
from intent_server.core.options import (
    SWITCH_WORDS,
    Declared,
    Program,
    option,
    options_from_args,
)
from trainer.cli.options import INTENT_TRAIN

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path("docs/reference/options.md")
PROGRAMS = (SERVER, INTENT_TRAIN, CLIENT, BENCH, FINETUNE, DEPTH, LOAD_GENERATOR)


@dataclass(frozen=True)
class ReferenceOptions:
    out: Path = field(
        default=REFERENCE,
        metadata=option(parse=Path, help="the reference file, relative to the project root"),
    )
    check: bool = field(
        default=False,
        metadata=option(help="write nothing; exit 1 when the file differs from the declarations"),
    )


TOOL = Program(
    "python -m tools.options_reference",
    "Write the options reference generated from the option declarations (make options), or "
    "check that the committed one is up to date (make options-check).",
    options=(ReferenceOptions,),
)


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    for raw, escaped in (("|", "\\|"), ("*", "\\*"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(raw, escaped)
    return text


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _usage(item: Declared) -> str:
    option = item.option
    metavar = option.metavar or item.name.upper()
    if option.positional:
        return f"[{metavar} ...]" if option.nargs == "*" else metavar
    if item.is_switch:
        return item.flag
    if option.bare:
        return f"{item.flag}[={metavar}]"
    if option.nargs == "+":
        return f"{item.flag} {metavar} [{metavar} ...]"
    return f"{item.flag} {metavar}"


def _default(item: Declared) -> str:
    if item.required:
        return "required"
    if item.is_switch:
        return "off"
    if item.option.shown:
        return _cell(item.option.shown)
    text = item.default_text()
    return f"`{text}`" if text else "-"


def _row(item: Declared, prefix: str, with_env: bool) -> str:
    usage = f"`{_usage(item)}`" if item.option.cli else "(environment only)"
    help_text = _cell(item.option.help)
    if item.option.choices:
        help_text += ". One of " + ", ".join(f"`{choice}`" for choice in item.option.choices)
    if item.option.bare:
        help_text += f"; given alone: `{item.option.bare}`"
    cells = [usage, _default(item)]
    if with_env:
        env = item.env_name(prefix)
        cells.append(f"`{env}`" if env else "-")
    cells.append(help_text)
    return "| " + " | ".join(cells) + " |"


def _tables(program: Program) -> Iterator[str]:
    items = [
        (item, prefix)
        for item, prefix in program.items()
        if item.option.cli or item.env_name(prefix)
    ]
    with_env = any(item.env_name(prefix) for item, prefix in items)
    groups: dict[str, list[str]] = {}
    for item, prefix in items:
        groups.setdefault(item.option.group, []).append(_row(item, prefix, with_env))
    header = "| option | default |" + (" environment |" if with_env else "") + " help |"
    rule = "|---|---|" + ("---|" if with_env else "") + "---|"
    for group, rows in groups.items():
        yield from ("", f"**{group or 'options'}**", "", header, rule, *rows)


def _section(program: Program, parent: Program | None = None) -> Iterator[str]:
    yield from ("", f"## {program.name}", "", _cell(program.description))
    if program.env_prefix:
        yield ""
        yield (
            (
                f"Environment variables: `{program.env_prefix}<NAME>`; a flag wins over its "
                f"variable, a variable over the default; switches take {SWITCH_WORDS}."
            )
            .replace("<", "&lt;")
            .replace(">", "&gt;")
        )
    if parent is not None and parent.repeat_options:
        yield ""
        yield f"Takes the options of [{parent.name}](#{_anchor(parent.name)}) too."
    if program.commands:
        yield ""
        yield "Commands: " + ", ".join(
            f"[{command.name.split()[-1]}](#{_anchor(command.name)})"
            for command in program.commands
        )
    yield from _tables(program)
    for command in program.commands:
        yield from _section(command, program)


def _contents(programs: Sequence[Program]) -> Iterator[str]:
    for program in programs:
        yield f"- [{program.name}](#{_anchor(program.name)})"
        for command in program.commands:
            also = "".join(f" (also `{alias}`)" for alias in command.aliases)
            yield f"  - [{command.name}](#{_anchor(command.name)}){also}"


def reference(programs: Sequence[Program] = PROGRAMS) -> str:
    """The whole reference, as Markdown."""
    lines = [
        "# Options reference",
        "",
        "<!-- Generated from the option declarations by `make options`; do not edit. -->",
        "",
        "Every option of every program, generated from its declaration (a field of an "
        "options dataclass, see `intent_server/core/options.py`) by `make options`; "
        "`make options-check` (part of `make test`) fails when this file is stale. Each "
        "program's `--help` shows the same.",
        "",
        *_contents(programs),
    ]
    for program in programs:
        lines.extend(_section(program))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    options = options_from_args(TOOL.parse_args(argv), ReferenceOptions)
    path = ROOT / options.out
    text = reference()
    if options.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{options.out} is stale: run 'make options' and commit it", file=sys.stderr)
            return 1
        print(f"{options.out} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
