"""Words moved between the array, its three SRAMs and DRAM, fold by fold.

SRAM side (exact, as SCALE-Sim counts it): in every fold the array reads its whole tile of
A and of B once from the ifmap and filter SRAMs (the stationary operand once when it is
preloaded, the streaming ones once as they enter the edge), and writes its tile of C once
to the ofmap SRAM. A tile spans, along each GEMM dimension of its matrix, the fold's used
rows or columns if that dimension is spatial, or the whole dimension if it is streamed in
time. Hence A is read ceil(N/C) times under OS, and C is written ceil(K/R) times under WS.

DRAM side (our model; SCALE-Sim's CALC-mode totals are artefacts, see docs/systolic.md):
each SRAM is double buffered, so one half (capacity / 2) holds what the array uses now.

* If a whole matrix fits in its active half, each word of it comes from DRAM once.
* Otherwise a fold's tile is fetched when it differs from the previous fold's tile and
  fits in the half; a tile that does not fit is streamed again in every fold.
* Outputs of folds that accumulate into the same C tile (WS/IS: K on rows) stay in the
  ofmap SRAM when that tile fits in its half and are written once; otherwise every fold's
  partial sums are written out and read back by the next fold that adds to them.

Each rule only moves fewer words when a buffer grows, so more SRAM never adds DRAM traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tigris.engines.systolic.dataflow import OPERAND_DIMS
from tigris.engines.systolic.folds import FoldGrid


@dataclass(frozen=True)
class FoldTraffic:
    """Words moved per fold, as int64 arrays of length num_folds."""

    sram_reads_a: np.ndarray
    sram_reads_b: np.ndarray
    sram_writes_c: np.ndarray
    dram_reads_a: np.ndarray
    dram_reads_b: np.ndarray
    dram_writes_c: np.ndarray
    """Words of C written to DRAM once the fold finishes (complete or spilled partial sums)."""
    dram_reads_c: np.ndarray
    """Partial sums read back from DRAM before the fold (only when they were spilled)."""


def tile_words(grid: FoldGrid, operand: str) -> np.ndarray:
    """Words of `operand`'s tile in each fold."""
    first, second = OPERAND_DIMS[operand]
    words = np.asarray(grid.extent(first)) * np.asarray(grid.extent(second))
    return np.broadcast_to(words, (grid.num_folds,)).astype(np.int64)


def tile_key(grid: FoldGrid, operand: str) -> np.ndarray:
    """An id per fold that is equal exactly when two folds use the same tile of `operand`."""
    key = np.zeros(grid.num_folds, dtype=np.int64)
    for dim in OPERAND_DIMS[operand]:
        index = grid.fold_index(dim)
        if index is not None:
            key = key * (int(index.max()) + 1) + index
    return key


def _changes(key: np.ndarray) -> np.ndarray:
    """True at each fold whose key differs from the previous fold's (and at fold 0)."""
    change = np.ones(key.size, dtype=bool)
    change[1:] = key[1:] != key[:-1]
    return change


def input_dram_words(grid: FoldGrid, operand: str, half_buffer_words: float) -> np.ndarray:
    """Words of input `operand` ('A' or 'B') fetched from DRAM before each fold."""
    words = tile_words(grid, operand)
    first, second = OPERAND_DIMS[operand]
    whole = grid.sizes[first] * grid.sizes[second]
    key = tile_key(grid, operand)
    if whole <= half_buffer_words:
        # Resident: fetch each distinct tile the first time it is used.
        _, first_use = np.unique(key, return_index=True)
        fetch = np.zeros(grid.num_folds, dtype=bool)
        fetch[first_use] = True
    else:
        fetch = _changes(key) | (words > half_buffer_words)
    return np.where(fetch, words, 0)


def output_dram_words(grid: FoldGrid, half_buffer_words: float) -> tuple[np.ndarray, np.ndarray]:
    """(words of C written after each fold, partial-sum words read back before each fold)."""
    words = tile_words(grid, "C")
    key = tile_key(grid, "C")
    last_of_run = np.ones(grid.num_folds, dtype=bool)
    last_of_run[:-1] = key[:-1] != key[1:]
    first_of_run = _changes(key)
    spill = words > half_buffer_words
    writes = np.where(last_of_run | spill, words, 0)
    reads_back = np.where(spill & ~first_of_run, words, 0)
    return writes, reads_back


def fold_traffic(
    grid: FoldGrid,
    ifmap_half_words: float,
    filter_half_words: float,
    ofmap_half_words: float,
) -> FoldTraffic:
    writes_c, reads_c = output_dram_words(grid, ofmap_half_words)
    return FoldTraffic(
        sram_reads_a=tile_words(grid, "A"),
        sram_reads_b=tile_words(grid, "B"),
        sram_writes_c=tile_words(grid, "C"),
        dram_reads_a=input_dram_words(grid, "A", ifmap_half_words),
        dram_reads_b=input_dram_words(grid, "B", filter_half_words),
        dram_writes_c=writes_c,
        dram_reads_c=reads_c,
    )
