"""TileEngine: the tile engine behind the Engine interface (tigris.engines.base)."""

from __future__ import annotations

from collections.abc import Sequence

from tigris.engines.base import OpTime
from tigris.engines.tile.attention import attention_time_s, time_attention, time_gemm
from tigris.engines.tile.gpu import gpu_gemm_search
from tigris.engines.tile.stream import stream_parts, time_stream
from tigris.engines.tile.systolic import systolic_chip, systolic_gemm_parts
from tigris.hardware.chip import Chip, SystolicMatrix, TensorCoreMatrix
from tigris.workload.ops import Attention, Gemm, Op, Stream


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
        consts = systolic_chip(chip) if isinstance(chip.matrix, SystolicMatrix) else None
        out = []
        for op in ops:
            if isinstance(op, Stream):
                out.append(stream_parts(op, chip, consts)[0])
            elif isinstance(op, Gemm) and consts is not None:
                out.append(systolic_gemm_parts(op, chip, consts)[0])
            elif isinstance(op, Attention):
                out.append(attention_time_s(op, chip))
            elif isinstance(op, Gemm) and isinstance(chip.matrix, TensorCoreMatrix):
                # `result`'s time: the best tiling's bound plus the kernel overhead
                out.append(gpu_gemm_search(op, chip)[1][0] + chip.calibration.kernel_overhead)
            else:
                out.append(self.time(op, chip).time_s)
        return out
