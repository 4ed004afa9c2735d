"""What one simulation returns: cycles, utilization, traffic, bandwidths, and optionally C."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tigris.engines.systolic.config import SystolicConfig
from tigris.engines.systolic.timeline import FoldTimeline


@dataclass(frozen=True)
class Bandwidth:
    """Average and peak bandwidth of one stream, in bytes per cycle."""

    average_bytes_per_cycle: float
    peak_bytes_per_cycle: float


@dataclass(frozen=True)
class SystolicResult:
    """One GEMM on one systolic array. Word counts are in words of the stream's width."""

    m: int
    n: int
    k: int
    config: SystolicConfig
    num_folds: int
    fold_cycles: int
    compute_cycles: int
    """Stall-free cycles, SCALE-Sim convention: index of the last busy cycle."""
    stall_cycles: int
    total_cycles: int
    """compute_cycles + stall_cycles (SCALE-Sim's 'Total Cycles')."""
    final_writeback_cycles: int
    """Cycles after total_cycles until the last output reaches DRAM."""
    num_macs: int
    utilization: float
    mapping_efficiency: float
    compute_utilization: float
    sram_reads_ifmap: int
    sram_reads_filter: int
    sram_writes_ofmap: int
    dram_reads_ifmap: int
    dram_reads_filter: int
    dram_writes_ofmap: int
    dram_reads_ofmap: int
    """Spilled partial sums read back (0 unless an ofmap tile outgrows half the buffer)."""
    bandwidth: dict[str, Bandwidth]
    timeline: FoldTimeline = field(repr=False)
    output: np.ndarray | None = field(default=None, repr=False)
    verified: bool | None = None
    max_abs_error: float | None = None
    error_bound: float | None = None

    def to_json_dict(self) -> dict:
        """The keys the `tigris systolic --json` command prints."""
        fmt = self.config.number_format
        data = {
            "M": self.m,
            "N": self.n,
            "K": self.k,
            "rows": self.config.rows,
            "cols": self.config.cols,
            "dataflow": self.config.dataflow.value,
            "dtype": fmt.name,
            "num_folds": self.num_folds,
            "fold_cycles": self.fold_cycles,
            "compute_cycles": self.compute_cycles,
            "total_cycles": self.total_cycles,
            "stall_cycles": self.stall_cycles,
            "final_writeback_cycles": self.final_writeback_cycles,
            "num_macs": self.num_macs,
            "utilization": self.utilization,
            "mapping_efficiency": self.mapping_efficiency,
            "compute_utilization": self.compute_utilization,
            "sram_reads_ifmap": self.sram_reads_ifmap,
            "sram_reads_filter": self.sram_reads_filter,
            "sram_writes_ofmap": self.sram_writes_ofmap,
            "dram_reads_ifmap": self.dram_reads_ifmap,
            "dram_reads_filter": self.dram_reads_filter,
            "dram_writes_ofmap": self.dram_writes_ofmap,
            "dram_reads_ofmap": self.dram_reads_ofmap,
            "input_word_bytes": fmt.input_bytes,
            "output_word_bytes": fmt.output_bytes,
            "bandwidth_bytes_per_cycle": {
                name: {"average": bw.average_bytes_per_cycle, "peak": bw.peak_bytes_per_cycle}
                for name, bw in self.bandwidth.items()
            },
        }
        if self.verified is not None:
            data["verified"] = self.verified
            data["max_abs_error"] = self.max_abs_error
            data["error_bound"] = self.error_bound
        return data
