"""Terminal tables that fit the terminal without cutting a number.

rich shrinks a table that is wider than the terminal by cutting cells short (`47.…`,
`$0.…`). Here each column says how important it is and whether its cells are numbers; on
a narrow terminal the least important columns are dropped (and named under the table)
until the rest fits, and the widths are fixed so that no cell is cut:

- a numeric column is at least as wide as its widest cell: a value never wraps;
- a text column is at least as wide as its longest word: it wraps between words only;
- a header wraps between its words like text.

A file or a pipe has no width (unless $COLUMNS says one): every column is shown, as with
`wide`. The sizes (padding 1 each side, one border between and around columns) are those
of rich's default table box.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tigris.report.columns import Column

PADDING = 2  # one space each side of a cell


@dataclass(frozen=True)
class FittedTable:
    """A rich table whose columns fit `width` (or as close as its priority-0 columns
    allow), and the headers of the columns dropped to get there."""

    table: Table
    width: int
    dropped: tuple[str, ...]


def width_limit(console: Console) -> int | None:
    """The width tables must fit: the terminal's, or $COLUMNS; None (no limit) for output
    to a file or a pipe with no $COLUMNS."""
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return None


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _bounds(column: Column, cells: list[str]) -> tuple[int, int]:
    """(narrowest, natural) content width of a column, header included."""
    natural = max([_longest_line(column.header), *(_longest_line(c) for c in cells)])
    if column.numeric:
        narrowest = max([_longest_word(column.header), *(_longest_line(c) for c in cells)])
    else:
        narrowest = max([_longest_word(column.header), *(_longest_word(c) for c in cells)])
    return narrowest, natural


def _total(widths: Sequence[int]) -> int:
    return sum(w + PADDING for w in widths) + len(widths) + 1


def _drop_order(columns: Sequence[Column]) -> list[int]:
    """Indices of droppable columns, first to drop first (highest priority, rightmost)."""
    droppable = [i for i, c in enumerate(columns) if c.priority > 0]
    return sorted(droppable, key=lambda i: (-columns[i].priority, -i))


def _shrink(narrowest: list[int], widths: list[int], width: int) -> list[int]:
    """Narrow the widest columns that have room, one cell at a time, until `width`."""
    widths = list(widths)
    while _total(widths) > width:
        slack = [i for i, w in enumerate(widths) if w > narrowest[i]]
        if not slack:
            break
        widest = max(slack, key=lambda i: (widths[i], i))
        widths[widest] -= 1
    return widths


def fit_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None,
    row_styles: Sequence[str | None] | None = None,
    show_header: bool = True,
) -> FittedTable:
    """A table of `rows` (text cells) that fits `width` columns of terminal (None: any)."""
    by_column = [[row[i] for row in rows] for i in range(len(columns))]
    heads = [c if show_header else Column("", c.priority, c.numeric, c.justify) for c in columns]
    bounds = [_bounds(column, cells) for column, cells in zip(heads, by_column, strict=True)]
    kept = list(range(len(columns)))
    if width is not None:
        for index in _drop_order(columns):
            if _total([bounds[i][0] for i in kept]) <= width:
                break
            kept.remove(index)
    narrowest = [bounds[i][0] for i in kept]
    widths = [bounds[i][1] for i in kept]
    if width is not None:
        widths = _shrink(narrowest, widths, width)
    table = Table(
        title=title,
        title_justify="left",
        show_header=show_header,
        width=_total(widths),
    )
    for index, size in zip(kept, widths, strict=True):
        column = columns[index]
        table.add_column(
            column.header,
            width=size,
            justify=column.justify,
            overflow="fold",
            no_wrap=False,
        )
    for position, row in enumerate(rows):
        style = row_styles[position] if row_styles else None
        table.add_row(*(Text(row[i]) for i in kept), style=style)  # no markup in cells
    dropped = tuple(columns[i].header for i in range(len(columns)) if i not in kept)
    return FittedTable(table, _total(widths), dropped)


def print_table(
    console: Console,
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool = False,
    row_styles: Sequence[str | None] | None = None,
    show_header: bool = True,
    hint: str = "--wide shows every column",
) -> tuple[str, ...]:
    """Print `rows` as a table fitting the console (every column with `wide`); under it, a
    line naming the columns dropped, and `hint`. Returns the dropped headers."""
    limit = None if wide else width_limit(console)
    fitted = fit_table(
        title, columns, rows, width=limit, row_styles=row_styles, show_header=show_header
    )
    # A table wider than the console (wide, a pipe, or columns that cannot be dropped)
    # is printed whole, lines uncut; the terminal wraps them.
    console.print(fitted.table, crop=fitted.width <= console.width)
    if fitted.dropped:
        console.print(
            f"not shown, the terminal is too narrow: {', '.join(fitted.dropped)}; {hint}",
            highlight=False,
            markup=False,
        )
    return fitted.dropped
