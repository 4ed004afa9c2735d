"""Folds: how a GEMM too big for the array is cut into array-sized pieces, and how long each takes.

A fold is one pass of the array: the dimension mapped to rows is cut into pieces of R, the
one mapped to columns into pieces of C, and the time dimension streams through whole.
Folds run column-fold outer, row-fold inner (SCALE-Sim's order), so for WS and IS, whose
rows hold K, consecutive folds accumulate into the same outputs.

Fold length comes from the PE schedule (the skewed wavefront): PE (i, j) does its t-th MAC
at cycle preload + t + i + j, because each operand enters at the array's edge and moves one
PE per cycle. A fold lasts until the last PE's last MAC. The skew is that of the whole
array even when a ragged fold uses fewer rows or columns: data still enters at the edge
and results still leave at the far edge, and SCALE-Sim pads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tigris.engines.systolic.dataflow import DataflowRule


@dataclass(frozen=True)
class FoldGrid:
    """Every fold of one GEMM on one array, as arrays indexed by fold number."""

    rule: DataflowRule
    array_rows: int
    array_cols: int
    sizes: dict[str, int]
    row_fold: np.ndarray
    """Index of each fold along the rows dimension."""
    col_fold: np.ndarray
    rows_used: np.ndarray
    """PE rows that hold real data in each fold (the last fold may be ragged)."""
    cols_used: np.ndarray
    time_steps: int

    @property
    def num_folds(self) -> int:
        return int(self.row_fold.size)

    def extent(self, dim: str) -> np.ndarray | int:
        """Per-fold extent of GEMM dimension `dim` ('M', 'N' or 'K') within one fold."""
        if dim == self.rule.rows:
            return self.rows_used
        if dim == self.rule.cols:
            return self.cols_used
        return self.time_steps

    def fold_index(self, dim: str) -> np.ndarray | None:
        """Per-fold index along `dim`, or None when `dim` is streamed whole in every fold."""
        if dim == self.rule.rows:
            return self.row_fold
        if dim == self.rule.cols:
            return self.col_fold
        return None


def _pieces(extent: int, size: int) -> np.ndarray:
    """Sizes of the pieces of `extent` cut into `size`: [size, size, ..., remainder]."""
    count = -(-extent // size)
    used = np.full(count, size, dtype=np.int64)
    used[-1] = extent - size * (count - 1)
    return used


def make_fold_grid(rule: DataflowRule, m: int, n: int, k: int, rows: int, cols: int) -> FoldGrid:
    sizes = {"M": m, "N": n, "K": k}
    row_pieces = _pieces(sizes[rule.rows], rows)
    col_pieces = _pieces(sizes[rule.cols], cols)
    # Column fold outer, row fold inner.
    row_fold = np.tile(np.arange(row_pieces.size), col_pieces.size)
    col_fold = np.repeat(np.arange(col_pieces.size), row_pieces.size)
    return FoldGrid(
        rule=rule,
        array_rows=rows,
        array_cols=cols,
        sizes=sizes,
        row_fold=row_fold,
        col_fold=col_fold,
        rows_used=row_pieces[row_fold],
        cols_used=col_pieces[col_fold],
        time_steps=sizes[rule.time],
    )


def mac_cycle_grid(rule: DataflowRule, rows: int, cols: int) -> np.ndarray:
    """Cycle (within a fold) of each PE's first MAC: preload + i + j, shape (rows, cols)."""
    return rule.preload_cycles(rows) + np.add.outer(np.arange(rows), np.arange(cols))


def fold_cycles(rule: DataflowRule, rows: int, cols: int, time_steps: int) -> int:
    """Cycles one fold occupies the array: up to and including the last PE's last MAC."""
    last_mac = int(mac_cycle_grid(rule, rows, cols).max()) + time_steps - 1
    return last_mac + 1
