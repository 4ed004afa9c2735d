"""The tile engine's times for the same ops on many systolic chips at once (numpy).

A design sweep times the ~30 ops of one training step on every design. One by one
(`TileEngine.times_s`) that is ~30 Python evaluations per design; here the weight-stationary
GEMMs and the streams of a whole batch of chips are a few dozen array operations over an
ops x chips grid. The formulas are tile.py's (`_systolic_gemm_parts`, `_stream_parts`),
term for term and in the same order, so the floats are the same
(tests/engines/test_tile_batch.py compares them bit for bit). Everything else (attention,
other dataflows, a dtype a chip lacks, GPUs and CPUs) goes through `times_s`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tigris.engines.tile import (
    ATTENTION_BLOCK_OVERHEAD,
    ATTENTION_BLOCK_Q,
    SOFTMAX_VECTOR_FLOP_PER_SCORE,
    SYSTOLIC_EPILOGUE_PASSES,
    SYSTOLIC_SOFTMAX_PASSES,
    SYSTOLIC_STREAM_CHUNK_BYTES,
    TileEngine,
    _flash_blocks,
    _lane_cycles,
    _systolic_attention_counts,
    _systolic_chip,
    _SystolicChip,
)
from tigris.hardware.chip import Chip, SystolicMatrix
from tigris.hardware.quantities import dtype_bytes
from tigris.isa.machine import DMA_LATENCY_S
from tigris.workload.ops import Attention, Gemm, Op, Stream

# Fewest chips worth batching: below it, one by one is as fast.
MIN_BATCH_CHIPS = 4


def times_s_many(ops: Sequence[Op], chips: Sequence[Chip]) -> list[list[float]]:
    """[TileEngine().times_s(ops, chip) for chip in chips], the same floats."""
    return times_grid(ops, chips).T.tolist()


def times_grid(ops: Sequence[Op], chips: Sequence[Chip]) -> np.ndarray:
    """times_s_many as an ops x chips array (float64: the same floats)."""
    engine = TileEngine()
    grid = np.empty((len(ops), len(chips)))
    gemms = [j for j, op in enumerate(ops) if isinstance(op, Gemm)]
    dtypes = {ops[j].dtype for j in gemms}  # type: ignore[union-attr]
    batched = [
        i
        for i, chip in enumerate(chips)
        if isinstance(chip.matrix, SystolicMatrix)
        and chip.matrix.dataflow == "ws"
        and dtypes <= chip.matrix.macs_per_pe_per_cycle.keys()
    ]
    if len(batched) < MIN_BATCH_CHIPS:
        batched = []
    in_batch = set(batched)
    for i, chip in enumerate(chips):
        if i not in in_batch:
            grid[:, i] = engine.times_s(ops, chip)
    if not batched:
        return grid
    consts = [_systolic_chip(chips[i]) for i in batched]
    streams = [j for j, op in enumerate(ops) if isinstance(op, Stream)]
    attention = [j for j, op in enumerate(ops) if _batched_attention(ops[j])]
    vectorised = set(gemms) | set(streams) | set(attention)
    others = [ops[j] for j in range(len(ops)) if j not in vectorised]
    out = grid
    grid = np.empty((len(ops), len(batched)))
    if gemms:
        grid[gemms] = _gemm_times([ops[j] for j in gemms], consts)  # type: ignore[misc]
    if streams:
        vector = [chips[i].vector_flop_per_s() for i in batched]
        grid[streams] = _stream_times([ops[j] for j in streams], consts, vector)  # type: ignore[misc]
    group = [chips[i] for i in batched]
    for j in attention:
        grid[j] = _attention_times(ops[j], group, consts)  # type: ignore[arg-type]
    if others:
        rows = [j for j in range(len(ops)) if j not in vectorised]
        for k, i in enumerate(batched):
            grid[rows, k] = engine.times_s(others, chips[i])
    if len(batched) == len(chips):
        return grid
    out[:, batched] = grid
    return out


def _row(values: list) -> np.ndarray:
    """A per-chip figure as one row (1 x chips), to broadcast against ops (ops x 1)."""
    return np.array([values])


def _gemm_times(ops: Sequence[Gemm], consts: Sequence[_SystolicChip]) -> np.ndarray:
    """`_systolic_gemm_parts(op, chip)[0]` over ops x chips (weight stationary)."""
    matrices = [c.matrix for c in consts]
    rows, cols = _row([x.rows for x in matrices]), _row([x.cols for x in matrices])
    cores, per_core = (
        _row([x.num_cores for x in matrices]),
        _row([x.arrays_per_core for x in matrices]),
    )
    arrays = _row([c.arrays for c in consts])
    m, n, k, batch = (np.array([[getattr(op, f)] for op in ops]) for f in ("m", "n", "k", "batch"))
    in_bytes = np.array([[dtype_bytes(op.dtype)] for op in ops])
    weight_bytes = np.array([[dtype_bytes(op.weight_dtype or op.dtype)] for op in ops])
    out_bytes = np.array([[dtype_bytes(op.out_dtype or op.dtype)] for op in ops])
    macs = np.array([[x.macs_per_pe_per_cycle[op.dtype] for x in matrices] for op in ops])  # type: ignore[index]

    # _parallel_cycles, weight stationary: the best grid of row shares x column tiles over
    # the cores (core_cols dividing the core count), or the rows split over all arrays.
    col_tiles, k_folds, fill = -(-n // cols), -(-k // rows), 2 * rows + cols - 2
    by_folds = np.full(np.broadcast_shapes(m.shape, rows.shape), np.iinfo(np.int64).max)
    for core_cols in range(1, int(cores.max()) + 1):
        valid = cores % core_cols == 0
        shares = np.where(valid, cores // core_cols, 1)
        tiles = -(-(-(-col_tiles // core_cols) * k_folds) // per_core)
        cycles = tiles * (-(-m // shares) + fill) - 1
        by_folds = np.where(valid, np.minimum(by_folds, cycles), by_folds)
    by_rows = k_folds * col_tiles * (-(-m // arrays) + fill) - 1
    folds = by_folds <= by_rows
    cycles = np.where(folds, by_folds, by_rows)

    clock = _row([x.clock for x in matrices])
    fraction = _row([c.matrix_fraction for c in consts])
    matrix_s = batch * cycles / (clock * macs * fraction)
    adds = np.where(folds & (arrays > 1), k_folds - 1, 0)
    vector_s = (
        batch * m * n * (adds + SYSTOLIC_EPILOGUE_PASSES) / _row([c.lane_rate for c in consts])
    )
    compute_s = np.maximum(matrix_s, vector_s)

    # blocked_traffic_bytes over the SRAM blocks
    a_bytes, b_bytes = batch * m * k * in_bytes, batch * k * n * weight_bytes
    c_bytes = batch * m * n * out_bytes
    min_bytes = a_bytes + b_bytes + c_bytes
    block = _row([c.block for c in consts])
    blocked = np.maximum(a_bytes * -(-n // block) + b_bytes * -(-m // block) + c_bytes, min_bytes)
    fits = a_bytes + b_bytes <= 0.5 * _row([c.sram_bytes for c in consts])
    memory_s = np.where(fits, min_bytes, blocked) / _row([c.dram_rate for c in consts])

    # the DMA pipeline's fill (one fold's operands) and drain (one output tile)
    share = -(-m // cores)
    k_rows, n_cols = np.minimum(k, rows), np.minimum(n, cols)
    first = (share * k_rows + k_rows * n_cols) * in_bytes
    last = share * n_cols * out_bytes
    overhead_s = _row([c.kernel_overhead for c in consts]) + _pipeline_s(consts, first, last)
    return np.maximum(compute_s, memory_s) + overhead_s


def _stream_times(
    ops: Sequence[Stream], consts: Sequence[_SystolicChip], vector: list[float]
) -> np.ndarray:
    """`_stream_parts(op, chip)[0]` over ops x chips (systolic chips; `vector`: each chip's
    vector_flop_per_s)."""
    flop = np.array([[op.num_elements * op.flop_per_element] for op in ops])
    read = np.array([[float(op.bytes_read)] for op in ops])
    written = np.array([[float(op.bytes_written)] for op in ops])
    compute_s = flop / _row(vector)
    memory_s = (read + written) / _row([c.dram_rate for c in consts])
    cores = _row([c.matrix.num_cores for c in consts])
    chunk = np.minimum(float(SYSTOLIC_STREAM_CHUNK_BYTES), read / cores)
    reads = read != 0
    out = np.where(reads, chunk * written / np.where(reads, read, 1.0), 0.0)
    overhead_s = _row([c.kernel_overhead for c in consts]) + _pipeline_s(consts, chunk, out)
    return np.maximum(compute_s, memory_s) + overhead_s


def _pipeline_s(consts: Sequence[_SystolicChip], first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """`_SystolicChip.pipeline_s` over ops x chips."""
    per_core = _row([c.per_core_dram_rate for c in consts])
    return (2 * DMA_LATENCY_S + (first + last) / per_core) + _row([c.barrier_s for c in consts])


def _batched_attention(op: Op) -> bool:
    """Attention timed here: forward on the arrays, backward as FlashAttention (not the
    unfused kernels, which are several ops each)."""
    return isinstance(op, Attention) and (
        op.phase == "fwd" or op.implementation not in ("standard", "fused_softmax")
    )


def _attention_times(op: Attention, chips: Sequence[Chip], consts: Sequence[_SystolicChip]):
    """`_attention_time_s(op, chip)` over chips (one row): `_systolic_attention_parts` for
    the forward pass, `_flash_attention_parts` for the backward."""
    if op.phase == "fwd":
        compute_s, memory_s, pipeline_s = _systolic_attention(op, consts)
    else:
        compute_s, memory_s = _flash_attention(op, chips, consts)
        pipeline_s = 0.0
    return np.maximum(compute_s, memory_s) + (
        _row([c.kernel_overhead for c in consts]) + pipeline_s
    )


def _systolic_attention(op: Attention, consts: Sequence[_SystolicChip]) -> tuple:
    matrices = [c.matrix for c in consts]
    d, causal = op.head_dim, op.causal and op.q_len > 1
    counts = np.array(
        [
            _systolic_attention_counts(op.q_len, op.kv_len, causal, d, x.rows, x.cols)
            for x in matrices
        ]
    ).T
    qk, pv, scores, pv_adds = (row[np.newaxis] for row in counts)
    rate = _row([x.clock for x in matrices]) * _row(
        [x.macs_per_pe_per_cycle.get(op.dtype, 1.0) for x in matrices]  # type: ignore[call-overload]
    )
    heads = op.batch * op.num_heads
    matrix_s = heads * (qk + pv) / _row([c.arrays for c in consts]) / rate
    passes = _lane_cycles(SYSTOLIC_SOFTMAX_PASSES) + (1 if causal else 0)
    vector_s = (
        heads * (scores * passes + pv_adds + 2 * op.q_len * d) / _row([c.lane_rate for c in consts])
    )
    memory_s = op.min_bytes / _row([c.dram_rate for c in consts])
    a = dtype_bytes(op.dtype)
    head_bytes, last = (op.q_len + 2 * op.kv_len) * d * a, op.q_len * d * a
    fold = (
        op.q_len + 2 * _row([x.rows for x in matrices]) + _row([x.cols for x in matrices]) - 2
    ) / rate
    pipeline_s = _pipeline_s(consts, np.array([[head_bytes]]), np.array([[last]])) + 2 * fold
    return np.maximum(matrix_s, vector_s), memory_s, pipeline_s


def _flash_attention(op: Attention, chips: Sequence[Chip], consts: Sequence[_SystolicChip]):
    units = _row([chip.matrix.num_parallel_units for chip in chips])
    num_q_blocks, pairs = _flash_blocks(op)
    heads = op.batch * op.num_heads
    blocks = heads * num_q_blocks
    if op.q_len == 1:
        blocks = np.maximum(blocks, units)
    if op.q_len >= ATTENTION_BLOCK_Q:
        pairs += num_q_blocks * ATTENTION_BLOCK_OVERHEAD * ATTENTION_BLOCK_Q * ATTENTION_BLOCK_Q
    quantization = np.ceil(blocks / units) / (blocks / units)
    matmul_flop = 4.0 * op.head_dim * pairs * heads * (2.5 if op.phase == "bwd" else 1.0)
    fraction = _row(
        [chip.calibration.attention_matrix_fraction(op.implementation) for chip in chips]
    )
    matrix_s = matmul_flop / (_row([chip.peak_flop_per_s(op.dtype) for chip in chips]) * fraction)
    scores = pairs * heads
    special = [chip.special_per_s() for chip in chips]
    on_vector = _row([value is None for value in special])
    special_s = np.where(on_vector, 0.0, scores / _row([value or 1.0 for value in special]))
    vector_flop = SOFTMAX_VECTOR_FLOP_PER_SCORE * scores
    vector_flop = np.where(on_vector, vector_flop + scores, vector_flop)
    vector_s = vector_flop / _row([chip.vector_flop_per_s() for chip in chips])
    compute_s = (matrix_s + special_s + vector_s) * quantization
    return compute_s, op.min_bytes / _row([c.dram_rate for c in consts])
