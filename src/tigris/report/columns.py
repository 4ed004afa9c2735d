"""A table column as data: what a table shows and how important each column is, kept apart
from how a terminal draws it (tigris.cli.fit_table) so domain code can declare tables
without importing rich."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Column:
    """One column: its header, `priority` (0: always shown; the highest is dropped first),
    whether its cells are numbers kept on one line, and how they are justified."""

    header: str
    priority: int = 0
    numeric: bool = False
    justify: Literal["left", "right", "center"] = "left"
