"""The programmer's view of a chip: what the compiler targets and the executor times.

Derived from a `Chip` with a systolic matrix unit. Assumptions beyond the preset:
- Each core owns one scratchpad (the first on-chip SRAM level with one instance per core,
  VMEM on tigris-1); shared levels (CMEM) are not used by programs.
- Each core has one DMA engine; the cores share HBM bandwidth equally.
- DMA latency (first byte) is DMA_LATENCY_S, a typical HBM load-to-use latency (~500 ns;
  Jia et al., "Dissecting the NVIDIA Volta GPU Architecture via Microbenchmarking", 2018,
  measure 400-600 ns for global memory), paid once per transfer and overlapped with others.
- The vector unit of a core has `vector_lanes` fp32 lanes: the chip's vector peak divided by
  2 flop per lane-cycle (FMA), the clock and the cores.
- A barrier across cores costs BARRIER_CYCLES after the last core arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.errors import SpecError, UnsupportedError
from tigris.hardware.chip import Chip, SystolicMatrix

DMA_LATENCY_S = 500e-9
BARRIER_CYCLES = 64

# numerics mode -> the matrix dtype whose MACs/PE/cycle applies
MODE_MATRIX_DTYPE = {"bf16": "bf16", "int8": "int8", "fp8": "fp8"}


@dataclass(frozen=True)
class Machine:
    chip_id: str
    num_cores: int
    arrays_per_core: int
    rows: int
    cols: int
    dataflow: str
    clock_hz: float
    macs_per_pe_per_cycle: dict[str, float]
    sram_bytes_per_core: int
    dram_bandwidth_bytes_per_s: float
    vector_lanes: int
    hbm_capacity_bytes: int = 0  # the chip's DRAM; 0 when unknown
    dma_latency_s: float = DMA_LATENCY_S
    barrier_cycles: int = BARRIER_CYCLES

    @property
    def dma_bytes_per_cycle(self) -> float:
        """One core's share of HBM bandwidth, bytes per clock cycle."""
        return self.dram_bandwidth_bytes_per_s / self.num_cores / self.clock_hz

    @property
    def dma_latency_cycles(self) -> int:
        return round(self.dma_latency_s * self.clock_hz)

    @property
    def num_arrays(self) -> int:
        return self.num_cores * self.arrays_per_core

    def macs_per_pe(self, mode: str) -> float:
        dtype = MODE_MATRIX_DTYPE[mode]
        if dtype not in self.macs_per_pe_per_cycle:
            raise UnsupportedError(f"{self.chip_id} has no {dtype} matrix path")
        return self.macs_per_pe_per_cycle[dtype]


def machine_of(chip: Chip) -> Machine:
    """The programmable view of `chip`; SpecError if it has no systolic arrays."""
    matrix = chip.matrix
    if not isinstance(matrix, SystolicMatrix):
        raise SpecError(
            f"{chip.id} has no systolic arrays to program",
            key_path="chip",
            hint="pick a chip with matrix.type: systolic, e.g. tigris-1",
        )
    if matrix.dataflow != "ws":
        raise UnsupportedError(f"{chip.id}: the compiler targets weight-stationary arrays only")
    per_core = [s for s in chip.memory.sram if s.instances == matrix.num_cores]
    level = per_core[0] if per_core else chip.memory.sram[0]
    sram_bytes = int(level.capacity if per_core else level.total_capacity_bytes / matrix.num_cores)
    lanes = round(chip.vector_flop_per_s() / (2 * matrix.clock * matrix.num_cores))
    return Machine(
        chip_id=chip.id,
        num_cores=matrix.num_cores,
        arrays_per_core=matrix.arrays_per_core,
        rows=matrix.rows,
        cols=matrix.cols,
        dataflow=matrix.dataflow,
        clock_hz=matrix.clock,
        macs_per_pe_per_cycle=dict(matrix.macs_per_pe_per_cycle),
        sram_bytes_per_core=sram_bytes,
        dram_bandwidth_bytes_per_s=chip.dram_bandwidth_bytes_per_s,
        vector_lanes=max(1, lanes),
        hbm_capacity_bytes=int(chip.dram_capacity_bytes or 0),
        dma_latency_s=matrix.dma_latency_s,
        barrier_cycles=matrix.barrier_cycles,
    )
