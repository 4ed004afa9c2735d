"""GEMM on GPUs (thread-block tiles in waves over the SMs, split-K, L2 reuse; the fastest
candidate tiling, as a kernel library picks) and on CPUs (SIMD peak, cache blocking).

A discrete search per chip: a batch of GPUs is timed one chip at a time (tile.batch).
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil, isqrt

from tigris.engines.base import OpTime
from tigris.engines.tile.common import (
    FP4_SCALE_BLOCK,
    GPU_K_STEP_BYTES,
    GPU_TILE_OVERHEAD_STEPS,
    MAX_SPLIT_K,
    blocked_traffic_bytes,
    dram_rate,
    last_level_bytes,
    matrix_rate,
    result,
)
from tigris.hardware.chip import Chip, SimdMatrix, TensorCoreMatrix
from tigris.hardware.quantities import dtype_bytes
from tigris.workload.ops import Gemm


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
        self.dram_rate = dram_rate(chip)
        self.wave_side = max(1, isqrt(self.num_sms))
        self.half_l2_bytes = 0.5 * last_level_bytes(chip)
        self.rates: dict[str, float] = {}  # per-SM matrix rate by dtype

    def per_sm_rate(self, chip: Chip, dtype: str) -> float:
        rate = self.rates.get(dtype)
        if rate is None:
            rate = matrix_rate(chip, dtype) * gemm_clock_ratio(chip.matrix, dtype)  # type: ignore[arg-type]
            rate = self.rates[dtype] = rate / self.num_sms
        return rate


def gemm_clock_ratio(matrix: TensorCoreMatrix, dtype: str) -> float:
    """The clock a dense GEMM holds over the clock the peaks assume: 1 where the vendor
    publishes no GEMM clock (the peak's clock, with the rest in matrix_fraction)."""
    clocks = matrix.gemm_clock
    clock = clocks.get(dtype, clocks.get("bf16"))  # type: ignore[call-overload]
    if clock is None or matrix.clock is None:
        return 1.0
    return clock / matrix.clock


def k_step(dtype: str) -> int:
    """K elements per main-loop step: GPU_K_STEP_BYTES of the dtype (64 in bf16)."""
    return max(1, int(GPU_K_STEP_BYTES / dtype_bytes(dtype)))


def scaled_operand_bytes(op: Gemm) -> tuple[float, float]:
    """A's and B's DRAM bytes with their block scales: fp4 carries one 1-byte scale per
    FP4_SCALE_BLOCK elements (NVFP4); other dtypes have per-tensor scales at most."""
    scaled = 1.0 + 1.0 / (FP4_SCALE_BLOCK * dtype_bytes("fp4"))
    a_scale = scaled if op.dtype == "fp4" else 1.0
    b_scale = scaled if (op.weight_dtype or op.dtype) == "fp4" else 1.0
    return op.a_bytes * a_scale, op.b_bytes * b_scale


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
        self.a_bytes, self.b_bytes = scaled_operand_bytes(op)
        self.c_bytes = op.c_bytes
        self.k_step = k_step(op.dtype)
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
        step = self.k_step
        k_steps = -(-k_per_split // step) + GPU_TILE_OVERHEAD_STEPS
        tile_flop = 2.0 * bm * bn * k_steps * step  # tensor cores compute whole tiles
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
    gemm, (_, compute_s, memory_s, traffic, tiling) = gpu_gemm_search(op, chip)
    return result(op, chip, compute_s, memory_s, traffic, gemm.details(*tiling))


def gpu_gemm_search(op: Gemm, chip: Chip) -> tuple[_GpuGemm, tuple]:
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


def time_cpu_gemm(op: Gemm, chip: Chip) -> OpTime:
    matrix = chip.matrix
    assert isinstance(matrix, SimdMatrix)
    compute_s = op.flop / matrix_rate(chip, op.dtype)
    cache = last_level_bytes(chip)
    element = dtype_bytes(op.dtype)
    block = max(16, isqrt(int(cache / 3 / element)))
    traffic = blocked_traffic_bytes(op, block, block, 0.5 * cache)
    memory_s = traffic / dram_rate(chip)
    return result(op, chip, compute_s, memory_s, traffic, {"block": float(block)})
