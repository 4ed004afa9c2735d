"""When each fold runs: compute overlapped with DRAM transfers through double buffering.

Model (fold granularity; inside a fold the array runs stall-free once its operands are in
SRAM, as in SCALE-Sim):

* One DRAM interface of `bandwidth` bytes per cycle serves, in order, the operand fetch for
  fold f and the write-back of fold f-1's outputs; a transfer takes ceil(bytes / bandwidth)
  cycles and transfers do not overlap each other.
* Fold f's operands go into the half of each input buffer that fold f-2 used, so their
  fetch starts no earlier than fold f-2 ends (fold f-1 may still be computing: that is the
  overlap double buffering buys).
* Fold f starts one fold period after fold f-1 started (the fold length with one weight
  buffer, so fold f-1 has ended; with two, max(time steps, preload) and the folds overlap:
  dataflow.py) and once its operands have arrived; the gap, if any, is a stall. It also
  waits for the ofmap half it writes into to have drained (fold f-2's write-back). The
  SRAM halves hold two folds' operands, so with a limited interface and overlapping folds
  a fold may also wait for the fold two back to end before its fetch can start.
* With unlimited bandwidth (SCALE-Sim's CALC mode) every transfer takes zero cycles and no
  fold ever stalls.

Cycle numbers count from 0. total_cycles follows SCALE-Sim: the index of the array's last
busy cycle, i.e. end of the last fold - 1; the final write-back of outputs after it is
reported separately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PROGRESS_FOLDS = 4096  # folds between progress reports


@dataclass(frozen=True)
class FoldTimeline:
    """Start and end cycle (exclusive) of each fold and of its DRAM transfers."""

    fold_start: np.ndarray
    fold_end: np.ndarray
    fetch_start: np.ndarray
    fetch_end: np.ndarray
    writeback_start: np.ndarray
    writeback_end: np.ndarray

    @property
    def busy_cycles(self) -> int:
        """Cycles from 0 to the end of the last fold."""
        return int(self.fold_end[-1]) if self.fold_end.size else 0

    @property
    def final_writeback_cycles(self) -> int:
        return max(0, int(self.writeback_end[-1]) - self.busy_cycles)


def transfer_cycles(num_bytes: np.ndarray, bandwidth_bytes_per_cycle: float | None) -> np.ndarray:
    if bandwidth_bytes_per_cycle is None:
        return np.zeros_like(num_bytes, dtype=np.int64)
    return np.ceil(num_bytes / bandwidth_bytes_per_cycle).astype(np.int64)


def schedule_folds(
    fold_cycles: int,
    fetch_bytes: np.ndarray,
    writeback_bytes: np.ndarray,
    bandwidth_bytes_per_cycle: float | None,
    progress: Callable[[int, int], None] | None = None,
    period: int | None = None,
) -> FoldTimeline:
    """Place every fold in time given its DRAM fetch and write-back volumes; `period`:
    the cycles between back-to-back fold starts (default `fold_cycles`: no overlap).
    `progress(done, total)` hears of folds placed (the loop runs only with a limited
    bandwidth: tens of microseconds a fold)."""
    period = fold_cycles if period is None else period
    num_folds = int(fetch_bytes.size)
    fetch_len = transfer_cycles(fetch_bytes, bandwidth_bytes_per_cycle)
    write_len = transfer_cycles(writeback_bytes, bandwidth_bytes_per_cycle)
    if bandwidth_bytes_per_cycle is None:
        return _unlimited(num_folds, fold_cycles, period)
    fold_start = np.zeros(num_folds, dtype=np.int64)
    fold_end = np.zeros(num_folds, dtype=np.int64)
    fetch_start = np.zeros(num_folds, dtype=np.int64)
    fetch_end = np.zeros(num_folds, dtype=np.int64)
    wb_start = np.zeros(num_folds, dtype=np.int64)
    wb_end = np.zeros(num_folds, dtype=np.int64)
    channel_free = 0
    # Plain Python ints in the loop: one iteration per fold, a few hundred ns each.
    fl, wl = fetch_len.tolist(), write_len.tolist()
    for f in range(num_folds):
        if progress is not None and f % PROGRESS_FOLDS == 0:
            progress(f, num_folds)
        buffer_free = int(fold_end[f - 2]) if f >= 2 else 0
        fetch_start[f] = max(channel_free, buffer_free)
        fetch_end[f] = fetch_start[f] + fl[f]
        channel_free = int(fetch_end[f])
        earliest = int(fold_start[f - 1]) + period if f >= 1 else 0
        drained = int(wb_end[f - 2]) if f >= 2 else 0
        fold_start[f] = max(earliest, int(fetch_end[f]), drained)
        fold_end[f] = fold_start[f] + fold_cycles
        if f >= 1:
            channel_free = _write_back(f - 1, fold_end, wl, wb_start, wb_end, channel_free)
    if num_folds:
        _write_back(num_folds - 1, fold_end, wl, wb_start, wb_end, channel_free)
    if progress is not None:
        progress(num_folds, num_folds)
    return FoldTimeline(fold_start, fold_end, fetch_start, fetch_end, wb_start, wb_end)


def _write_back(f, fold_end, write_len, wb_start, wb_end, channel_free) -> int:
    wb_start[f] = max(channel_free, int(fold_end[f]))
    wb_end[f] = wb_start[f] + write_len[f]
    return int(wb_end[f])


def _unlimited(num_folds: int, fold_cycles: int, period: int) -> FoldTimeline:
    """Back-to-back folds: the closed-form schedule, without the Python loop."""
    start = np.arange(num_folds, dtype=np.int64) * period
    end = start + fold_cycles
    zero = np.zeros(num_folds, dtype=np.int64)
    return FoldTimeline(start, end, zero, zero.copy(), end.copy(), end.copy())
