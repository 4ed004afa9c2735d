"""The roofline bound: max(flop / peak, minimum bytes / DRAM bandwidth). No efficiency terms.

Every other engine must be at least this slow (DESIGN.md section 5).
"""

from __future__ import annotations

from tigris.engines.base import OpTime
from tigris.hardware.chip import Chip
from tigris.workload.ops import Attention, Gemm, Op, Stream


def peak_for(op: Op, chip: Chip) -> float:
    """The compute roof an op runs against: matrix peak for GEMM/attention, vector for streams."""
    if isinstance(op, Stream):
        return chip.vector_flop_per_s()
    return chip.peak_flop_per_s(op.dtype)


class RooflineEngine:
    name = "roofline"

    def time(self, op: Op, chip: Chip) -> OpTime:
        if not isinstance(op, (Gemm, Attention, Stream)):
            raise TypeError(f"roofline cannot time {type(op).__name__}")
        compute_s = op.flop / peak_for(op, chip)
        memory_s = op.min_bytes / chip.dram_bandwidth_bytes_per_s
        return OpTime(
            name=op.name,
            engine=self.name,
            time_s=max(compute_s, memory_s),
            flop=op.flop,
            dram_bytes=op.min_bytes,
            compute_s=compute_s,
            memory_s=memory_s,
        )
