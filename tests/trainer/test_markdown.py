"""`markdown_table`: the one table builder of every report."""

from __future__ import annotations

import pytest

from trainer.markdown import cell, markdown_table


def test_a_table_has_a_header_a_separator_and_a_line_per_row() -> None:
    assert markdown_table(("name", "count"), [("a", 1), ("b", 2.5)]) == [
        "| name | count |",
        "|---|---|",
        "| a | 1 |",
        "| b | 2.5 |",
    ]
    assert markdown_table("name | count", []) == ["| name | count |", "|---|---|"]


def test_cells_escape_pipes_and_line_breaks() -> None:
    assert cell("a | b") == "a \\| b"
    assert cell("two\nlines") == "two lines"
    assert cell("") == ""
    assert markdown_table(("text",), [("x|y",), ("",)]) == [
        "| text |",
        "|---|",
        "| x\\|y |",
        "|  |",
    ]


def test_alignment_and_shape_mistakes() -> None:
    lines = markdown_table(("a", "b", "c", "d"), [], align=("left", "right", "center", None))
    assert lines[1] == "|:---|---:|:---:|---|"
    with pytest.raises(ValueError, match="2 headers but 1 alignments"):
        markdown_table(("a", "b"), [], align=("left",))
    with pytest.raises(ValueError, match="a row of 1 cells in a table of 2 columns"):
        markdown_table(("a", "b"), [("x",)])
