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

from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np

from tigris.engines.tile import (
    ATTENTION_BLOCK_OVERHEAD,
    ATTENTION_BLOCK_Q,
    SOFTMAX_VECTOR_FLOP_PER_SCORE,
    SYSTOLIC_EPILOGUE_PASSES,
    SYSTOLIC_SOFTMAX_PASSES,
    SYSTOLIC_STREAM_CHUNK_BYTES,
    UNFUSED_ATTENTION,
    TileEngine,
    _flash_blocks,
    _lane_cycles,
    _systolic_attention_counts,
    _systolic_chip,
)
from tigris.hardware.chip import Chip, SystolicMatrix, VectorUnit
from tigris.hardware.quantities import dtype_bytes
from tigris.toolchain.isa.machine import DMA_LATENCY_S
from tigris.workload.ops import Attention, Gemm, Op, Stream

# Fewest chips worth batching: below it, one by one is as fast.
MIN_BATCH_CHIPS = 4


def times_s_many(ops: Sequence[Op], chips: Sequence[Chip]) -> list[list[float]]:
    """[TileEngine().times_s(ops, chip) for chip in chips], the same floats."""
    return times_grid(ops, chips).T.tolist()


def times_grid(ops: Sequence[Op], chips: Sequence[Chip]) -> np.ndarray:
    """times_s_many as an ops x chips array (float64: the same floats)."""
    engine = TileEngine()
    table = _op_table(ops)
    grid = np.empty((len(ops), len(chips)))
    dtypes = table.gemm_dtypes
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
    group = [chips[i] for i in batched]
    rows = _Rows(group)
    out = grid
    grid = np.empty((len(ops), len(batched)))
    if table.gemms:
        grid[table.gemms] = _gemm_times(table.gemm, rows)
    if table.streams:
        grid[table.streams] = _stream_times(table.stream, rows)
    for j in table.attention:
        grid[j] = _attention_times(ops[j], rows)  # type: ignore[arg-type]
    if table.others:
        for k, chip in enumerate(group):
            grid[table.others, k] = engine.times_s([ops[j] for j in table.others], chip)
    if len(batched) == len(chips):
        return grid
    out[:, batched] = grid
    return out


class _Rows:
    """The per-chip figures of a batch of systolic chips, each a row (1 x chips) to
    broadcast against ops (ops x 1), and the chips' distinct array geometries."""

    def __init__(self, chips: Sequence[Chip]) -> None:
        self.chips = chips
        self.consts = consts = [_systolic_chip(chip) for chip in chips]
        self.matrices = [c.matrix for c in consts]
        per_chip = len(consts[0].floats) if consts else 0
        floats = np.fromiter(
            chain.from_iterable([c.floats for c in consts]), np.float64, per_chip * len(consts)
        )
        floats = floats.reshape(len(consts), per_chip).T
        (
            self.clock,
            self.fraction,
            self.lane_rate,
            self.dram_rate,
            self.kernel_overhead,
            self.per_core_dram_rate,
            self.barrier_s,
            self.sram_bytes,
            self.vector_flop,
        ) = (floats[i : i + 1] for i in range(len(floats)))
        # distinct geometries (rows, cols, cores, arrays per core), and each chip's
        self.geometries: dict[tuple[int, int, int, int], int] = {}
        self.geometry = [
            self.geometries.setdefault(c.geometry, len(self.geometries)) for c in consts
        ]
        self._memory: list | None = None

    def per_geometry(self, columns: list[np.ndarray]) -> np.ndarray:
        """Columns (one per distinct geometry, stacked on the last axis) spread over the
        chips: [..., chip] is its geometry's."""
        return np.stack(columns, axis=-1)[..., self.geometry]

    def memory_key(self) -> list:
        """Each chip's (SRAM block, SRAM bytes), as indices into their distinct values."""
        if self._memory is None:
            distinct: dict[tuple[int, float], int] = {}
            index = [
                distinct.setdefault((c.block, c.sram_bytes), len(distinct)) for c in self.consts
            ]
            self._memory = [list(distinct), index]
        return self._memory


class _OpTable:
    """What times_grid reads of an op list whatever the chips: which ops it vectorises
    and their columns (kept for the next batch of chips: a sweep times the same ops)."""

    def __init__(self, ops: Sequence[Op]) -> None:
        self.gemms = [j for j, op in enumerate(ops) if isinstance(op, Gemm)]
        self.gemm_dtypes = {ops[j].dtype for j in self.gemms}  # type: ignore[union-attr]
        self.streams = [j for j, op in enumerate(ops) if isinstance(op, Stream)]
        self.attention = [j for j, op in enumerate(ops) if _batched_attention(op)]
        vectorised = set(self.gemms) | set(self.streams) | set(self.attention)
        self.others = [j for j in range(len(ops)) if j not in vectorised]
        self.gemm = _GemmColumns([ops[j] for j in self.gemms]) if self.gemms else None  # type: ignore[misc]
        self.stream = _StreamColumns([ops[j] for j in self.streams]) if self.streams else None  # type: ignore[misc]


_OP_TABLES: dict[tuple[Op, ...], _OpTable] = {}
_MAX_OP_TABLES = 64


_LAST_OPS: list = [None, None]  # the last op sequence asked for, and its table


def _op_table(ops: Sequence[Op]) -> _OpTable:
    """The table of `ops`: the last one's where it is the same sequence object (a sweep
    passes its step's ops with every batch; a tuple cannot change), else by value."""
    last, table = _LAST_OPS
    if ops is last and isinstance(ops, tuple):
        return table
    key = tuple(ops)
    found = _OP_TABLES.get(key)
    if found is None:
        if len(_OP_TABLES) >= _MAX_OP_TABLES:
            _OP_TABLES.clear()
        found = _OP_TABLES[key] = _OpTable(key)
    _LAST_OPS[:] = [ops, found]
    return found


_MAX_KEPT = 4096  # columns kept per op list and kind


def _memo(table: dict, key: object, build: Callable[[], np.ndarray]) -> np.ndarray:
    found = table.get(key)
    if found is None:
        if len(table) >= _MAX_KEPT:
            table.clear()
        found = table[key] = build()
    return found


class _GemmColumns:
    """The GEMMs' own figures (ops x 1), and those of an array geometry or SRAM (kept by
    geometry): `_systolic_gemm_parts`'s terms before the chip's rates divide them."""

    def __init__(self, ops: Sequence[Gemm]) -> None:
        self.ops = ops
        m, n, k, batch = (
            np.array([[getattr(op, f)] for op in ops]) for f in ("m", "n", "k", "batch")
        )
        self.m, self.n, self.k, self.batch = m, n, k, batch
        self.in_bytes = np.array([[dtype_bytes(op.dtype)] for op in ops])
        weight_bytes = np.array([[dtype_bytes(op.weight_dtype or op.dtype)] for op in ops])
        self.out_bytes = np.array([[dtype_bytes(op.out_dtype or op.dtype)] for op in ops])
        self.a_bytes, self.b_bytes = batch * m * k * self.in_bytes, batch * k * n * weight_bytes
        self.c_bytes = batch * m * n * self.out_bytes
        self.min_bytes = self.a_bytes + self.b_bytes + self.c_bytes
        self.dtypes = sorted({op.dtype for op in ops})
        self.dtype_index = np.array([self.dtypes.index(op.dtype) for op in ops])
        self.by_geometry: dict[tuple, np.ndarray] = {}
        self.by_memory: dict[tuple, np.ndarray] = {}

    def geometry(self, geometries: Sequence[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Per array geometry (rows, cols, cores, arrays per core): (batch x cycles, the
        vector unit's element passes, the DMA pipeline's first plus last bytes) per op
        (3 x ops), `_systolic_gemm_parts`'s integer counts; those not kept yet computed
        together (numpy, ops x geometries)."""
        kept = self.by_geometry
        new = [g for g in geometries if g not in kept]
        if new:
            if len(kept) + len(new) > _MAX_KEPT:
                kept.clear()
                new = list(geometries)
            columns = self._geometries(new)
            for index, g in enumerate(new):
                kept[g] = columns[:, :, index]
        return [kept[g] for g in geometries]

    def _geometries(self, geometries: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
        rows, cols, cores, per_core = (np.array([[g[i] for g in geometries]]) for i in range(4))
        arrays = cores * per_core
        m, n, k, batch = self.m, self.n, self.k, self.batch

        # _parallel_cycles, weight stationary: the best grid of row shares x column tiles
        # over the cores (core_cols dividing the core count), or the rows split over all
        # arrays.
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
        adds = np.where(folds & (arrays > 1), k_folds - 1, 0)
        passes = batch * m * n * (adds + SYSTOLIC_EPILOGUE_PASSES)

        # the DMA pipeline's fill (one fold's operands) and drain (one output tile)
        share = -(-m // cores)
        k_rows, n_cols = np.minimum(k, rows), np.minimum(n, cols)
        first = (share * k_rows + k_rows * n_cols) * self.in_bytes
        last = share * n_cols * self.out_bytes
        return np.array([batch * cycles, passes, first + last], dtype=np.float64)

    def traffic(self, block: int, sram_bytes: float) -> np.ndarray:
        """DRAM bytes per op (blocked_traffic_bytes over the SRAM blocks), ops x 1."""
        return _memo(self.by_memory, (block, sram_bytes), lambda: self._traffic(block, sram_bytes))

    def _traffic(self, block: int, sram_bytes: float) -> np.ndarray:
        a_bytes, b_bytes, c_bytes = self.a_bytes, self.b_bytes, self.c_bytes
        blocked = np.maximum(
            a_bytes * -(-self.n // block) + b_bytes * -(-self.m // block) + c_bytes,
            self.min_bytes,
        )
        fits = a_bytes + b_bytes <= 0.5 * np.array([[sram_bytes]])
        return np.where(fits, self.min_bytes, blocked)[:, 0]


def _gemm_times(t: _GemmColumns, rows: _Rows) -> np.ndarray:
    """`_systolic_gemm_parts(op, chip)[0]` over ops x chips (weight stationary)."""
    work, passes, pipeline_bytes = rows.per_geometry(t.geometry(list(rows.geometries)))
    macs = np.array(
        [[x.macs_per_pe_per_cycle[dtype] for x in rows.matrices] for dtype in t.dtypes]  # type: ignore[index]
    )[t.dtype_index]
    matrix_s = work / (rows.clock * macs * rows.fraction)
    vector_s = passes / rows.lane_rate
    compute_s = np.maximum(matrix_s, vector_s)
    distinct, index = rows.memory_key()
    traffic = np.stack([t.traffic(*key) for key in distinct], axis=-1)[:, index]
    memory_s = traffic / rows.dram_rate
    overhead_s = rows.kernel_overhead + _pipeline_s(rows, pipeline_bytes)
    return np.maximum(compute_s, memory_s) + overhead_s


class _StreamColumns:
    """The streams' own figures (ops x 1), and their DMA pipeline's bytes by core count."""

    def __init__(self, ops: Sequence[Stream]) -> None:
        self.flop = np.array([[op.num_elements * op.flop_per_element] for op in ops])
        self.read = np.array([[float(op.bytes_read)] for op in ops])
        self.written = np.array([[float(op.bytes_written)] for op in ops])
        self.moved = self.read + self.written
        self.by_cores: dict[int, np.ndarray] = {}

    def pipeline_bytes(self, cores: int) -> np.ndarray:
        """The first chunk read plus its share of the writes, per op (ops)."""
        return _memo(self.by_cores, cores, lambda: self._pipeline_bytes(cores))

    def _pipeline_bytes(self, cores: int) -> np.ndarray:
        read, written = self.read, self.written
        chunk = np.minimum(float(SYSTOLIC_STREAM_CHUNK_BYTES), read / np.array([[cores]]))
        reads = read != 0
        out = np.where(reads, chunk * written / np.where(reads, read, 1.0), 0.0)
        return (chunk + out)[:, 0]


def _stream_times(t: _StreamColumns, rows: _Rows) -> np.ndarray:
    """`_stream_parts(op, chip)[0]` over ops x chips (systolic chips)."""
    compute_s = t.flop / rows.vector_flop
    memory_s = t.moved / rows.dram_rate
    pipeline_bytes = rows.per_geometry([t.pipeline_bytes(g[2]) for g in rows.geometries])
    overhead_s = rows.kernel_overhead + _pipeline_s(rows, pipeline_bytes)
    return np.maximum(compute_s, memory_s) + overhead_s


def _pipeline_s(rows: _Rows, first_plus_last: np.ndarray) -> np.ndarray:
    """`_SystolicChip.pipeline_s` over ops x chips, of its first plus last bytes."""
    return (2 * DMA_LATENCY_S + first_plus_last / rows.per_core_dram_rate) + rows.barrier_s


def _batched_attention(op: Op) -> bool:
    """Attention timed here: forward on the arrays, backward as FlashAttention (not the
    unfused kernels, which are several ops each)."""
    return isinstance(op, Attention) and (
        op.phase == "fwd" or op.implementation not in UNFUSED_ATTENTION
    )


def _attention_times(op: Attention, rows: _Rows) -> np.ndarray:
    """`_attention_time_s(op, chip)` over chips (one row): `_systolic_attention_parts` for
    the forward pass, `_flash_attention_parts` for the backward."""
    if op.phase == "fwd":
        compute_s, memory_s, pipeline_s = _systolic_attention(op, rows)
    else:
        compute_s, memory_s = _flash_attention(op, rows)
        pipeline_s = 0.0
    return np.maximum(compute_s, memory_s) + (rows.kernel_overhead + pipeline_s)


def _systolic_attention(op: Attention, rows: _Rows) -> tuple:
    d, causal = op.head_dim, op.causal and op.q_len > 1
    geometries = list(rows.geometries)
    counts = np.array(
        [_systolic_attention_counts(op.q_len, op.kv_len, causal, d, g[0], g[1]) for g in geometries]
    ).T
    qk, pv, scores, pv_adds = (row[np.newaxis] for row in counts)
    array_rows = np.array([[g[0] for g in geometries]])
    array_cols = np.array([[g[1] for g in geometries]])
    arrays = np.array([[g[2] * g[3] for g in geometries]])
    heads = op.batch * op.num_heads
    passes = _lane_cycles(SYSTOLIC_SOFTMAX_PASSES) + (1 if causal else 0)
    # per geometry, then spread over the chips (in the same operations as chip by chip)
    spread = rows.geometry
    matrix_work = (heads * (qk + pv) / arrays)[:, spread]
    vector_work = (heads * (scores * passes + pv_adds + 2 * op.q_len * d))[:, spread]
    fold_cycles = (op.q_len + 2 * array_rows + array_cols - 2)[:, spread]
    rate = rows.clock * np.array(
        [[x.macs_per_pe_per_cycle.get(op.dtype, 1.0) for x in rows.matrices]]  # type: ignore[call-overload]
    )
    matrix_s = matrix_work / rate
    vector_s = vector_work / rows.lane_rate
    memory_s = op.min_bytes / rows.dram_rate
    a = dtype_bytes(op.dtype)
    head_bytes, last = (op.q_len + 2 * op.kv_len) * d * a, op.q_len * d * a
    fold = fold_cycles / rate
    first_plus_last = np.array([[head_bytes]]) + np.array([[last]])
    pipeline_s = _pipeline_s(rows, first_plus_last) + 2 * fold
    return np.maximum(matrix_s, vector_s), memory_s, pipeline_s


def _flash_attention(op: Attention, rows: _Rows) -> tuple:
    chips = rows.chips
    # matrix.num_parallel_units of a systolic chip: its arrays
    units = np.array([[g[2] * g[3] for g in rows.geometries]])[:, rows.geometry]
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
        _per_part(
            [chip.calibration for chip in chips],
            lambda calibration: calibration.attention_matrix_fraction(op.implementation),
        )
    )
    matrix_s = matmul_flop / (_row([chip.peak_flop_per_s(op.dtype) for chip in chips]) * fraction)
    scores = pairs * heads
    special = _per_part([chip.vector for chip in chips], _special_per_s)
    on_vector = _row([value is None for value in special])
    special_s = np.where(on_vector, 0.0, scores / _row([value or 1.0 for value in special]))
    vector_flop = SOFTMAX_VECTOR_FLOP_PER_SCORE * scores
    vector_flop = np.where(on_vector, vector_flop + scores, vector_flop)
    vector_s = vector_flop / rows.vector_flop
    compute_s = (matrix_s + special_s + vector_s) * quantization
    return compute_s, op.min_bytes / rows.dram_rate


def _special_per_s(vector: VectorUnit | None) -> float | None:
    """Chip.special_per_s of a chip with this vector unit."""
    return vector.special if vector is not None else None


def _per_part(parts: list, value: Callable[[Any], Any]) -> list:
    """[value(part) for part in parts], once per distinct part object (a batch's chips
    mostly share their calibration and vector unit)."""
    found: dict[int, Any] = {}
    out = []
    for part in parts:
        key = id(part)
        if key not in found:
            found[key] = value(part)
        out.append(found[key])
    return out


def _row(values: list) -> np.ndarray:
    """A per-chip figure as one row (1 x chips), to broadcast against ops (ops x 1)."""
    return np.array([values])
