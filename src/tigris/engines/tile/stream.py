"""Streams (norms, activations, optimizer): DRAM bandwidth bound, on systolic chips plus
the DMA pipeline's fill and drain (one chunk in and one out: the ends of a double-buffered
loop). `stream_seconds` is evaluated for one chip (floats) or a batch (tile.batch)."""

from __future__ import annotations

from typing import Any

from tigris.engines.base import OpTime
from tigris.engines.tile.common import (
    SYSTOLIC_STREAM_CHUNK_BYTES,
    dram_rate,
    maximum,
    result,
)
from tigris.engines.tile.systolic import SystolicChip, pipeline_seconds, systolic_chip
from tigris.hardware.chip import Chip, SystolicMatrix
from tigris.workload.ops import Stream


class ChipRates:
    """The figures a stream reads of any chip (a SystolicChip has the same names)."""

    __slots__ = ("vector_flop", "dram_rate", "kernel_overhead")

    def __init__(self, chip: Chip) -> None:
        self.vector_flop = chip.vector_flop_per_s()
        self.dram_rate = dram_rate(chip)
        self.kernel_overhead = chip.calibration.kernel_overhead


def stream_pipeline_bytes(bytes_read: float, bytes_written: float, cores: int) -> float:
    """The first chunk read plus its share of the writes (a core's chunk)."""
    chunk = min(SYSTOLIC_STREAM_CHUNK_BYTES, bytes_read / cores)
    out = chunk * bytes_written / bytes_read if bytes_read else 0.0
    return chunk + out


def stream_seconds(flop: Any, moved_bytes: Any, pipeline_s: Any, c: Any) -> tuple:
    """(time_s, compute_s, memory_s) of streams on one chip or a batch's rows."""
    compute_s = flop / c.vector_flop
    memory_s = moved_bytes / c.dram_rate
    return maximum(compute_s, memory_s) + (c.kernel_overhead + pipeline_s), compute_s, memory_s


def stream_parts(op: Stream, chip: Chip, c: SystolicChip | None = None) -> tuple:
    """(time_s, compute_s, memory_s, pipeline_s) of a stream on one chip (`c`: the systolic
    chip's figures, when the caller has them)."""
    pipeline_s = 0.0
    if c is not None or isinstance(chip.matrix, SystolicMatrix):
        c = c or systolic_chip(chip)
        cores = c.matrix.num_cores
        pipeline_s = pipeline_seconds(
            stream_pipeline_bytes(op.bytes_read, op.bytes_written, cores), c
        )
        rates: Any = c
    else:
        rates = chip.derived("tile_rates", ChipRates)
    time_s, compute_s, memory_s = stream_seconds(op.flop, op.min_bytes, pipeline_s, rates)
    return time_s, compute_s, memory_s, pipeline_s


def time_stream(op: Stream, chip: Chip) -> OpTime:
    _, compute_s, memory_s, pipeline_s = stream_parts(op, chip)
    return result(op, chip, compute_s, memory_s, op.min_bytes, {}, pipeline_s)
