"""The tile engine: an op tiled on the chip's memory hierarchy and parallel units.

Mechanisms, each a term you can point to:
- GPU GEMM: thread-block tiles (bm x bn) spread over SMs in waves (wave quantization),
  a K loop with a fixed pipeline prologue/epilogue per tile, split-K when there are too
  few tiles to fill the SMs, DRAM traffic with re-reads when operands overflow L2.
  The kernel library picks the fastest candidate tiling, as cuBLAS heuristics aim to.
- Systolic GEMM: folds of the array with fill and drain (the SCALE-Sim closed form in
  DESIGN.md section 7, exact for one array), spread over the arrays of the best core grid
  (row shares x column tiles; weight stationary); SRAM blocking
  decides the DRAM re-reads; double buffering overlaps DMA with compute. When K folds of
  one output tile run on different arrays their partial sums are added on the vector unit,
  and every output tile is read from the accumulators and cast by it (the epilogue),
  overlapped with the arrays. A kernel's DMA pipeline fills and drains: its first
  operands land a DMA latency after they stream, its last output tile is stored after
  the last fold and lands a latency later, and the cores meet at a barrier
  (`systolic_pipeline_s`; the same assumptions as the ISA's machine, tigris.toolchain.isa.machine).
- Attention on systolic chips (`time_systolic_attention`): per (batch, head) QK^T and PV as
  weight-stationary folds (head_dim fills only part of an array), causal key tiles only
  for the queries at or below them, the softmax as vector-unit passes over the scores in
  lane-cycles (exp and divide cost several), all overlapped, plus the pipeline fill of one
  head's chain and the drain.
- CPU GEMM: SIMD peak with cache blocking on the last on-chip level.
- Attention: FlashAttention (no S x S matrix in DRAM): query blocks per (batch, head) in
  waves; softmax exponentials on the vector unit, serialised with the matmuls within a
  block (FlashAttention-2 style).
- Streams (norms, activations, optimizer): DRAM bandwidth bound (on systolic chips plus the
  DMA pipeline's fill and drain).
Every op pays the chip's kernel overhead (start and tail on the device). Calibration terms (chip.calibration) are few and
fitted on measured.csv only (tigris.validate.calibrate).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from math import ceil, isqrt

from tigris.engines.base import OpTime
from tigris.hardware.chip import Chip, SimdMatrix, SystolicMatrix, TensorCoreMatrix
from tigris.hardware.quantities import dtype_bytes
from tigris.toolchain.isa.machine import BARRIER_CYCLES, DMA_LATENCY_S
from tigris.workload.ops import Attention, Gemm, Op, Stream

# K elements consumed per main-loop step of a GPU GEMM kernel (CUTLASS "bk").
GPU_K_STEP = 64
# Main-loop steps lost per tile to the pipeline prologue (loads in flight before the first
# MMA) and epilogue (writing C): a multistage pipeline of 3-4 stages loses about 3.
GPU_TILE_OVERHEAD_STEPS = 3
# Largest split-K factor considered.
MAX_SPLIT_K = 16
# Vector-unit flop per softmax element of an unfused softmax: max, subtract, exp, sum, scale.
SOFTMAX_FLOP_PER_SCORE = 5
# fp32 operations per computed score in FlashAttention besides the exponential: scale,
# running max, subtract, row sum (forward); subtract D, multiply by P, scale (backward).
SOFTMAX_VECTOR_FLOP_PER_SCORE = 4
# Query (and key) rows per FlashAttention block.
ATTENTION_BLOCK_Q = 128
# Key/value-loop iterations each query block loses to its prologue (loading Q and the first
# K/V tile before the first MMA) and epilogue (normalising and writing O): fitted on the
# attention rows' sequence-length trend (tigris.validate.attention), shared by all chips.
ATTENTION_BLOCK_OVERHEAD = 1.5
# Vector-unit lane-cycles per element of the operations that are not one pass (a typical
# special-function ratio; the ISA executor times its vector instructions with this table).
# A lane does one fp32 operation per cycle: half the FMA peak in flop.
VECTOR_LANE_CYCLES = {
    "div": 4,
    "exp": 4,
    "rsqrt": 4,
    "sigmoid": 5,
    "tanh": 8,
    "erf": 8,
}
# Passes over each score of a softmax on a systolic chip's vector unit, in order: scale,
# (causal mask), row max, subtract, exp, row sum, divide, cast to the PV input dtype.
SYSTOLIC_SOFTMAX_PASSES = ("muli", "rmax", "sub", "exp", "rsum", "div", "copy")
# Vector passes over each output element of a GEMM epilogue: read the accumulator, cast out.
SYSTOLIC_EPILOGUE_PASSES = 2


class TileEngine:
    name = "tile"

    def time(self, op: Op, chip: Chip) -> OpTime:
        if isinstance(op, Gemm):
            return time_gemm(op, chip)
        if isinstance(op, Attention):
            return time_attention(op, chip)
        if isinstance(op, Stream):
            return time_stream(op, chip)
        raise TypeError(f"tile engine cannot time {type(op).__name__}")

    def times_s(self, ops: Sequence[Op], chip: Chip) -> list[float]:
        """[self.time(op, chip).time_s for op in ops], the same floats, without building
        an OpTime for the GEMMs of systolic chips and the streams (a design sweep times
        the ~30 ops of a training step on every design)."""
        consts = _systolic_chip(chip) if isinstance(chip.matrix, SystolicMatrix) else None
        out = []
        for op in ops:
            if isinstance(op, Stream):
                out.append(_stream_parts(op, chip, consts)[0])
            elif isinstance(op, Gemm) and consts is not None:
                out.append(_systolic_gemm_parts(op, chip, consts)[0])
            elif isinstance(op, Attention):
                out.append(_attention_time_s(op, chip))
            elif isinstance(op, Gemm) and isinstance(chip.matrix, TensorCoreMatrix):
                # _result's time: the best tiling's bound plus the kernel overhead
                out.append(_gpu_gemm_search(op, chip)[1][0] + chip.calibration.kernel_overhead)
            else:
                out.append(self.time(op, chip).time_s)
        return out


# ---------------------------------------------------------------------------- helpers


def _dram_rate(chip: Chip) -> float:
    return chip.dram_bandwidth_bytes_per_s * chip.calibration.dram_fraction


def _matrix_rate(chip: Chip, dtype: str) -> float:
    return chip.peak_flop_per_s(dtype) * chip.calibration.matrix_fraction


def _last_level_bytes(chip: Chip) -> float:
    """Capacity of the largest shared on-chip level (L2, CMEM), or all SRAM if none shared."""
    shared = [level.total_capacity_bytes for level in chip.memory.sram if level.instances == 1]
    if shared:
        return max(shared)
    return chip.onchip_capacity_bytes


def _result(
    op: Op,
    chip: Chip,
    compute_s: float,
    memory_s: float,
    dram_bytes: float,
    details: dict[str, float],
    pipeline_s: float = 0.0,
) -> OpTime:
    """Overhead: the chip's kernel overhead plus `pipeline_s`, the kernel's fill and drain."""
    overhead_s = chip.calibration.kernel_overhead + pipeline_s
    return OpTime(
        name=op.name,
        engine="tile",
        time_s=max(compute_s, memory_s) + overhead_s,
        flop=op.flop,
        dram_bytes=dram_bytes,
        compute_s=compute_s,
        memory_s=memory_s,
        overhead_s=overhead_s,
        details=details,
    )


def blocked_traffic_bytes(op: Gemm, block_m: int, block_n: int, cache_bytes: float) -> float:
    """DRAM bytes of a GEMM computed in output blocks of block_m x block_n.

    If A and B fit in the cache together, each is read once. Otherwise A is re-read once per
    column of blocks and B once per row of blocks (the classic blocked-GEMM traffic), and C
    is written once.
    """
    a_bytes, b_bytes, c_bytes = op.a_bytes, op.b_bytes, op.c_bytes
    min_bytes = a_bytes + b_bytes + c_bytes  # op.min_bytes
    if a_bytes + b_bytes <= cache_bytes:
        return min_bytes
    a_reads = ceil(op.n / block_n)
    b_reads = ceil(op.m / block_m)
    traffic = a_bytes * a_reads + b_bytes * b_reads + c_bytes
    return max(traffic, min_bytes)


# ---------------------------------------------------------------------------- GPU GEMM


def _gpu_tile_candidates(matrix: TensorCoreMatrix, m: int) -> tuple[tuple[int, int], ...]:
    """The preset's CTA tile, its half-width variant, and skinny tiles when M is small.

    Small square tiles are left out on purpose: they re-read operands from L2 so often
    that L2 bandwidth (not modelled) would bound them. Kernel libraries do ship skinny
    tiles (16-64 rows) for small-M GEMMs such as decode projections, where padding M up to
    the full tile would waste most of the tensor cores.
    """
    return _tile_candidates(matrix.block_tile_m, matrix.block_tile_n, min(m, matrix.block_tile_m))


@lru_cache(maxsize=1 << 10)
def _tile_candidates(bm: int, bn: int, m: int) -> tuple[tuple[int, int], ...]:
    """_gpu_tile_candidates for a bm x bn CTA tile (m >= bm: no skinny tiles)."""
    candidates = {(bm, bn), (bm, max(bn // 2, 16))}
    if m < bm:
        skinny = max(16, 1 << (m - 1).bit_length())
        candidates |= {(skinny, bn), (skinny, max(bn // 2, 16))}
    return tuple(sorted(candidates))


def _gpu_gemm_one(
    op: Gemm, chip: Chip, bm: int, bn: int, split_k: int
) -> tuple[float, float, float, dict]:
    """(compute_s, memory_s, DRAM bytes, details) of one tiling; see _GpuGemm.evaluate."""
    gemm = _GpuGemm(op, chip)
    compute_s, memory_s, traffic = gemm.evaluate(bm, bn, split_k)
    return compute_s, memory_s, traffic, gemm.details(bm, bn, split_k)


class _GpuChip:
    """The GPU constants the GEMM model reads for every candidate tiling, once per chip."""

    __slots__ = ("num_sms", "dram_rate", "wave_side", "half_l2_bytes", "rates")

    def __init__(self, chip: Chip) -> None:
        matrix = chip.matrix
        assert isinstance(matrix, TensorCoreMatrix)
        self.num_sms = matrix.num_parallel_units
        self.dram_rate = _dram_rate(chip)
        self.wave_side = max(1, isqrt(self.num_sms))
        self.half_l2_bytes = 0.5 * _last_level_bytes(chip)
        self.rates: dict[str, float] = {}  # per-SM matrix rate by dtype

    def per_sm_rate(self, chip: Chip, dtype: str) -> float:
        rate = self.rates.get(dtype)
        if rate is None:
            rate = self.rates[dtype] = _matrix_rate(chip, dtype) / self.num_sms
        return rate


class _GpuGemm:
    """One GEMM on one GPU, with the per-call constants computed once (the search over
    tilings evaluates many candidates, and sweeps call this millions of times)."""

    def __init__(self, op: Gemm, chip: Chip) -> None:
        consts = chip.derived("tile_gpu", _GpuChip)
        self.op = op
        self.num_sms = consts.num_sms
        self.per_sm_rate = consts.per_sm_rate(chip, op.dtype)
        self.dram_rate = consts.dram_rate
        self.wave_side = consts.wave_side
        self.a_bytes, self.b_bytes, self.c_bytes = op.a_bytes, op.b_bytes, op.c_bytes
        self.min_bytes = self.a_bytes + self.b_bytes + self.c_bytes
        # If A and B fit in half the L2 together, each is read from DRAM once.
        self.fits_in_cache = self.a_bytes + self.b_bytes <= consts.half_l2_bytes

    def tiles(self, bm: int, bn: int) -> tuple[int, int]:
        return -(-self.op.m // bm), -(-self.op.n // bn)

    def evaluate(self, bm: int, bn: int, split_k: int) -> tuple[float, float, float]:
        """Waves of whole tiles over the SMs; blocked DRAM traffic with L2 reuse in a wave.
        (Ceilings as integer divisions: the search runs this for every candidate tiling.)"""
        op = self.op
        m, n = op.m, op.n
        tiles_m, tiles_n = -(-m // bm), -(-n // bn)
        num_tiles = op.batch * tiles_m * tiles_n * split_k
        waves = -(-num_tiles // self.num_sms)
        k_per_split = -(-op.k // split_k)
        k_steps = -(-k_per_split // GPU_K_STEP) + GPU_TILE_OVERHEAD_STEPS
        tile_flop = 2.0 * bm * bn * k_steps * GPU_K_STEP  # tensor cores compute whole tiles
        compute_s = waves * tile_flop / self.per_sm_rate
        if self.fits_in_cache:
            traffic = self.min_bytes
        else:
            # One wave covers about sqrt(SMs) x sqrt(SMs) tiles; L2 serves re-reads in it.
            side = self.wave_side
            block_m = bm * (side if side < tiles_m else tiles_m)
            block_n = bn * (side if side < tiles_n else tiles_n)
            traffic = (
                self.a_bytes * -(-n // block_n) + self.b_bytes * -(-m // block_m) + self.c_bytes
            )
        if split_k > 1:  # fp32 partial sums written and read back by the reduction
            traffic += 2 * split_k * op.batch * m * n * 4
        return compute_s, traffic / self.dram_rate, traffic

    def details(self, bm: int, bn: int, split_k: int) -> dict[str, float]:
        tiles_m, tiles_n = self.tiles(bm, bn)
        num_tiles = self.op.batch * tiles_m * tiles_n * split_k
        return {
            "tile_m": bm,
            "tile_n": bn,
            "split_k": split_k,
            "waves": ceil(num_tiles / self.num_sms),
            "num_tiles": num_tiles,
        }


def time_gpu_gemm(op: Gemm, chip: Chip) -> OpTime:
    """The fastest candidate tiling (and split-K) of the GEMM, as a kernel library picks."""
    gemm, (_, compute_s, memory_s, traffic, tiling) = _gpu_gemm_search(op, chip)
    return _result(op, chip, compute_s, memory_s, traffic, gemm.details(*tiling))


def _gpu_gemm_search(op: Gemm, chip: Chip) -> tuple[_GpuGemm, tuple]:
    """The GEMM and its best (max(compute, memory), compute_s, memory_s, traffic,
    (bm, bn, split_k)) over the candidate tilings."""
    gemm = _GpuGemm(op, chip)
    best: tuple[float, float, float, float, tuple[int, int, int]] | None = None
    m, n, k, batch, most_tiles = op.m, op.n, op.k, op.batch, 2 * gemm.num_sms
    for bm, bn in _gpu_tile_candidates(chip.matrix, m):  # type: ignore[arg-type]
        base_tiles = batch * -(-m // bm) * -(-n // bn)
        split_k = 1
        while split_k <= MAX_SPLIT_K:
            if split_k > 1 and (base_tiles * split_k > most_tiles or k // split_k < 256):
                break
            compute_s, memory_s, traffic = gemm.evaluate(bm, bn, split_k)
            total = compute_s if compute_s >= memory_s else memory_s
            if best is None or total < best[0]:
                best = (total, compute_s, memory_s, traffic, (bm, bn, split_k))
            split_k *= 2
    assert best is not None
    return gemm, best


# ---------------------------------------------------------------------------- systolic GEMM


def systolic_fold_cycles(
    m: int, n: int, k: int, rows: int, cols: int, dataflow: str
) -> tuple[int, int]:
    """(number of folds, cycles per fold) of one GEMM on one R x C array.

    The SCALE-Sim closed form (DESIGN.md section 7), stall-free:
      OS: ceil(M/R) * ceil(N/C) folds of K + R + C - 2 cycles
      WS: ceil(K/R) * ceil(N/C) folds of M + 2R + C - 2
      IS: ceil(K/R) * ceil(M/C) folds of N + 2R + C - 2
    """
    if dataflow == "os":
        return ceil(m / rows) * ceil(n / cols), k + rows + cols - 2
    if dataflow == "ws":
        return ceil(k / rows) * ceil(n / cols), m + 2 * rows + cols - 2
    if dataflow == "is":
        return ceil(k / rows) * ceil(m / cols), n + 2 * rows + cols - 2
    raise ValueError(f"unknown dataflow {dataflow!r}")


def systolic_compute_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> int:
    """Stall-free compute cycles of one GEMM on one array, as SCALE-Sim reports them."""
    folds, per_fold = systolic_fold_cycles(m, n, k, rows, cols, dataflow)
    return folds * per_fold - 1


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
        matrix.dataflow,
    )  # fmt: skip


# A pure function of integers, memoised: a sweep's designs share array geometries, and
# each times the same ~15 GEMM shapes.
@lru_cache(maxsize=1 << 16)
def _parallel_cycles(
    m: int, n: int, k: int, rows: int, cols: int, cores: int, per_core: int, dataflow: str
) -> tuple[int, str]:
    arrays = cores * per_core
    if dataflow == "ws":  # the best grid of the cores
        by_folds = min(
            _ws_grid_cycles(m, n, k, rows, cols, cores, per_core, core_cols)
            for core_cols in range(1, cores + 1)
            if cores % core_cols == 0
        )
    else:
        folds, per_fold = systolic_fold_cycles(m, n, k, rows, cols, dataflow)
        by_folds = ceil(folds / arrays) * per_fold - 1
    share = ceil(m / arrays) if dataflow != "is" else m
    if dataflow == "is":
        share_n = ceil(n / arrays)
        by_rows = systolic_compute_cycles(m, share_n, k, rows, cols, dataflow)
    else:
        by_rows = systolic_compute_cycles(share, n, k, rows, cols, dataflow)
    return (by_folds, "folds") if by_folds <= by_rows else (by_rows, "rows")


def _ws_grid_cycles(
    m: int, n: int, k: int, rows: int, cols: int, cores: int, per_core: int, core_cols: int
) -> int:
    """Weight-stationary cycles with the cores as a grid: cores / core_cols row shares of
    M by core_cols groups of the C-wide column tiles; a tile's K folds stay on one core
    (its partial sums add in place), dealt over the core's arrays."""
    _, per_fold = systolic_fold_cycles(ceil(m / (cores // core_cols)), n, k, rows, cols, "ws")
    folds = ceil(ceil(n / cols) / core_cols) * ceil(k / rows)
    return ceil(folds / per_core) * per_fold - 1


def _lane_rate(chip: Chip) -> float:
    """Vector-unit element operations per second (one per lane-cycle)."""
    return chip.vector_flop_per_s() / 2.0


def _lane_cycles(ops: tuple[str, ...]) -> int:
    return sum(VECTOR_LANE_CYCLES.get(op, 1) for op in ops)


def systolic_pipeline_s(chip: Chip, first_bytes: float, last_bytes: float) -> float:
    """Fill and drain of one kernel's DMA pipeline on a systolic chip whose cores share the
    DRAM bandwidth: the first operands stream at one core's share and land DMA_LATENCY_S
    later; the last output tile streams out and lands DMA_LATENCY_S later; then the cores
    meet at a barrier (BARRIER_CYCLES)."""
    matrix = chip.matrix
    assert isinstance(matrix, SystolicMatrix)
    per_core = _dram_rate(chip) / matrix.num_cores
    return 2 * DMA_LATENCY_S + (first_bytes + last_bytes) / per_core + BARRIER_CYCLES / matrix.clock


class _SystolicChip:
    """The chip constants the systolic models read for every op, computed once per chip
    (a sweep times ~30 ops on each of thousands of designs)."""

    __slots__ = (
        "matrix", "arrays", "dram_rate", "per_core_dram_rate", "lane_rate",
        "barrier_s", "kernel_overhead", "matrix_fraction", "sram_bytes", "block",
        "vector_flop", "geometry", "floats",
    )  # fmt: skip

    def __init__(self, chip: Chip) -> None:
        matrix = chip.matrix
        assert isinstance(matrix, SystolicMatrix)
        self.matrix = matrix
        arrays, lane_rate, barrier_s, vector_flop, geometry = _matrix_constants(chip)
        dram_rate, sram_bytes, kernel_overhead, matrix_fraction, sram_side = _memory_constants(chip)
        self.arrays = arrays
        self.dram_rate = dram_rate
        self.per_core_dram_rate = dram_rate / matrix.num_cores
        self.lane_rate = lane_rate
        self.barrier_s = barrier_s
        self.kernel_overhead = kernel_overhead
        self.matrix_fraction = matrix_fraction
        self.sram_bytes = sram_bytes
        # SRAM blocking: square output blocks whose fp32 accumulators take half the SRAM.
        self.block = max(matrix.rows, sram_side)
        # for tigris.engines.tile_batch, which reads them for a batch of chips at once
        self.vector_flop = vector_flop
        self.geometry = geometry
        self.floats = (
            matrix.clock, matrix_fraction, lane_rate, dram_rate, kernel_overhead,
            self.per_core_dram_rate, barrier_s, sram_bytes, vector_flop,
        )  # fmt: skip

    def pipeline_s(self, first_bytes: float, last_bytes: float) -> float:
        """`systolic_pipeline_s` with this chip's constants."""
        return (
            2 * DMA_LATENCY_S + (first_bytes + last_bytes) / self.per_core_dram_rate
        ) + self.barrier_s


def _systolic_chip(chip: Chip) -> _SystolicChip:
    """The chip's systolic constants, built once per chip (kept with the frozen spec)."""
    return chip.derived("tile_systolic", _SystolicChip)


def _matrix_constants(chip: Chip) -> tuple:
    """(arrays, lane rate, barrier seconds, vector flop/s, geometry) of the chip: its
    matrix's and vector unit's alone (the vector rate falls back on the matrix peak)."""
    matrix = chip.matrix
    assert isinstance(matrix, SystolicMatrix)
    return (
        matrix.num_cores * matrix.arrays_per_core,
        _lane_rate(chip),
        BARRIER_CYCLES / matrix.clock,
        chip.vector_flop_per_s(),
        (matrix.rows, matrix.cols, matrix.num_cores, matrix.arrays_per_core),
    )


def _memory_constants(chip: Chip) -> tuple:
    """(DRAM rate, SRAM bytes, kernel overhead, matrix fraction, the side of a square
    block whose fp32 accumulators take half the SRAM) of the chip: its memory's and
    calibration's alone."""
    sram_bytes = chip.onchip_capacity_bytes
    calibration = chip.calibration
    return (
        _dram_rate(chip),
        sram_bytes,
        calibration.kernel_overhead,
        calibration.matrix_fraction,
        isqrt(int(sram_bytes / 2 / 4)),
    )


def _systolic_gemm_parts(op: Gemm, chip: Chip, consts: _SystolicChip | None = None) -> tuple:
    """(time_s, compute_s, memory_s, traffic, overhead_s, cycles, split, matrix_s, vector_s,
    pipeline_s) of one GEMM on a systolic chip; plain arithmetic on the op's fields and
    the chip's constants (`consts`, _systolic_chip(chip)), as sweeps call it for every op
    of every design."""
    consts = consts or _systolic_chip(chip)
    matrix = consts.matrix
    m, n, k, batch, rows, cols = op.m, op.n, op.k, op.batch, matrix.rows, matrix.cols
    cycles, split = _parallel_cycles(
        m, n, k, rows, cols, matrix.num_cores, matrix.arrays_per_core, matrix.dataflow
    )
    macs_per_pe = matrix.macs_per_pe_per_cycle.get(op.dtype)  # type: ignore[call-overload]
    if macs_per_pe is None:
        chip.peak_flop_per_s(op.dtype)  # raises UnsupportedError with the reason
    # A PE doing r MACs per cycle in this dtype finishes the same folds r times faster.
    matrix_s = batch * cycles / (matrix.clock * macs_per_pe * consts.matrix_fraction)
    # Vector unit, overlapped with the arrays: partial sums of K folds dealt to different
    # arrays, and the epilogue of every output element.
    k_folds = -(-k // rows) if matrix.dataflow != "os" else 1
    adds = k_folds - 1 if split == "folds" and consts.arrays > 1 else 0
    vector_s = batch * m * n * (adds + SYSTOLIC_EPILOGUE_PASSES) / consts.lane_rate
    compute_s = max(matrix_s, vector_s)
    # SRAM blocking: square blocks, half the SRAM holding the operands
    traffic = blocked_traffic_bytes(op, consts.block, consts.block, 0.5 * consts.sram_bytes)
    memory_s = traffic / consts.dram_rate
    in_bytes, out_bytes = dtype_bytes(op.dtype), dtype_bytes(op.out_dtype or op.dtype)
    # Fill: one fold's operands (a row chunk of A and R x C of B); drain: one output tile.
    share = -(-m // matrix.num_cores)
    k_rows, n_cols = min(k, rows), min(n, cols)
    first = (share * k_rows + k_rows * n_cols) * in_bytes
    last = share * n_cols * out_bytes
    pipeline_s = consts.pipeline_s(first, last)
    overhead_s = consts.kernel_overhead + pipeline_s
    time_s = max(compute_s, memory_s) + overhead_s
    return (
        time_s, compute_s, memory_s, traffic, overhead_s, cycles, split, matrix_s, vector_s,
        pipeline_s,
    )  # fmt: skip


def time_systolic_gemm(op: Gemm, chip: Chip) -> OpTime:
    time_s, compute_s, memory_s, traffic, overhead_s, cycles, split, matrix_s, vector_s, pipe_s = (
        _systolic_gemm_parts(op, chip)
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
            "block": float(_systolic_chip(chip).block),
            "split_rows": float(split == "rows"),
            "matrix_s": matrix_s,
            "vector_s": vector_s,
            "pipeline_s": pipe_s,
        },
    )


# ---------------------------------------------------------------------------- CPU GEMM


def time_cpu_gemm(op: Gemm, chip: Chip) -> OpTime:
    matrix = chip.matrix
    assert isinstance(matrix, SimdMatrix)
    compute_s = op.flop / _matrix_rate(chip, op.dtype)
    cache = _last_level_bytes(chip)
    element = dtype_bytes(op.dtype)
    block = max(16, isqrt(int(cache / 3 / element)))
    traffic = blocked_traffic_bytes(op, block, block, 0.5 * cache)
    memory_s = traffic / _dram_rate(chip)
    return _result(op, chip, compute_s, memory_s, traffic, {"block": float(block)})


def time_gemm(op: Gemm, chip: Chip) -> OpTime:
    if isinstance(chip.matrix, TensorCoreMatrix):
        return time_gpu_gemm(op, chip)
    if isinstance(chip.matrix, SystolicMatrix):
        return time_systolic_gemm(op, chip)
    return time_cpu_gemm(op, chip)


# ---------------------------------------------------------------------------- attention


@lru_cache(maxsize=1 << 12)  # a function of the op alone, asked for on every chip
def _flash_blocks(op: Attention) -> tuple[int, float]:
    """(query blocks per (batch, head), key-query pairs computed per (batch, head)).

    FlashAttention computes whole Bq x Bk tiles: under causal masking the tiles on the
    diagonal are computed in full (and masked), and a sliding window starts on a tile
    boundary. Queries shorter than a block (decode) are not padded: the kernels pack them
    (FlashDecoding splits the keys instead).
    """
    if op.q_len < ATTENTION_BLOCK_Q:
        return 1, op.num_pairs
    num_q_blocks = ceil(op.q_len / ATTENTION_BLOCK_Q)
    block, offset = ATTENTION_BLOCK_Q, op.kv_len - op.q_len
    if not op.causal:
        kv_blocks = ceil(op.kv_span / block) * num_q_blocks
        return num_q_blocks, float(kv_blocks * block * block)
    if op.window is None:
        kv_blocks = _causal_kv_blocks(num_q_blocks, op.kv_len, offset, block)
        return num_q_blocks, float(kv_blocks * block * block)
    kv_blocks = 0
    for i in range(num_q_blocks):
        first_query = offset + i * block
        last_key = min(op.kv_len, offset + (i + 1) * block)  # exclusive
        first_key = 0 if op.window is None else max(0, first_query - op.window + 1)
        kv_blocks += ceil(last_key / block) - first_key // block
    return num_q_blocks, float(kv_blocks * block * block)


def _causal_kv_blocks(num_q_blocks: int, kv_len: int, offset: int, block: int) -> int:
    """Key blocks computed under a causal mask without a window, in closed form:
    sum(ceil(min(kv_len, offset + (i + 1) * block) / block) for i in range(num_q_blocks)),
    i.e. min(K, i + 1 + ceil(offset / block)) with K = ceil(kv_len / block)."""
    total, behind = -(-kv_len // block), -(-offset // block)
    growing = max(0, min(num_q_blocks, total - behind))  # query blocks below the cap
    return growing * (1 + behind) + growing * (growing - 1) // 2 + (num_q_blocks - growing) * total


def time_flash_attention(op: Attention, chip: Chip) -> OpTime:
    """FlashAttention (1 or 2): query blocks per (batch, head) spread over the parallel units
    in waves; per block a loop over key/value blocks of two matmuls (QK^T, PV; backward five)
    and the online softmax between them.

    Mechanisms: whole tiles computed (the causal diagonal, `_flash_blocks`); each query
    block's loop loses ATTENTION_BLOCK_OVERHEAD iterations to its prologue and epilogue;
    the matmuls run at the chip's attention_fraction for the implementation; one
    exponential per computed score (the backward recomputes P) on the special-function
    units, and SOFTMAX_VECTOR_FLOP_PER_SCORE fp32 operations on the vector unit, serialised
    with the matmuls within a block (FlashAttention-2 does not overlap them; Shah et al.
    2024, FlashAttention-3, section 3.1).
    """
    compute_s, memory_s, details = _flash_attention_parts(op, chip)
    return _result(op, chip, compute_s, memory_s, op.min_bytes, details)


def _flash_attention_parts(op: Attention, chip: Chip) -> tuple[float, float, dict[str, float]]:
    """(compute_s, memory_s, details) of time_flash_attention."""
    units = chip.matrix.num_parallel_units
    num_q_blocks, pairs = _flash_blocks(op)
    heads = op.batch * op.num_heads
    blocks = heads * num_q_blocks
    if op.q_len == 1:
        # Decode: split the KV sequence (FlashDecoding) so every unit has work.
        blocks = max(blocks, units)
    if op.q_len >= ATTENTION_BLOCK_Q:
        pairs += num_q_blocks * ATTENTION_BLOCK_OVERHEAD * ATTENTION_BLOCK_Q * ATTENTION_BLOCK_Q
    waves = ceil(blocks / units)
    quantization = waves / (blocks / units)
    bwd = op.phase == "bwd"
    matmul_flop = 4.0 * op.head_dim * pairs * heads * (2.5 if bwd else 1.0)
    fraction = chip.calibration.attention_matrix_fraction(op.implementation)
    matrix_s = matmul_flop / (chip.peak_flop_per_s(op.dtype) * fraction)
    scores = pairs * heads
    special = chip.special_per_s()
    vector_flop = SOFTMAX_VECTOR_FLOP_PER_SCORE * scores
    if special is None:
        special_s = 0.0
        vector_flop += scores  # the exponential on the vector unit
    else:
        special_s = scores / special
    vector_s = vector_flop / chip.vector_flop_per_s()
    compute_s = (matrix_s + special_s + vector_s) * quantization
    memory_s = op.min_bytes / _dram_rate(chip)
    details = {
        "blocks": float(blocks),
        "waves": float(waves),
        "matrix_s": matrix_s,
        "special_s": special_s,
        "vector_s": vector_s,
    }
    return compute_s, memory_s, details


def unfused_attention_ops(op: Attention, chip: Chip) -> tuple[Gemm | Stream, ...]:
    """The kernels of unfused attention, forward or backward, for one (batch x heads) batch.

    Forward: S = Q K^T (a batched GEMM writing the S x S scores), [the causal mask added by
    its own kernel ('standard')], softmax (read S, write P; 'fused_softmax' does scale, mask
    and softmax in this one kernel), [dropout: read P, write P' and a one-byte mask],
    O = P V. Backward: dV = P^T dO, dP = dO V^T, [dropout backward], softmax backward (read
    P and dP, write dS), dQ = dS K, dK = dS^T Q. Every key is computed, causal or not. The
    mask tensor is read from DRAM only where it does not fit in half the last-level cache.
    """
    bh, q, kv, d = op.batch * op.num_heads, op.q_len, op.kv_span, op.head_dim
    e = float(bh * q * kv)
    a = dtype_bytes(op.dtype)
    mask = op.causal and op.implementation == "standard"
    mask_bytes = q * kv * a if q * kv * a > 0.5 * _last_level_bytes(chip) else 0.0

    def gemm(name: str, m: int, n: int, k: int) -> Gemm:
        return Gemm(f"{op.name}.{name}", m=m, n=n, k=k, batch=bh, dtype=op.dtype)

    if op.phase == "fwd":
        ops: list[Gemm | Stream] = [gemm("qk", q, kv, d)]
        if mask:
            ops.append(Stream(f"{op.name}.mask", int(e), 2 * e * a + bh * mask_bytes, e * a))
        ops.append(Stream(f"{op.name}.softmax", int(e), e * a, e * a, SOFTMAX_FLOP_PER_SCORE))
        if op.dropout:
            ops.append(Stream(f"{op.name}.dropout", int(e), e * a, e * (a + 1), 2.0))
        ops.append(gemm("pv", q, d, kv))
        return tuple(ops)
    ops = [gemm("dv", kv, d, q), gemm("dp", q, kv, d)]
    if op.dropout:
        ops.append(Stream(f"{op.name}.dropout.bwd", int(e), e * (a + 1), e * a, 1.0))
    ops.append(Stream(f"{op.name}.softmax.bwd", int(e), 2 * e * a, e * a, 3.0))
    ops += [gemm("dq", q, d, kv), gemm("dk", kv, d, q)]
    return tuple(ops)


def time_unfused_attention(op: Attention, chip: Chip) -> OpTime:
    """Unfused attention ('standard', 'fused_softmax'): the sum of its kernels' times, each
    timed by the GEMM and stream models (no attention-specific term)."""
    parts = [
        time_gemm(k, chip) if isinstance(k, Gemm) else time_stream(k, chip)
        for k in unfused_attention_ops(op, chip)
    ]
    return OpTime(
        name=op.name,
        engine="tile",
        time_s=sum(p.time_s for p in parts),
        flop=op.flop,
        dram_bytes=sum(p.dram_bytes for p in parts),
        compute_s=sum(p.compute_s for p in parts),
        memory_s=sum(p.memory_s for p in parts),
        overhead_s=sum(p.overhead_s for p in parts),
        details={"kernels": float(len(parts))},
    )


def _excess_sum(start: int, stop: int, step: int, offset: int) -> int:
    """sum(max(0, j - offset) for j in range(start, stop, step)), in closed form."""
    count = len(range(start, stop, step))
    first = 0 if start > offset else (offset - start) // step + 1  # first j above offset
    terms = count - first
    if terms <= 0:
        return 0
    # j - offset over k = first .. count - 1: (start - offset) + k * step
    return terms * (start - offset) + step * (first + count - 1) * terms // 2


def _causal_scores(q_len: int, kv_len: int, block: int) -> int:
    """sum(min(block, q_len - i) * min(kv_len, kv_len - q_len + i + block) for i in
    range(0, q_len, block)): scores of whole key tiles up to each query block's diagonal."""
    offset = kv_len - q_len
    full = q_len // block  # whole query blocks: keys up to offset + (i + 1) * block
    scores = block * (full * (offset + block) + block * full * (full - 1) // 2)
    if q_len % block:  # the last, partial block reaches every key
        scores += (q_len % block) * kv_len
    return scores


@lru_cache(maxsize=1 << 12)
def _systolic_attention_counts(
    q_len: int, kv_len: int, causal: bool, d: int, R: int, C: int
) -> tuple[int, int, int, int]:
    """(QK^T fold cycles, PV fold cycles, scores computed, PV partial-sum adds) of one
    (batch, head) on R x C arrays; pure integers, memoised (a sweep's designs share array
    geometries). Sums over key tiles j of queries(j), the queries that meet keys from j on
    (causal: those at or below them, q_len - max(0, j - offset)), in closed form."""
    offset = kv_len - q_len

    def queries_sum(start: int, step: int) -> int:
        tiles = len(range(start, kv_len, step))
        masked = _excess_sum(start, kv_len, step, offset) if causal else 0
        return tiles * q_len - masked

    fold_fill = 2 * R + C - 2
    qk = ceil(d / R) * (queries_sum(0, C) + len(range(0, kv_len, C)) * fold_fill)
    pv = ceil(d / C) * (queries_sum(0, R) + len(range(0, kv_len, R)) * fold_fill)
    # Scores computed: whole C-wide key tiles up to each query block's diagonal.
    scores = _causal_scores(q_len, kv_len, C) if causal else q_len * kv_len
    return qk, pv, scores, queries_sum(R, R) * d


def time_systolic_attention(op: Attention, chip: Chip) -> OpTime:
    """Attention on a weight-stationary systolic chip, the scores of a head held in SRAM
    (no S x S matrix in DRAM). Per (batch, head): S = Q K^T as folds of K tiles (head_dim
    rows x C keys) streaming the queries, P V as folds of V tiles (R keys x head_dim
    columns) streaming the probabilities; causal: key tile j only for queries >= its first
    key (the masked rest is exact zeros). Folds spread over all arrays (their partial sums
    added on the vector unit), the softmax's SYSTOLIC_SOFTMAX_PASSES over every computed
    score on the vector units, DRAM traffic of Q, K, V and O; all overlapped across heads,
    plus the fill (one head's operands and its QK^T fold before the vector unit starts) and
    the drain (its PV fold, epilogue and store)."""
    compute_s, memory_s, pipeline_s, details = _systolic_attention_parts(op, chip)
    return _result(op, chip, compute_s, memory_s, op.min_bytes, details, pipeline_s)


def _systolic_attention_parts(
    op: Attention, chip: Chip
) -> tuple[float, float, float, dict[str, float]]:
    """(compute_s, memory_s, pipeline_s, details) of time_systolic_attention."""
    matrix = chip.matrix
    assert isinstance(matrix, SystolicMatrix)
    R, C, d = matrix.rows, matrix.cols, op.head_dim
    arrays = matrix.num_cores * matrix.arrays_per_core
    macs_per_pe = matrix.macs_per_pe_per_cycle.get(op.dtype, 1.0)  # type: ignore[call-overload]
    causal = op.causal and op.q_len > 1
    qk, pv, scores, pv_adds = _systolic_attention_counts(op.q_len, op.kv_len, causal, d, R, C)
    heads = op.batch * op.num_heads
    matrix_s = heads * (qk + pv) / arrays / (matrix.clock * macs_per_pe)
    passes = _lane_cycles(SYSTOLIC_SOFTMAX_PASSES) + (1 if causal else 0)
    vector_s = heads * (scores * passes + pv_adds + 2 * op.q_len * d) / _lane_rate(chip)
    compute_s = max(matrix_s, vector_s)
    memory_s = op.min_bytes / _dram_rate(chip)
    a = dtype_bytes(op.dtype)
    head_bytes = (op.q_len + 2 * op.kv_len) * d * a
    fold = (op.q_len + 2 * R + C - 2) / (matrix.clock * macs_per_pe)
    pipeline_s = systolic_pipeline_s(chip, head_bytes, op.q_len * d * a) + 2 * fold
    details = {"matrix_s": matrix_s, "vector_s": vector_s, "pipeline_s": pipeline_s}
    return compute_s, memory_s, pipeline_s, details


# The kernels that write the S x S scores through DRAM (time_unfused_attention); the others
# are FlashAttention's.
UNFUSED_ATTENTION = ("standard", "fused_softmax")


def time_attention(op: Attention, chip: Chip) -> OpTime:
    if isinstance(chip.matrix, SystolicMatrix) and op.phase == "fwd":
        return time_systolic_attention(op, chip)
    if op.implementation in UNFUSED_ATTENTION:
        return time_unfused_attention(op, chip)
    return time_flash_attention(op, chip)


def _attention_time_s(op: Attention, chip: Chip) -> float:
    """time_attention(op, chip).time_s, without the OpTime where it can (as _result)."""
    if isinstance(chip.matrix, SystolicMatrix) and op.phase == "fwd":
        compute_s, memory_s, pipeline_s, _ = _systolic_attention_parts(op, chip)
    elif op.implementation in UNFUSED_ATTENTION:
        return time_unfused_attention(op, chip).time_s
    else:
        compute_s, memory_s, _ = _flash_attention_parts(op, chip)
        pipeline_s = 0.0
    return max(compute_s, memory_s) + (chip.calibration.kernel_overhead + pipeline_s)


# ---------------------------------------------------------------------------- streams


# Rows per DMA transfer of a stream kernel on a systolic chip (the executor's row chunk).
SYSTOLIC_STREAM_CHUNK_BYTES = 128 * 1024


def _stream_parts(
    op: Stream, chip: Chip, consts: _SystolicChip | None = None
) -> tuple[float, float, float, float]:
    """(time_s, compute_s, memory_s, pipeline_s) of a stream (`consts`: the systolic
    chip's constants, when the caller has them)."""
    compute_s = op.flop / chip.vector_flop_per_s()
    memory_s = op.min_bytes / _dram_rate(chip)
    pipeline_s = 0.0
    if consts is not None or isinstance(chip.matrix, SystolicMatrix):
        consts = consts or _systolic_chip(chip)
        # Fill and drain: one chunk in and one chunk out (the ends of a double-buffered loop).
        chunk = min(SYSTOLIC_STREAM_CHUNK_BYTES, op.bytes_read / consts.matrix.num_cores)
        out = chunk * op.bytes_written / op.bytes_read if op.bytes_read else 0.0
        pipeline_s = consts.pipeline_s(chunk, out)
    time_s = max(compute_s, memory_s) + (chip.calibration.kernel_overhead + pipeline_s)
    return time_s, compute_s, memory_s, pipeline_s


def time_stream(op: Stream, chip: Chip) -> OpTime:
    _, compute_s, memory_s, pipeline_s = _stream_parts(op, chip)
    return _result(op, chip, compute_s, memory_s, op.min_bytes, {}, pipeline_s)
