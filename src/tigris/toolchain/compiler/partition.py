"""How a matmul is split over cores and arrays: the compiler's choice, by a cost estimate.

A matmul X[M, K] @ W[K, N] is cut into output tiles of `rows_per_chunk` rows x one array
width of columns. The cores form a grid of core_rows x core_cols: core (a, b) computes the
row chunks i = a (mod core_rows) for the column tiles j = b (mod core_cols), keeping its
columns of W resident in SRAM and streaming X chunks through double buffers. Within a core
the work goes to the arrays round-robin, in one of two ways:
- chain: one array runs all K folds of a tile, accumulating in its output (acc=1);
- split: each K fold of a tile goes to the next array with its own partial-sum tile, and the
  vector unit adds the partials in fold order, which gives the same bits as `chain`
  (x + 0 = x, and fold f is added after folds 0..f-1 either way).
The estimate is the closed form (fold = R preload + rows + R + C - 2 cycles, waves over the
arrays) against the DMA time, plus the pipeline's fill (the first chunk's load and its
latency) and drain (the last tile's store); the executor measures the real schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from tigris.errors import InfeasibleError
from tigris.toolchain.isa.machine import Machine


@dataclass(frozen=True)
class MatmulPlan:
    core_rows: int
    core_cols: int
    rows_per_chunk: int
    split_k: bool
    estimate_cycles: float
    first_group: int = 1


def first_group(
    rows: int, k: int, tiles: int, machine: Machine, macs_per_pe: float, weight_bytes: int
) -> int:
    """Column tiles the first row chunk runs fold-major (fold f of each tile in the group,
    then fold f + 1) before the rest tile by tile: enough that the arrays have work while X
    streams in one fold at a time (the group's folds take the arrays at least as long as
    the next fold of X and of the group's weights take to arrive) and at least half the
    arrays, so the first fold of X starts most arrays at once; no more, so the epilogues
    of the group's tiles do not bunch up on the in-order vector unit."""
    if k <= machine.rows:
        return 1
    arrays = machine.arrays_per_core
    fold = fold_cycles(rows, machine, macs_per_pe)
    bpc = machine.dma_bytes_per_cycle
    limit = min(tiles, 2 * arrays)
    group = limit
    for g in range(1, limit + 1):
        arrive = (rows * machine.rows * 2 + g * machine.rows * machine.cols * weight_bytes) / bpc
        if g * fold / arrays >= arrive:
            group = g
            break
    return min(limit, max(group, arrays // 2))


def fold_cycles(rows: int, machine: Machine, macs_per_pe: float) -> int:
    """Cycles of one weight-stationary fold streaming `rows` rows (SCALE-Sim's fold length)."""
    return ceil(machine.rows / macs_per_pe) + ceil(
        (rows + machine.rows + machine.cols - 2) / macs_per_pe
    )


def sram_bytes(
    plan_rows: int,
    k: int,
    n_cols: int,
    weight_bytes: int,
    quantized: bool,
    machine: Machine,
    group: int = 1,
) -> int:
    """SRAM one core needs: its W columns, two X chunks (and their quantized copies), the
    partial-sum ring (two per array), the accumulators (one per tile of the first chunk's
    fold-major group, plus two), and the epilogue's rings."""
    c = machine.cols
    weights = k * n_cols * weight_bytes + 2 * n_cols * 4
    x = 2 * plan_rows * k * 2 + (2 * plan_rows * k * (weight_bytes + 4) + k * 4 if quantized else 0)
    partials = (2 * machine.arrays_per_core + group + 2) * plan_rows * c * 4
    epilogue = 2 * plan_rows * c * (4 + 4 + 2 + 2)
    return weights + x + partials + epilogue + 64 * 64


def plan_matmul(
    m: int, n: int, k: int, machine: Machine, macs_per_pe: float, weight_bytes: int, quantized: bool
) -> MatmulPlan:
    """The fastest estimated plan that fits the SRAM; InfeasibleError if none does."""
    cores, arrays = machine.num_cores, machine.arrays_per_core
    n_tiles, folds = ceil(n / machine.cols), ceil(k / machine.rows)
    best: MatmulPlan | None = None
    for core_cols in [d for d in range(1, cores + 1) if cores % d == 0]:
        core_rows = cores // core_cols
        tiles_per_core = ceil(n_tiles / core_cols)
        for pieces in range(1, 65):
            chunk = ceil(m / (core_rows * pieces))
            if chunk < 1 or (pieces > 1 and chunk == ceil(m / (core_rows * (pieces - 1)))):
                continue
            chunks_per_core = ceil(ceil(m / chunk) / core_rows)
            group = first_group(chunk, k, tiles_per_core, machine, macs_per_pe, weight_bytes)
            need = sram_bytes(
                chunk, k, tiles_per_core * machine.cols, weight_bytes, quantized, machine, group
            )
            if need > machine.sram_bytes_per_core:
                continue
            fold = fold_cycles(chunk, machine, macs_per_pe)
            dma = (
                k * tiles_per_core * machine.cols * weight_bytes
                + chunks_per_core * chunk * (k + 2 * tiles_per_core * machine.cols) * 2
            ) / machine.dma_bytes_per_cycle
            # Pipeline fill and drain: the first X chunk and weight tile must land before the
            # first fold (one DMA latency after they stream), and the last output tile is
            # stored (and lands) after the last fold.
            first = (chunk * k * 2 + k * machine.cols * weight_bytes) / machine.dma_bytes_per_cycle
            last = chunk * machine.cols * 2 / machine.dma_bytes_per_cycle
            ends = first + last + 2 * machine.dma_latency_cycles
            for split_k in (False, True):
                items = chunks_per_core * tiles_per_core * (folds if split_k else 1)
                per_item = fold * (1 if split_k else folds)
                compute = ceil(items / arrays) * per_item
                estimate = max(compute, dma) + ends
                if best is None or estimate < best.estimate_cycles:
                    best = MatmulPlan(core_rows, core_cols, chunk, split_k, estimate, group)
    if best is None:
        raise InfeasibleError(
            f"matmul {m}x{k} @ {k}x{n}: no split fits {machine.sram_bytes_per_core} bytes of "
            "SRAM per core (K is not tiled in SRAM)"
        )
    return best
