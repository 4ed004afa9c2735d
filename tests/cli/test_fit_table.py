"""Tables fitted to the terminal: the least important columns go first, no number is cut."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tigris.cli.fit_table import Column, fit_table, print_table

COLUMNS = (
    Column("chip"),
    Column("a long plan description", 3),
    Column("tokens/s per chip", 1, numeric=True, justify="right"),
    Column("MFU", 2, numeric=True, justify="right"),
    Column("$/M tokens", 1, numeric=True, justify="right"),
)
ROWS = [
    ["h100-sxm", "tp 8 pp 4 dp 32, mb 1, recompute full, ZeRO-1", "1,234,567", "47.31%", "$0.0123"],
    ["tigris-1", "tp 1", "2,690", "65.8%", "$12,345"],
]


def render(width: int, wide: bool = False) -> tuple[str, tuple[str, ...]]:
    stream = io.StringIO()
    console = Console(file=stream, width=width, force_terminal=True, color_system=None)
    dropped = print_table(console, "title", COLUMNS, ROWS, wide=wide)
    return stream.getvalue(), dropped


@pytest.mark.parametrize("width", [30, 40, 50, 60, 80, 120])
def test_numbers_stay_whole_at_any_width(width):
    text, dropped = render(width)
    table_lines = [line for line in text.splitlines() if not line.startswith("not shown")]
    assert max(len(line) for line in table_lines[1:]) <= width  # the title may wrap
    for position, column in enumerate(COLUMNS):
        for row in ROWS:
            if column.numeric and column.header not in dropped:
                assert row[position] in text
    assert "…" not in text
    assert all(c.header not in dropped for c in COLUMNS if c.priority == 0)


def test_least_important_go_first_and_are_named():
    _, dropped = render(60)
    assert dropped == ()  # the plan wraps between its words
    _, dropped = render(50)
    assert dropped == ("a long plan description",)  # priority 3
    text, dropped = render(40)
    assert set(dropped) >= {"a long plan description", "MFU"}
    assert "not shown" in text and "--wide" in text
    _, none = render(200)
    assert none == ()


def test_wide_keeps_every_column():
    text, dropped = render(40, wide=True)
    assert dropped == ()
    for row in ROWS:
        for cell in row[2:]:
            assert cell in text


def test_no_width_is_natural():
    fitted = fit_table(None, COLUMNS, ROWS, width=None)
    assert fitted.dropped == ()
    assert (
        fitted.width
        == sum(max(len(c.header), *(len(r[i]) for r in ROWS)) + 3 for i, c in enumerate(COLUMNS))
        + 1
    )
