"""What every op model of the tile engine shares: its constants, the chip rates it reads,
the OpTime it builds, and the three operations its formulas need beyond + - * /.

Each formula is written once and is evaluated either on one chip (Python floats) or on a
batch of chips (numpy rows, 1 x chips, against op columns, ops x 1; tigris.engines.tile.
batch). `maximum` and `where` pick the operation for the operands they are given; float64
arithmetic is the same IEEE arithmetic either way, so both give the same floats.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from tigris.engines.base import OpTime
from tigris.hardware.chip import Chip
from tigris.workload.ops import Gemm, Op

# K elements consumed per main-loop step of a GPU GEMM kernel (CUTLASS "bk") in bf16/fp16.
GPU_K_STEP = 64
# The step is a fixed width in bytes, not elements: 64 bf16 = 128 fp8 elements, the 128-byte
# rows of the TMA 128B swizzle (CUTLASS Hopper: K 64 for bf16 tiles, TileShape 64x128x128 for
# e4m3 in examples/54_hopper_fp8_warp_specialized_gemm); 256 fp4 elements by the same width
# (an extrapolation). A short-K GEMM in fp8 therefore has half the main-loop steps of bf16
# against the same prologue and epilogue.
GPU_K_STEP_BYTES = 128
# Block-scaled fp4 carries one 1-byte scale per block of K elements of A and of B: NVFP4
# (NVIDIA's Blackwell format, TensorRT-LLM's FP4) uses 16-element blocks with an E4M3 scale
# (developer.nvidia.com/blog/introducing-nvfp4-for-efficient-and-accurate-low-precision-
# inference); OCP MXFP4 uses 32 with E8M0. The tensor cores apply the scales inside the MMA
# (tcgen05.mma block_scale), so they cost DRAM bytes, not flop: +12.5 % on fp4 operands.
FP4_SCALE_BLOCK = 16
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
# Bytes per DMA transfer of a stream kernel on a systolic chip (the executor's row chunk).
SYSTOLIC_STREAM_CHUNK_BYTES = 128 * 1024
# The kernels that write the S x S scores through DRAM (time_unfused_attention); the others
# are FlashAttention's.
UNFUSED_ATTENTION = ("standard", "fused_softmax")


def maximum(a: Any, b: Any) -> Any:
    """max(a, b) of two floats, or numpy's elementwise maximum where either is an array."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return b if b > a else a  # as max(a, b)
    import numpy as np

    return np.maximum(a, b)


def where(condition: Any, yes: Any, no: Any) -> Any:
    """`yes if condition else no`, elementwise where the condition is an array."""
    if isinstance(condition, bool):
        return yes if condition else no
    import numpy as np

    return np.where(condition, yes, no)


def ceil_of(value: Any) -> Any:
    """math.ceil of a float, numpy's ceil of an array."""
    if isinstance(value, (int, float)):
        return ceil(value)
    import numpy as np

    return np.ceil(value)


def dram_rate(chip: Chip) -> float:
    return chip.dram_bandwidth_bytes_per_s * chip.calibration.dram_fraction


def matrix_rate(chip: Chip, dtype: str) -> float:
    return chip.peak_flop_per_s(dtype) * chip.calibration.matrix_fraction


def last_level_bytes(chip: Chip) -> float:
    """Capacity of the largest shared on-chip level (L2, CMEM), or all SRAM if none shared."""
    shared = [level.total_capacity_bytes for level in chip.memory.sram if level.instances == 1]
    if shared:
        return max(shared)
    return chip.onchip_capacity_bytes


def lane_rate(chip: Chip) -> float:
    """Vector-unit element operations per second (one per lane-cycle)."""
    return chip.vector_flop_per_s() / 2.0


def lane_cycles(ops: tuple[str, ...]) -> int:
    return sum(VECTOR_LANE_CYCLES.get(op, 1) for op in ops)


def result(
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
