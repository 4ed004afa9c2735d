"""Attention in the tile engine.

- FlashAttention (no S x S matrix in DRAM): query blocks per (batch, head) in waves over
  the parallel units; softmax exponentials on the special-function units (or the vector
  unit), serialised with the matmuls within a block (FlashAttention-1/2, Triton) or hidden
  under them (FlashAttention-3's ping-pong scheduling, cuDNN 9): FLASH_KERNELS.
- Unfused attention ('standard', 'fused_softmax'): its kernels timed by the GEMM and stream
  models.
- Forward attention on systolic chips: per (batch, head) QK^T and PV as weight-stationary
  folds (head_dim fills only part of an array), causal key tiles only for the queries at
  or below them, the softmax as vector-unit passes over the scores in lane-cycles, all
  overlapped, plus the pipeline fill of one head's chain and the drain.

`flash_seconds` and `systolic_attention_seconds` are evaluated for one chip (floats) or a
batch of chips (numpy rows; tile.batch); the integer counts they start from depend on the
op and the array geometry alone.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil
from typing import Any

from tigris.engines.base import OpTime
from tigris.engines.systolic.dataflow import RULES, Dataflow
from tigris.engines.tile.common import (
    ATTENTION_BLOCK_OVERHEAD,
    ATTENTION_BLOCK_Q,
    SOFTMAX_FLOP_PER_SCORE,
    SOFTMAX_VECTOR_FLOP_PER_SCORE,
    SYSTOLIC_SOFTMAX_PASSES,
    UNFUSED_ATTENTION,
    VECTOR_LANE_CYCLES,
    ceil_of,
    dram_rate,
    lane_cycles,
    last_level_bytes,
    maximum,
    result,
    where,
)
from tigris.engines.tile.gpu import time_cpu_gemm, time_gpu_gemm
from tigris.engines.tile.stream import time_stream
from tigris.engines.tile.systolic import (
    Geometry,
    pipeline_seconds,
    systolic_chip,
    time_systolic_gemm,
)
from tigris.hardware.chip import Chip, SystolicMatrix, TensorCoreMatrix
from tigris.hardware.quantities import dtype_bytes
from tigris.workload.ops import Attention, Gemm, Stream


def time_gemm(op: Gemm, chip: Chip) -> OpTime:
    if isinstance(chip.matrix, TensorCoreMatrix):
        return time_gpu_gemm(op, chip)
    if isinstance(chip.matrix, SystolicMatrix):
        return time_systolic_gemm(op, chip)
    return time_cpu_gemm(op, chip)


# FlashAttention-style kernels whose softmax runs under the matmuls of another warp group
# instead of between them. FlashAttention-3 (Shah et al. 2024, arXiv:2407.08608, sec. 3.1):
# warp specialisation with ping-pong scheduling of two warp groups (one's softmax while the
# other's GEMMs run) and intra-warpgroup pipelining, because H100 SXM5 does 989 TFLOP/s of
# matmul but only 3.9 TFLOP/s of exponentials (sec. 3.1): serialised, the exponentials take
# half the matmul time at head dim 128. cuDNN 9's Hopper SDPA kernels are warp-specialised
# the same way (NVIDIA, "Accelerating Transformers with NVIDIA cuDNN 9", 2024). The other
# kernels (flash1, flash2, triton: the Triton tutorial's one warp group per query block)
# serialise the softmax with the matmuls. Each kernel's matrix fraction is the chip's
# attention_fraction for it (fitted, tigris.validate.attention_protocol).
# The share of the shorter of the two (softmax or matmuls) that the overlap hides: 1 would
# be a perfect overlap; the warp schedulers and register file are shared, and the softmax
# of the last key block of each query block has no matmul to hide under. FITTED, flash3, on
# the FA3 paper's pingpong figures (sec. 3.1: "from 570 TFLOPS to 620-640 TFLOPS for FP16
# forward with head dimension 128 and sequence length 8192"): the matrix fraction that
# gives 570 serialised, then the share that gives 630 (`tigris.validate.attention.
# fit_overlap`). The exposed per-score cost is then (1 - share) x (one exponential at the
# chip's special-function rate + the fp32 softmax arithmetic). cuDNN 9's Hopper kernels are
# the same warp-specialised design (no ablation published): flash3's share. The earlier
# shares (0.8 / 0.7) were chosen as the smallest keeping the fitted fraction under the
# GEMM matrix_fraction, which hid most of the exponentials and over-predicted head dim 64
# and FP8 by 20-45 %.
OVERLAPPED_SOFTMAX: dict[str, float] = {"flash3": 0.254, "cudnn": 0.254}


# A chip that publishes no special-function rate (vector.special) runs its exponentials on
# the vector unit at the stated default of VECTOR_LANE_CYCLES["exp"] lane-cycles each (the
# ISA executor's and the systolic softmax's figure), i.e. twice that in flop of the FMA peak.
# It was one flop: an exponential as cheap as an add.
EXP_FLOP_ON_VECTOR = 2 * VECTOR_LANE_CYCLES["exp"]


@lru_cache(maxsize=1 << 12)  # a function of the op alone, asked for on every chip
def _flash_blocks(op: Attention) -> tuple[int, float]:
    """(query blocks per (batch, head), key-query pairs computed per (batch, head)).

    FlashAttention computes whole Bq x Bk tiles: under causal masking the tiles on the
    diagonal are computed in full (and masked), and a sliding window starts on a tile
    boundary (each query block starts at its first query's first key, `Attention.first_key`:
    sliding or chunked). Queries shorter than a block (decode) are not padded: the kernels
    pack them (FlashDecoding splits the keys instead).
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
        first_key = op.first_key(first_query)  # the block's first query sees the fewest keys
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
    compute_s, memory_s, blocks, waves, matrix_s, special_s, vector_s = _flash_one(op, chip)
    details = {
        "blocks": float(blocks),
        "waves": float(waves),
        "matrix_s": matrix_s,
        "special_s": special_s,
        "vector_s": vector_s,
    }
    return result(op, chip, compute_s, memory_s, op.min_bytes, details)


def _flash_one(op: Attention, chip: Chip, hidden: float | None = None) -> tuple:
    """flash_seconds on one chip (`hidden`: the overlap share, default the kernel's)."""
    special = chip.special_per_s()
    return flash_seconds(
        op,
        units=chip.matrix.num_parallel_units,
        peak=chip.peak_flop_per_s(op.dtype),
        fraction=chip.calibration.attention_matrix_fraction(op.implementation),
        special=special or 1.0,
        on_vector=special is None,
        vector_flop=chip.vector_flop_per_s(),
        dram_rate=dram_rate(chip),
        hidden=OVERLAPPED_SOFTMAX.get(op.implementation, 0.0) if hidden is None else hidden,
    )


def flash_time_s(op: Attention, chip: Chip, hidden: float | None = None) -> float:
    """The FlashAttention time of `op` on `chip` with the overlap share `hidden`."""
    compute_s, memory_s = _flash_one(op, chip, hidden)[:2]
    return max(compute_s, memory_s) + chip.calibration.kernel_overhead


def flash_seconds(
    op: Attention,
    *,
    units,
    peak,
    fraction,
    special,
    on_vector,
    vector_flop,
    dram_rate,
    hidden: float = 0.0,
) -> tuple:
    """(compute_s, memory_s, blocks, waves, matrix_s, special_s, vector_s) of
    FlashAttention; the chip figures are floats (one chip) or rows (a batch). `on_vector`:
    the chip has no special-function units (its exponentials run on the vector unit).
    `hidden`: the share of the shorter of softmax and matmuls that runs under the other
    (OVERLAPPED_SOFTMAX; 0: serialised, a block takes their sum)."""
    num_q_blocks, pairs = _flash_blocks(op)
    heads = op.batch * op.num_heads
    blocks = heads * num_q_blocks
    if op.q_len == 1:
        # Decode: split the KV sequence (FlashDecoding) so every unit has work.
        blocks = maximum(blocks, units)
    if op.q_len >= ATTENTION_BLOCK_Q:
        pairs += num_q_blocks * ATTENTION_BLOCK_OVERHEAD * ATTENTION_BLOCK_Q * ATTENTION_BLOCK_Q
    waves = ceil_of(blocks / units)
    quantization = waves / (blocks / units)
    bwd = op.phase == "bwd"
    # QK^T over head_dim and PV over the value width (MLA prefill: 192 and 128)
    matmul_flop = 2.0 * op.pair_width * pairs * heads * (2.5 if bwd else 1.0)
    matrix_s = matmul_flop / (peak * fraction)
    scores = pairs * heads
    softmax_flop = SOFTMAX_VECTOR_FLOP_PER_SCORE * scores
    special_s = where(on_vector, 0.0, scores / special)
    softmax_flop = where(on_vector, softmax_flop + scores * EXP_FLOP_ON_VECTOR, softmax_flop)
    vector_s = softmax_flop / vector_flop
    overlap = hidden * _minimum(matrix_s, special_s + vector_s) if hidden else 0.0
    compute_s = (matrix_s + special_s + vector_s - overlap) * quantization
    memory_s = op.min_bytes / dram_rate
    return compute_s, memory_s, blocks, waves, matrix_s, special_s, vector_s


def _minimum(a: Any, b: Any) -> Any:
    """min(a, b) of floats, or numpy's elementwise minimum where either is an array."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        return min(a, b)
    import numpy as np  # only a batch of chips (tile.batch) passes arrays

    return np.minimum(a, b)


def unfused_attention_ops(op: Attention, chip: Chip) -> tuple[Gemm | Stream, ...]:
    """The kernels of unfused attention, forward or backward, for one (batch x heads) batch.

    Forward: S = Q K^T (a batched GEMM writing the S x S scores), [the causal mask added by
    its own kernel ('standard')], softmax (read S, write P; 'fused_softmax' does scale, mask
    and softmax in this one kernel), [dropout: read P, write P' and a one-byte mask],
    O = P V. Backward: dV = P^T dO, dP = dO V^T, [dropout backward], softmax backward (read
    P and dP, write dS), dQ = dS K, dK = dS^T Q. Every key is computed, causal or not. The
    mask tensor is read from DRAM only where it does not fit in half the last-level cache.
    """
    bh, q, kv, d, dv = op.batch * op.num_heads, op.q_len, op.kv_span, op.head_dim, op.value_dim
    e = float(bh * q * kv)
    a = dtype_bytes(op.dtype)
    mask = op.causal and op.implementation == "standard"
    mask_bytes = q * kv * a if q * kv * a > 0.5 * last_level_bytes(chip) else 0.0

    def gemm(name: str, m: int, n: int, k: int) -> Gemm:
        return Gemm(f"{op.name}.{name}", m=m, n=n, k=k, batch=bh, dtype=op.dtype)

    if op.phase == "fwd":
        ops: list[Gemm | Stream] = [gemm("qk", q, kv, d)]
        if mask:
            ops.append(Stream(f"{op.name}.mask", int(e), 2 * e * a + bh * mask_bytes, e * a))
        ops.append(Stream(f"{op.name}.softmax", int(e), e * a, e * a, SOFTMAX_FLOP_PER_SCORE))
        if op.dropout:
            ops.append(Stream(f"{op.name}.dropout", int(e), e * a, e * (a + 1), 2.0))
        ops.append(gemm("pv", q, dv, kv))
        return tuple(ops)
    ops = [gemm("dv", kv, dv, q), gemm("dp", q, kv, dv)]
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
    q_len: int,
    kv_len: int,
    causal: bool,
    d: int,
    R: int,
    C: int,
    weight_buffers: int = 1,
    dv: int | None = None,
) -> tuple[int, int, int, int]:
    """(QK^T fold cycles, PV fold cycles, scores computed, PV partial-sum adds) of one
    (batch, head) on R x C arrays; pure integers, memoised (a sweep's designs share array
    geometries). Sums over key tiles j of the fold table's period for queries(j) streamed
    (the queries that meet keys from j on; causal: those at or below them, q_len - max(0,
    j - offset)): with one weight buffer queries(j) + 2R + C - 2, in closed form; with two
    max(queries(j), R), the key tiles shifting in behind one another (the run's one fill
    and drain is the pipeline's, systolic_attention_seconds)."""
    offset = kv_len - q_len

    def queries_sum(start: int, step: int) -> int:
        tiles = len(range(start, kv_len, step))
        masked = _excess_sum(start, kv_len, step, offset) if causal else 0
        return tiles * q_len - masked

    def folds_sum(step: int) -> int:
        rule = RULES[Dataflow.WS]
        if weight_buffers == 1:  # linear in the queries: the closed form
            extra = rule.fold_period(0, R, C, weight_buffers)
            return queries_sum(0, step) + len(range(0, kv_len, step)) * extra
        import numpy as np  # here, not at the top: `tigris gemm` must not load numpy

        starts = np.arange(0, kv_len, step, dtype=np.int64)
        # an array even when nothing is masked: the sum runs over every key tile
        masked = np.maximum(0, starts - offset) if causal else np.zeros_like(starts)
        queries = q_len - masked
        return int(rule.fold_period(queries, R, C, weight_buffers).sum())

    qk = ceil(d / R) * folds_sum(C)
    dv = dv or d  # the value width (MLA: narrower than the QK width d)
    pv = ceil(dv / C) * folds_sum(R)
    # Scores computed: whole C-wide key tiles up to each query block's diagonal.
    scores = _causal_scores(q_len, kv_len, C) if causal else q_len * kv_len
    return qk, pv, scores, queries_sum(R, R) * dv


def systolic_attention_work(op: Attention, geometry: Geometry) -> tuple[float, int, int]:
    """(matrix work: heads x fold cycles per array, vector lane-cycles, the cycles of one
    fold) of forward attention on an array geometry: the op's and the geometry's alone."""
    rows, cols, cores, per_core, _, buffers = geometry
    causal = op.causal and op.q_len > 1
    qk, pv, scores, pv_adds = _systolic_attention_counts(
        op.q_len, op.kv_len, causal, op.head_dim, rows, cols, buffers, op.value_dim
    )
    heads = op.batch * op.num_heads
    passes = lane_cycles(SYSTOLIC_SOFTMAX_PASSES) + (1 if causal else 0)
    return (
        heads * (qk + pv) / (cores * per_core),
        heads * (scores * passes + pv_adds + 2 * op.q_len * op.value_dim),
        RULES[Dataflow.WS].fold_length(op.q_len, rows, cols),
    )


def systolic_attention_seconds(
    op: Attention, matrix_work: Any, vector_work: Any, fold_cycles: Any, macs: Any, c: Any
) -> tuple:
    """(compute_s, memory_s, pipeline_s, matrix_s, vector_s) of forward attention on one
    systolic chip (`c` a SystolicChip) or a batch's rows, from systolic_attention_work."""
    rate = c.clock * macs
    matrix_s = matrix_work / rate
    vector_s = vector_work / c.lane_rate
    memory_s = op.min_bytes / c.dram_rate
    a = dtype_bytes(op.dtype)
    # fill: one head's operands and its QK^T fold; drain: its PV fold, epilogue and store
    head_bytes = ((op.q_len + op.kv_len) * op.head_dim + op.kv_len * op.value_dim) * a
    last = op.q_len * op.value_dim * a
    pipeline_s = pipeline_seconds(head_bytes + last, c) + 2 * (fold_cycles / rate)
    return maximum(matrix_s, vector_s), memory_s, pipeline_s, matrix_s, vector_s


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
    compute_s, memory_s, pipeline_s, matrix_s, vector_s = _systolic_attention_one(op, chip)
    details = {"matrix_s": matrix_s, "vector_s": vector_s, "pipeline_s": pipeline_s}
    return result(op, chip, compute_s, memory_s, op.min_bytes, details, pipeline_s)


def _systolic_attention_one(op: Attention, chip: Chip) -> tuple:
    c = systolic_chip(chip)
    macs = c.matrix.macs_per_pe_per_cycle.get(op.dtype, 1.0)  # type: ignore[call-overload]
    return systolic_attention_seconds(op, *systolic_attention_work(op, c.geometry), macs, c)


def time_attention(op: Attention, chip: Chip) -> OpTime:
    if isinstance(chip.matrix, SystolicMatrix) and op.phase == "fwd":
        return time_systolic_attention(op, chip)
    if op.implementation in UNFUSED_ATTENTION:
        return time_unfused_attention(op, chip)
    return time_flash_attention(op, chip)


def attention_time_s(op: Attention, chip: Chip) -> float:
    """time_attention(op, chip).time_s, without the OpTime where it can (as `result`)."""
    if isinstance(chip.matrix, SystolicMatrix) and op.phase == "fwd":
        compute_s, memory_s, pipeline_s, _, _ = _systolic_attention_one(op, chip)
    elif op.implementation in UNFUSED_ATTENTION:
        return time_unfused_attention(op, chip).time_s
    else:
        compute_s, memory_s = _flash_one(op, chip)[:2]
        pipeline_s = 0.0
    return max(compute_s, memory_s) + (chip.calibration.kernel_overhead + pipeline_s)
