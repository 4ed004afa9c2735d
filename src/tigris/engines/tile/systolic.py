"""GEMM on systolic chips: folds of the array with fill and drain (the fold table,
tigris.engines.systolic.dataflow.RULES, exact for one array; with two weight buffers an
array's folds run back to back, the next fold's weights shifting in while the current one
streams, so a run of folds pays one preload and one fill/drain), spread over the arrays of
the best core grid (row shares x column tiles; weight stationary); SRAM blocking decides the
DRAM re-reads; double buffering overlaps DMA with compute. When K folds of one output tile
run on different arrays their partial sums are added on the vector unit, and every output
tile is read from the accumulators and cast by it (the epilogue), overlapped with the
arrays. A core's arrays (MXUs) feed its one vector unit: the vector work is counted once
per output element (not per array) and runs at the chip's vector rate alongside the
arrays (time = max of the two), as a TPU's MXUs hand results to its VPU. A kernel's DMA pipeline fills and drains: its first operands land the chip's DMA
latency after they stream, its last output tile is stored after the last fold and lands a
latency later, and the cores meet at a barrier (the chip's barrier cycles;
`pipeline_seconds`).

Integer counts (cycles, vector passes, pipeline bytes) depend on the op and the array
geometry alone and are memoised; `gemm_seconds` turns them into seconds with the chip's
rates, for one chip (floats) or a batch (numpy rows; tile.batch).
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil, isqrt
from operator import attrgetter
from typing import Any

from tigris.engines.base import OpTime
from tigris.engines.systolic.dataflow import RULES, Dataflow, rule_for
from tigris.engines.tile.common import (
    SYSTOLIC_EPILOGUE_PASSES,
    blocked_traffic_bytes,
    dram_rate,
    lane_rate,
    maximum,
)
from tigris.hardware.chip import Chip, SystolicMatrix
from tigris.hardware.quantities import dtype_bytes
from tigris.workload.ops import Gemm

# (rows, cols, cores, arrays per core, dataflow, weight buffers) of a chip's matrix unit
Geometry = tuple[int, int, int, int, str, int]


def systolic_fold_cycles(
    m: int, n: int, k: int, rows: int, cols: int, dataflow: str
) -> tuple[int, int]:
    """(number of folds, cycles per fold) of one GEMM on one R x C array, from the fold
    table (RULES): OS ceil(M/R) * ceil(N/C) folds of K + R + C - 2 cycles; WS ceil(K/R) *
    ceil(N/C) of M + 2R + C - 2; IS ceil(K/R) * ceil(M/C) of N + 2R + C - 2."""
    return _rule(dataflow).folds(m, n, k, rows, cols)


def systolic_compute_cycles(
    m: int, n: int, k: int, rows: int, cols: int, dataflow: str, weight_buffers: int = 1
) -> int:
    """Stall-free compute cycles of one GEMM on one array, as SCALE-Sim reports them (one
    weight buffer) or with the next fold's weights preloaded (two)."""
    rule = _rule(dataflow)
    return rule.total_cycles(m, n, k, rows, cols, weight_buffers) - 1


def _rule(dataflow: str):
    try:
        return RULES[Dataflow(dataflow)]
    except ValueError:
        raise ValueError(f"unknown dataflow {dataflow!r}") from None


def systolic_parallel_cycles(m: int, n: int, k: int, matrix: SystolicMatrix) -> tuple[int, str]:
    """Cycles of one GEMM over all arrays of a chip, and how it was split.

    Two splits are considered and the faster kept: the folds dealt round-robin to the
    arrays, or the streamed rows (M for WS/OS) divided among the arrays, each array then
    running all folds on its share. Weight stationary: the K folds of one output tile are
    added on one core (its vector unit), so the cores split the GEMM as a grid of row
    shares x column tiles and only a core's own arrays share its folds (the best grid).
    """
    return _parallel_cycles(
        m, n, k, matrix.rows, matrix.cols, matrix.num_cores, matrix.arrays_per_core,
        matrix.dataflow, matrix.weight_buffers,
    )  # fmt: skip


# A pure function of integers, memoised: a sweep's designs share array geometries, and
# each times the same ~15 GEMM shapes.
@lru_cache(maxsize=1 << 16)
def _parallel_cycles(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    cores: int,
    per_core: int,
    dataflow: str,
    weight_buffers: int = 1,
) -> tuple[int, str]:
    arrays = cores * per_core
    rule = _rule(dataflow)
    if dataflow == "ws":  # the best grid of the cores
        by_folds = min(
            _ws_grid_cycles(m, n, k, rows, cols, cores, per_core, core_cols, weight_buffers)
            for core_cols in range(1, cores + 1)
            if cores % core_cols == 0
        )
    else:
        folds, _ = rule.folds(m, n, k, rows, cols)
        time_steps = {"M": m, "N": n, "K": k}[rule.time]
        by_folds = rule.run_cycles(ceil(folds / arrays), time_steps, rows, cols, weight_buffers) - 1
    share = ceil(m / arrays) if dataflow != "is" else m
    if dataflow == "is":
        share_n = ceil(n / arrays)
        by_rows = systolic_compute_cycles(m, share_n, k, rows, cols, dataflow, weight_buffers)
    else:
        by_rows = systolic_compute_cycles(share, n, k, rows, cols, dataflow, weight_buffers)
    return (by_folds, "folds") if by_folds <= by_rows else (by_rows, "rows")


def ws_grid_share(
    m: int, n: int, k: int, rows: int, cols: int, cores: int, per_core: int, core_cols: int
) -> tuple[int, int]:
    """(streamed rows, folds) of the busiest array when the cores form a grid: cores /
    core_cols row shares of M by core_cols groups of the C-wide column tiles; a tile's K
    folds stay on one core (its partial sums add in place), dealt over the core's arrays."""
    folds = ceil(ceil(n / cols) / core_cols) * ceil(k / rows)
    return ceil(m / (cores // core_cols)), ceil(folds / per_core)


def busiest_array_gemm(
    m: int, n: int, k: int, geometry: Geometry
) -> tuple[tuple[int, int, int], str]:
    """A GEMM with the folds of the busiest array under the split `_parallel_cycles`
    chooses, and the split: the rows split gives the array its share of the streamed rows
    and every fold; the folds split its ceil(share of the folds) folds of the whole
    streamed dimension, as one GEMM of that many full-width column tiles (a fold's cycles
    depend on its streamed length alone: ragged folds keep the whole array's skew). What the
    cycle-level simulator runs to time a chip (engines.systolic.engine)."""
    rows, cols, cores, per_core, dataflow, buffers = geometry
    rule, arrays = _rule(dataflow), cores * per_core
    _, split = _parallel_cycles(m, n, k, rows, cols, cores, per_core, dataflow, buffers)
    sizes = {"M": m, "N": n, "K": k}
    if split == "rows":
        streamed = "N" if dataflow == "is" else "M"
        sizes[streamed] = ceil(sizes[streamed] / arrays)
        return (sizes["M"], sizes["N"], sizes["K"]), split
    if dataflow == "ws":
        _, share, folds = min(
            (_ws_grid_cycles(m, n, k, rows, cols, cores, per_core, c, buffers), *share_folds)
            for c in range(1, cores + 1)
            if cores % c == 0
            for share_folds in [ws_grid_share(m, n, k, rows, cols, cores, per_core, c)]
        )
        sizes[rule.time] = share
    else:
        folds = ceil(rule.folds(m, n, k, rows, cols)[0] / arrays)
    sizes[rule.rows] = min(sizes[rule.rows], rows)
    sizes[rule.cols] = cols * folds
    return (sizes["M"], sizes["N"], sizes["K"]), split


def _ws_grid_cycles(
    m: int, n: int, k: int, rows: int, cols: int, cores: int, per_core: int, core_cols: int,
    weight_buffers: int = 1,
) -> int:  # fmt: skip
    """Weight-stationary cycles with the cores as a grid (ws_grid_share): the busiest
    array's folds back to back (the fold table's run_cycles)."""
    share, folds = ws_grid_share(m, n, k, rows, cols, cores, per_core, core_cols)
    return RULES[Dataflow.WS].run_cycles(folds, share, rows, cols, weight_buffers) - 1


class SystolicChip:
    """The chip figures the systolic models read for every op, computed once per chip (a
    sweep times ~30 ops on each of thousands of designs). ROW_FIELDS are the floats a
    batch of chips holds as rows (tile.batch); the formulas read them by these names."""

    ROW_FIELDS = (
        "clock", "matrix_fraction", "lane_rate", "dram_rate", "kernel_overhead",
        "per_core_dram_rate", "barrier_s", "sram_bytes", "vector_flop", "dma_latency_s",
    )  # fmt: skip

    __slots__ = ("matrix", "arrays", "block", "geometry", *ROW_FIELDS)

    def __init__(self, chip: Chip) -> None:
        matrix = chip.matrix
        assert isinstance(matrix, SystolicMatrix)
        self.matrix = matrix
        self.arrays = matrix.num_cores * matrix.arrays_per_core
        self.geometry: Geometry = (
            matrix.rows, matrix.cols, matrix.num_cores, matrix.arrays_per_core, matrix.dataflow,
            matrix.weight_buffers,
        )  # fmt: skip
        self.clock = matrix.clock
        self.lane_rate = lane_rate(chip)
        self.vector_flop = chip.vector_flop_per_s()
        self.dram_rate = dram_rate(chip)
        self.per_core_dram_rate = self.dram_rate / matrix.num_cores
        self.dma_latency_s = matrix.dma_latency_s
        self.barrier_s = matrix.barrier_cycles / matrix.clock
        self.kernel_overhead = chip.calibration.kernel_overhead
        self.matrix_fraction = chip.calibration.matrix_fraction
        self.sram_bytes = chip.onchip_capacity_bytes
        # SRAM blocking: square output blocks whose fp32 accumulators take half the SRAM.
        self.block = max(matrix.rows, isqrt(int(self.sram_bytes / 2 / 4)))

    @property
    def floats(self) -> tuple[float, ...]:
        return _row_fields(self)


_row_fields = attrgetter(*SystolicChip.ROW_FIELDS)  # one C call per chip of a batch


def systolic_chip(chip: Chip) -> SystolicChip:
    """The chip's systolic figures, built once per chip (kept with the frozen spec)."""
    return chip.derived("tile_systolic", SystolicChip)


def pipeline_seconds(first_plus_last_bytes: Any, c: Any) -> Any:
    """Fill and drain of one kernel's DMA pipeline on a systolic chip whose cores share the
    DRAM bandwidth: the first operands stream at one core's share and land the chip's DMA
    latency later; the last output tile streams out and lands a latency later; then the
    cores meet at a barrier. `c`: a SystolicChip, or a batch's rows."""
    return (2 * c.dma_latency_s + first_plus_last_bytes / c.per_core_dram_rate) + c.barrier_s


def systolic_pipeline_s(chip: Chip, first_bytes: float, last_bytes: float) -> float:
    """`pipeline_seconds` of one chip, its first and last bytes apart."""
    return pipeline_seconds(first_bytes + last_bytes, systolic_chip(chip))


def gemm_counts(op: Gemm, geometry: Geometry) -> tuple[int, int, float, int, str]:
    """(batch x cycles, vector-unit element passes, the DMA pipeline's first plus last
    bytes, cycles, split) of one GEMM on an array geometry: integers and bytes only."""
    rows, cols, cores, per_core, dataflow, buffers = geometry
    m, n, k, batch = op.m, op.n, op.k, op.batch
    cycles, split = _parallel_cycles(m, n, k, rows, cols, cores, per_core, dataflow, buffers)
    # Vector unit: partial sums of K folds dealt to different arrays, and the epilogue of
    # every output element.
    k_folds = -(-k // rows) if rule_for(dataflow).rows == "K" else 1
    adds = k_folds - 1 if split == "folds" and cores * per_core > 1 else 0
    passes = batch * m * n * (adds + SYSTOLIC_EPILOGUE_PASSES)
    # Fill: one fold's operands (a row chunk of A and R x C of B); drain: one output tile.
    share = -(-m // cores)
    k_rows, n_cols = min(k, rows), min(n, cols)
    first = (share * k_rows + k_rows * n_cols) * dtype_bytes(op.dtype)
    last = share * n_cols * dtype_bytes(op.out_dtype or op.dtype)
    return batch * cycles, passes, first + last, cycles, split


def gemm_seconds(work: Any, passes: Any, pipeline_bytes: Any, traffic: Any, macs: Any, c: Any):
    """(time_s, compute_s, memory_s, overhead_s, matrix_s, vector_s, pipeline_s) of GEMMs
    from their counts (gemm_counts), DRAM bytes and MACs per PE per cycle, on one chip
    (`c` a SystolicChip, floats) or many (`c` rows, the rest ops x chips arrays)."""
    # A PE doing r MACs per cycle in this dtype finishes the same folds r times faster.
    matrix_s = work / (c.clock * macs * c.matrix_fraction)
    vector_s = passes / c.lane_rate
    compute_s = maximum(matrix_s, vector_s)
    memory_s = traffic / c.dram_rate
    pipeline_s = pipeline_seconds(pipeline_bytes, c)
    overhead_s = c.kernel_overhead + pipeline_s
    time_s = maximum(compute_s, memory_s) + overhead_s
    return time_s, compute_s, memory_s, overhead_s, matrix_s, vector_s, pipeline_s


def gemm_traffic(op: Gemm, block: int, sram_bytes: float) -> float:
    """DRAM bytes of a GEMM with SRAM blocking: square blocks, half the SRAM holding the
    operands."""
    return blocked_traffic_bytes(op, block, block, 0.5 * sram_bytes)


def systolic_gemm_parts(op: Gemm, chip: Chip, c: SystolicChip | None = None) -> tuple:
    """gemm_seconds of one GEMM on one chip, then (cycles, split, traffic)."""
    c = c or systolic_chip(chip)
    macs = c.matrix.macs_per_pe_per_cycle.get(op.dtype)  # type: ignore[call-overload]
    if macs is None:
        chip.peak_flop_per_s(op.dtype)  # raises UnsupportedError with the reason
    work, passes, pipeline_bytes, cycles, split = gemm_counts(op, c.geometry)
    traffic = gemm_traffic(op, c.block, c.sram_bytes)
    return (*gemm_seconds(work, passes, pipeline_bytes, traffic, macs, c), cycles, split, traffic)


def time_systolic_gemm(op: Gemm, chip: Chip) -> OpTime:
    time_s, compute_s, memory_s, overhead_s, matrix_s, vector_s, pipe_s, cycles, split, traffic = (
        systolic_gemm_parts(op, chip)
    )
    return OpTime(
        name=op.name,
        engine="tile",
        time_s=time_s,
        flop=op.flop,
        dram_bytes=traffic,
        compute_s=compute_s,
        memory_s=memory_s,
        overhead_s=overhead_s,
        details={
            "cycles": float(cycles),
            "block": float(systolic_chip(chip).block),
            "split_rows": float(split == "rows"),
            "matrix_s": matrix_s,
            "vector_s": vector_s,
            "pipeline_s": pipe_s,
        },
    )
