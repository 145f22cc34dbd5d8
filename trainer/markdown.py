"""Markdown tables for the reports: the training report, `intent-train evaluate` and the
benchmark's RESULTS.md build every table here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ALIGN = {"left": ":---", "right": "---:", "center": ":---:", None: "---"}


def cell(value: object) -> str:
    """A value as one table cell: `|` escaped, line breaks as spaces."""
    return " ".join(str(value).replace("|", "\\|").splitlines())


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(
    headers: Sequence[str] | str,
    rows: Iterable[Sequence[object]],
    align: Sequence[str | None] | None = None,
) -> list[str]:
    """The lines of a table: the header (the column names, or one string of them written
    as in the table: "name | count"), the separator (`align`: "left", "right", "center" or
    None per column; default none) and a line per row, every cell escaped with `cell`."""
    if isinstance(headers, str):
        headers = [name.strip() for name in headers.split("|")]
    aligns = list(align) if align is not None else [None] * len(headers)
    if len(aligns) != len(headers):
        raise ValueError(f"{len(headers)} headers but {len(aligns)} alignments")
    lines = [_line([cell(h) for h in headers]), "|" + "|".join(ALIGN[a] for a in aligns) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a row of {len(row)} cells in a table of {len(headers)} columns")
        lines.append(_line([cell(value) for value in row]))
    return lines
