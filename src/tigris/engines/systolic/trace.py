"""Traces: every MAC of a small GEMM with its cycle and PE, a per-cycle line trace, and a
fold timeline in Chrome trace format (chrome://tracing, https://ui.perfetto.dev).

mac_events steps the skewed wavefront for real: PE (i, j) of fold f does the MAC for time
step t at cycle fold_start[f] + preload + t + i + j, and the indices it multiplies follow
from the rule table. Tests use it to check, independently of any formula, that every
(m, n, k) product happens exactly once, that no PE does two things in one cycle, and that
the last MAC falls on the cycle the fold schedule says.

stationary_loads steps the preload the same way: fold f's stationary operand enters the
top of column j at cycle fold_start[f] + j (skewed like the data, so it takes effect with
the advancing wave) and shifts down one row per cycle into the PEs' register `f mod
weight_buffers`; the register of PE (i, j) is overwritten from fold_start[f] + i + j to
fold_start[f] + R - 1 + j, when it holds its own value. Tests check against the MAC events
that a PE never reads a register while it is being overwritten, nor before its value is in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tigris.engines.systolic.config import SystolicConfig, check_gemm_shape
from tigris.engines.systolic.dataflow import RULES
from tigris.engines.systolic.folds import make_fold_grid
from tigris.engines.systolic.result import SystolicResult
from tigris.engines.systolic.timeline import PROGRESS_FOLDS
from tigris.errors import SpecError

MAX_EVENTS = 4_000_000
MAX_LINE_TRACE_PES = 16 * 16


def _fold_starts(m: int, n: int, k: int, config: SystolicConfig):
    """(rule, fold grid, each fold's start cycle) of a stall-free run: the one fold table's
    schedule (dataflow.RULES), folds overlapping with two weight buffers."""
    check_gemm_shape(m, n, k)
    if m * n * k > MAX_EVENTS:
        raise SpecError(f"a MAC trace of {m}x{n}x{k} is too big (limit {MAX_EVENTS} MACs)")
    rule = RULES[config.dataflow]
    grid = make_fold_grid(rule, m, n, k, config.rows, config.cols)
    starts = rule.fold_starts(
        grid.num_folds, grid.time_steps, config.rows, config.cols, config.weight_buffers
    )
    return rule, grid, starts


def mac_events(m: int, n: int, k: int, config: SystolicConfig) -> dict[str, np.ndarray]:
    """All M*N*K MACs of a stall-free run: arrays 'cycle', 'fold', 'buffer' (the PE register
    holding the stationary operand it reads), 'pe_row', 'pe_col', 'm', 'n', 'k'."""
    rule, grid, starts = _fold_starts(m, n, k, config)
    preload = rule.preload_cycles(config.rows)
    parts: dict[str, list[np.ndarray]] = {
        key: [] for key in ("cycle", "fold", "buffer", "pe_row", "pe_col", "m", "n", "k")
    }
    for fold in range(grid.num_folds):
        i, j, t = np.meshgrid(
            np.arange(grid.rows_used[fold]),
            np.arange(grid.cols_used[fold]),
            np.arange(grid.time_steps),
            indexing="ij",
        )
        i, j, t = i.ravel(), j.ravel(), t.ravel()
        index = {
            rule.rows: grid.row_fold[fold] * config.rows + i,
            rule.cols: grid.col_fold[fold] * config.cols + j,
            rule.time: t,
        }
        parts["cycle"].append(starts[fold] + preload + t + i + j)
        parts["fold"].append(np.full(i.size, fold))
        parts["buffer"].append(np.full(i.size, fold % config.weight_buffers))
        parts["pe_row"].append(i)
        parts["pe_col"].append(j)
        for dim in ("M", "N", "K"):
            parts[dim.lower()].append(index[dim])
    return {key: np.concatenate(value).astype(np.int64) for key, value in parts.items()}


def stationary_loads(m: int, n: int, k: int, config: SystolicConfig) -> dict[str, np.ndarray]:
    """Every PE's preload of every fold (none for OS): arrays 'fold', 'buffer', 'pe_row',
    'pe_col', 'first_write', 'last_write' (cycles its register is overwritten, inclusive)."""
    rule, grid, starts = _fold_starts(m, n, k, config)
    rows, cols = config.rows, config.cols
    if not rule.preload_rows:
        empty = np.zeros(0, dtype=np.int64)
        keys = ("fold", "buffer", "pe_row", "pe_col", "first_write", "last_write")
        return {key: empty for key in keys}
    i, j = (a.ravel() for a in np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"))
    folds = np.repeat(np.arange(grid.num_folds), i.size)
    i, j = np.tile(i, grid.num_folds), np.tile(j, grid.num_folds)
    start = starts[folds]
    return {
        "fold": folds.astype(np.int64),
        "buffer": (folds % config.weight_buffers).astype(np.int64),
        "pe_row": i.astype(np.int64),
        "pe_col": j.astype(np.int64),
        "first_write": (start + i + j).astype(np.int64),
        "last_write": (start + rows - 1 + j).astype(np.int64),
    }


def line_trace(
    m: int, n: int, k: int, config: SystolicConfig, max_cycles: int | None = None
) -> list[str]:
    """One block of text per cycle showing what each PE does: 'm,n,k' of its MAC, 'ld' while
    the stationary operand is shifted in (WS/IS), '.' when idle."""
    if config.num_pes > MAX_LINE_TRACE_PES:
        raise SpecError(
            f"line trace is for arrays up to {MAX_LINE_TRACE_PES} PEs, got {config.rows}x{config.cols}",
            hint="use --trace FILE for a fold timeline of a big array",
        )
    _, _, starts = _fold_starts(m, n, k, config)
    events = mac_events(m, n, k, config)
    num_cycles = int(events["cycle"].max()) + 1
    if max_cycles is not None:
        num_cycles = min(num_cycles, max_cycles)
    cells = np.full((num_cycles, config.rows, config.cols), ".", dtype=object)
    loads = stationary_loads(m, n, k, config)
    for first, last, i, j in zip(
        *(loads[key] for key in ("first_write", "last_write", "pe_row", "pe_col")), strict=True
    ):  # stationary data moving down; a MAC written below shows over it
        cells[min(first, num_cycles) : min(last + 1, num_cycles), i, j] = "ld"
    keep = events["cycle"] < num_cycles
    for c, i, j, mm, nn, kk in zip(
        *(events[key][keep] for key in ("cycle", "pe_row", "pe_col", "m", "n", "k")), strict=True
    ):
        cells[c, i, j] = f"{mm},{nn},{kk}"
    width = max(len(str(cell)) for cell in cells.ravel()) if cells.size else 1
    lines = [
        f"# {config.dataflow.value.upper()} {config.rows}x{config.cols} array, "
        f"GEMM {m}x{n}x{k}; cell = m,n,k of the MAC done that cycle"
    ]
    for cycle in range(num_cycles):
        fold = int(np.searchsorted(starts, cycle, side="right")) - 1  # the latest to start
        lines.append(f"cycle {cycle} (fold {fold})")
        for i in range(config.rows):
            lines.append("  " + " ".join(str(cell).rjust(width) for cell in cells[cycle, i]))
    return lines


def chrome_trace(
    result: SystolicResult, progress: Callable[[int, int], None] | None = None
) -> dict:
    """The fold timeline as Chrome trace events; 1 cycle is written as 1 us.
    `progress(done, total)` hears of folds written."""
    timeline = result.timeline
    events: list[dict] = [
        {"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}
        for tid, name in ((1, "array"), (2, "DRAM reads"), (3, "DRAM writes"))
    ]
    previous_end = 0
    for fold in range(result.num_folds):
        if progress is not None and fold % PROGRESS_FOLDS == 0:
            progress(fold, result.num_folds)
        start = int(timeline.fold_start[fold])
        if start > previous_end:
            events.append(_span("stall", previous_end, start - previous_end, 1, fold))
        events.append(_span(f"fold {fold}", start, int(timeline.fold_end[fold]) - start, 1, fold))
        previous_end = int(timeline.fold_end[fold])
        for tid, name, begin, end in (
            (2, "fetch", timeline.fetch_start[fold], timeline.fetch_end[fold]),
            (3, "write-back", timeline.writeback_start[fold], timeline.writeback_end[fold]),
        ):
            if end > begin:
                events.append(_span(f"{name} {fold}", int(begin), int(end - begin), tid, fold))
    if progress is not None:
        progress(result.num_folds, result.num_folds)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"note": "1 us on the time axis = 1 array cycle", **_summary(result)},
    }


def _span(name: str, start: int, duration: int, tid: int, fold: int) -> dict:
    return {
        "name": name,
        "ph": "X",
        "ts": start,
        "dur": duration,
        "pid": 1,
        "tid": tid,
        "args": {"fold": fold},
    }


def _summary(result: SystolicResult) -> dict:
    return {
        "gemm": f"{result.m}x{result.n}x{result.k}",
        "array": f"{result.config.rows}x{result.config.cols}",
        "dataflow": result.config.dataflow.value,
        "total_cycles": result.total_cycles,
    }
