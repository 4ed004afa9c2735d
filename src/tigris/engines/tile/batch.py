"""The tile engine's times for the same ops on many chips at once: the formulas of
tile.systolic, tile.stream and tile.attention evaluated on numpy rows (one value per chip,
1 x chips) against op columns (ops x 1) instead of Python floats. The formulas are the same
functions, so the floats are the same as chip by chip (tests/engines/test_tile_batch.py).

A design sweep times the ~30 ops of one training step on every design: chip by chip that
is ~30 Python evaluations per design, here a few dozen array operations per batch. The
integer counts (cycles, passes, pipeline bytes) depend on an op and an array geometry
alone: they are computed once per geometry by the one-chip functions and kept with the op
list. GPUs, CPUs, the unfused attention kernels and chips lacking a GEMM's dtype go chip
by chip (`TileEngine.times_s`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from tigris.engines.tile.attention import (
    OVERLAPPED_SOFTMAX,
    flash_seconds,
    systolic_attention_seconds,
    systolic_attention_work,
)
from tigris.engines.tile.common import UNFUSED_ATTENTION, maximum
from tigris.engines.tile.engine import TileEngine
from tigris.engines.tile.stream import stream_pipeline_bytes, stream_seconds
from tigris.engines.tile.systolic import (
    SystolicChip,
    gemm_counts,
    gemm_seconds,
    gemm_traffic,
    pipeline_seconds,
    systolic_chip,
)
from tigris.hardware.chip import Chip, SystolicMatrix
from tigris.workload.ops import Attention, Gemm, Op, Stream

# Fewest chips worth batching: below it, one by one is as fast (and gives the same floats).
MIN_BATCH_CHIPS = 4
# Columns kept per op list and kind (array geometries, SRAM sizes, core counts).
_MAX_KEPT = 4096


def times_s_many(ops: Sequence[Op], chips: Sequence[Chip]) -> list[list[float]]:
    """[TileEngine().times_s(ops, chip) for chip in chips], the same floats."""
    return times_grid(ops, chips).T.tolist()


def times_grid(
    ops: Sequence[Op], chips: Sequence[Chip], min_batch: int = MIN_BATCH_CHIPS
) -> np.ndarray:
    """times_s_many as an ops x chips array (float64: the same floats). Systolic chips are
    evaluated together when there are at least `min_batch` of them."""
    engine = TileEngine()
    table = _op_table(tuple(ops))
    grid = np.empty((len(ops), len(chips)))
    batched = [i for i, chip in enumerate(chips) if _batchable(chip, table.gemm_dtypes)]
    if len(batched) < min_batch:
        batched = []
    in_batch = set(batched)
    for i, chip in enumerate(chips):
        if i not in in_batch:
            grid[:, i] = engine.times_s(ops, chip)
    if batched:
        grid[:, batched] = _batch_grid(ops, table, [chips[i] for i in batched], engine)
    return grid


def _batchable(chip: Chip, gemm_dtypes: set[str]) -> bool:
    matrix = chip.matrix
    return isinstance(matrix, SystolicMatrix) and gemm_dtypes <= matrix.macs_per_pe_per_cycle.keys()


def _batch_grid(ops: Sequence[Op], table: _OpTable, chips: list[Chip], engine) -> np.ndarray:
    rows = _Rows(chips)
    grid = np.empty((len(ops), len(chips)))
    if table.gemms:
        grid[table.gemms] = _gemm_times(table, rows)
    if table.streams:
        grid[table.streams] = _stream_times(table, rows)
    for j in table.attention:
        grid[j] = _attention_times(table, j, rows)[0]
    if table.others:
        other_ops = [ops[j] for j in table.others]
        for k, chip in enumerate(chips):
            grid[table.others, k] = engine.times_s(other_ops, chip)
    return grid


class _Rows:
    """The figures of a batch of systolic chips, each a row (1 x chips) under the name a
    SystolicChip gives it, and the chips' distinct array geometries and SRAM blockings."""

    def __init__(self, chips: Sequence[Chip]) -> None:
        self.chips = chips
        self.consts: list[SystolicChip] = [systolic_chip(chip) for chip in chips]
        floats = np.array([c.floats for c in self.consts], dtype=np.float64).T
        for name, row in zip(SystolicChip.ROW_FIELDS, floats, strict=True):
            setattr(self, name, row[np.newaxis])
        self.geometries: dict[tuple, int] = {}
        self.geometry = [
            self.geometries.setdefault(c.geometry, len(self.geometries)) for c in self.consts
        ]
        memories: dict[tuple[int, float], int] = {}
        self.memory = [
            memories.setdefault((c.block, c.sram_bytes), len(memories)) for c in self.consts
        ]
        self.memories = list(memories)

    def spread(self, columns: list[np.ndarray], index: list[int]) -> np.ndarray:
        """Columns (one per distinct geometry or blocking) spread over the chips."""
        return np.stack(columns, axis=-1)[..., index]

    def macs(self, dtypes: Sequence[str], default: float | None = None) -> np.ndarray:
        """MACs per PE per cycle of each dtype (rows) on each chip (columns)."""
        return np.array(
            [[_macs(c.matrix, dtype, default) for c in self.consts] for dtype in dtypes]
        )


def _macs(matrix: SystolicMatrix, dtype: str, default: float | None) -> float:
    table = matrix.macs_per_pe_per_cycle
    return table[dtype] if default is None else table.get(dtype, default)  # type: ignore[call-overload,index]


class _OpTable:
    """What times_grid reads of an op list whatever the chips: which ops it vectorises, and
    their columns by geometry, SRAM blocking and core count (kept: a sweep times the same
    ops on batch after batch of designs)."""

    def __init__(self, ops: tuple[Op, ...]) -> None:
        self.gemms = [j for j, op in enumerate(ops) if isinstance(op, Gemm)]
        self.gemm_ops: list[Gemm] = [ops[j] for j in self.gemms]  # type: ignore[misc]
        self.gemm_dtypes = {op.dtype for op in self.gemm_ops}
        self.dtype_index = sorted(self.gemm_dtypes)
        self.gemm_dtype_rows = [self.dtype_index.index(op.dtype) for op in self.gemm_ops]
        self.streams = [j for j, op in enumerate(ops) if isinstance(op, Stream)]
        stream_ops: list[Stream] = [ops[j] for j in self.streams]  # type: ignore[misc]
        self.stream_ops = stream_ops
        self.stream_flop = np.array([[op.flop] for op in stream_ops], dtype=np.float64)
        self.stream_moved = np.array([[op.min_bytes] for op in stream_ops], dtype=np.float64)
        self.attention = [j for j, op in enumerate(ops) if _batched_attention(op)]
        vectorised = set(self.gemms) | set(self.streams) | set(self.attention)
        self.others = [j for j in range(len(ops)) if j not in vectorised]
        self.ops = ops
        self.kept: dict[str, dict] = {"geometry": {}, "memory": {}, "cores": {}, "attention": {}}

    def gemm_counts(self, geometry: tuple) -> np.ndarray:
        """(batch x cycles, passes, pipeline bytes) of every GEMM (3 x gemms)."""
        return _memo(
            self.kept["geometry"],
            geometry,
            lambda: (
                np.array(
                    [gemm_counts(op, geometry)[:3] for op in self.gemm_ops], dtype=np.float64
                ).T
            ),
        )

    def gemm_traffic(self, memory: tuple[int, float]) -> np.ndarray:
        """DRAM bytes of every GEMM under an SRAM blocking (block, SRAM bytes)."""
        return _memo(
            self.kept["memory"],
            memory,
            lambda: np.array([gemm_traffic(op, *memory) for op in self.gemm_ops], np.float64),
        )

    def attention_work(self, j: int, geometry: tuple) -> np.ndarray:
        """systolic_attention_work of forward attention op `j` on a geometry (a column)."""
        op: Attention = self.ops[j]  # type: ignore[assignment]
        return _memo(
            self.kept["attention"],
            (j, geometry),
            lambda: np.array([systolic_attention_work(op, geometry)], dtype=np.float64).T,
        )

    def stream_bytes(self, cores: int) -> np.ndarray:
        """The DMA pipeline's first plus last bytes of every stream on `cores` cores."""
        return _memo(
            self.kept["cores"],
            cores,
            lambda: np.array(
                [
                    stream_pipeline_bytes(o.bytes_read, o.bytes_written, cores)
                    for o in self.stream_ops
                ],
                dtype=np.float64,
            ),
        )


@lru_cache(maxsize=64)
def _op_table(ops: tuple[Op, ...]) -> _OpTable:
    return _OpTable(ops)


def _memo(kept: dict, key: object, build: Callable[[], np.ndarray]) -> np.ndarray:
    found = kept.get(key)
    if found is None:
        if len(kept) >= _MAX_KEPT:
            kept.clear()
        found = kept[key] = build()
    return found


def _gemm_times(table: _OpTable, rows: _Rows) -> np.ndarray:
    """gemm_seconds over GEMMs x chips."""
    counts = [table.gemm_counts(g) for g in rows.geometries]
    work, passes, pipeline_bytes = rows.spread(counts, rows.geometry)
    traffic = rows.spread([table.gemm_traffic(m) for m in rows.memories], rows.memory)
    macs = rows.macs(table.dtype_index)[table.gemm_dtype_rows]
    return gemm_seconds(work, passes, pipeline_bytes, traffic, macs, rows)[0]


def _stream_times(table: _OpTable, rows: _Rows) -> np.ndarray:
    """stream_seconds over streams x chips (systolic chips: with the DMA pipeline)."""
    by_geometry = [table.stream_bytes(g[2]) for g in rows.geometries]
    pipeline_s = pipeline_seconds(rows.spread(by_geometry, rows.geometry), rows)
    return stream_seconds(table.stream_flop, table.stream_moved, pipeline_s, rows)[0]


def _batched_attention(op: Op) -> bool:
    """Attention timed here: forward on the arrays, backward as FlashAttention (not the
    unfused kernels, which are several ops each)."""
    return isinstance(op, Attention) and (
        op.phase == "fwd" or op.implementation not in UNFUSED_ATTENTION
    )


def _attention_times(table: _OpTable, j: int, rows: _Rows) -> np.ndarray:
    """attention_time_s of op `j` over the chips (1 x chips)."""
    op: Attention = table.ops[j]  # type: ignore[assignment]
    if op.phase == "fwd":
        work = [table.attention_work(j, g) for g in rows.geometries]
        matrix_work, vector_work, fold_cycles = rows.spread(work, rows.geometry)
        macs = rows.macs([op.dtype], default=1.0)
        parts = systolic_attention_seconds(op, matrix_work, vector_work, fold_cycles, macs, rows)
        compute_s, memory_s, pipeline_s = parts[:3]
    else:
        compute_s, memory_s = _flash_rows(op, rows)[:2]
        pipeline_s = 0.0
    return maximum(compute_s, memory_s) + (rows.kernel_overhead + pipeline_s)


def _flash_rows(op: Attention, rows: _Rows) -> tuple:
    """flash_seconds with the chips' figures as rows."""
    chips = rows.chips
    special = _per_part([chip.vector for chip in chips], lambda v: v.special if v else None)
    fractions = _per_part(
        [chip.calibration for chip in chips],
        lambda calibration: calibration.attention_matrix_fraction(op.implementation),
    )
    return flash_seconds(
        op,
        units=_row([c.arrays for c in rows.consts]),
        peak=_row([chip.peak_flop_per_s(op.dtype) for chip in chips]),
        fraction=_row(fractions),
        special=_row([value or 1.0 for value in special]),
        on_vector=_row([value is None for value in special]),
        vector_flop=rows.vector_flop,
        dram_rate=rows.dram_rate,
        hidden=OVERLAPPED_SOFTMAX.get(op.implementation, 0.0),
    )


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
