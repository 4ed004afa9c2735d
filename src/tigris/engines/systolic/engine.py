"""The cycle-level systolic simulator behind the Engine interface (get_engine("systolic")).

A GEMM's time comes from `simulate`: the arrays split the work as the tile engine does
(tile.systolic.busiest_array_gemm: the streamed rows divided among the arrays, or the
folds dealt over a grid of the cores, whichever is faster; decode's few rows against wide
weights take the folds split), and the busiest array's share is simulated fold by fold
(the fold table, the PE schedule with the array's weight buffers, the SRAM traffic; with no
DRAM limit, the stall-free cycles equal SCALE-Sim's closed form exactly with one buffer,
tests/engines/systolic). Its DRAM bytes, times the arrays, stream at the chip's DRAM
bandwidth, overlapped with the arrays. No
calibration, no kernel overhead, no vector-unit epilogue: the array alone, as the
simulator sees it (a PE that does r MACs per cycle in the dtype runs r times faster).
Attention and streams, which the simulator does not model, are timed by the tile engine
(their OpTime says so).
"""

from __future__ import annotations

from tigris.engines.base import OpTime
from tigris.errors import SpecError
from tigris.hardware.chip import Chip, SystolicMatrix
from tigris.workload.ops import Gemm, Op


class SystolicEngine:
    name = "systolic"

    def time(self, op: Op, chip: Chip) -> OpTime:
        if not isinstance(op, Gemm):
            from tigris.engines.tile import TileEngine

            return TileEngine().time(op, chip)
        matrix = chip.matrix
        if not isinstance(matrix, SystolicMatrix):
            raise SpecError(
                f"engine 'systolic' needs a chip with systolic arrays; {chip.id} has "
                f"matrix.type {matrix.type!r}",
                key_path="engine",
                hint="use --engine tile, or a systolic chip such as tigris-1",
            )
        macs = matrix.macs_per_pe_per_cycle.get(op.dtype)  # type: ignore[call-overload]
        if macs is None:
            chip.peak_flop_per_s(op.dtype)  # raises UnsupportedError with the reason
        return _simulated_gemm(op, chip, matrix, macs)


def _simulated_gemm(op: Gemm, chip: Chip, matrix: SystolicMatrix, macs: float) -> OpTime:
    from tigris.engines.systolic.config import SystolicConfig
    from tigris.engines.systolic.simulator import simulate
    from tigris.engines.tile.systolic import busiest_array_gemm, systolic_chip

    arrays = matrix.num_cores * matrix.arrays_per_core
    buffer_bytes = max(2, int(chip.onchip_capacity_bytes / arrays / 3))  # A, B, C buffers
    config = SystolicConfig(
        matrix.rows, matrix.cols, matrix.dataflow, dtype=op.dtype,
        ifmap_sram_bytes=buffer_bytes, filter_sram_bytes=buffer_bytes,
        ofmap_sram_bytes=buffer_bytes, weight_buffers=matrix.weight_buffers,
    )  # fmt: skip
    (m, n, k), _ = busiest_array_gemm(op.m, op.n, op.k, systolic_chip(chip).geometry)
    sim = simulate(m, n, k, config)
    cycles = sim.total_cycles + 1  # total_cycles is the index of the last busy cycle
    compute_s = op.batch * cycles / (matrix.clock * macs)
    fmt = config.number_format
    dram_bytes = (
        op.batch
        * arrays
        * (
            (sim.dram_reads_ifmap + sim.dram_reads_filter) * fmt.input_bytes
            + (sim.dram_writes_ofmap + sim.dram_reads_ofmap) * fmt.output_bytes
        )
    )
    memory_s = dram_bytes / chip.dram_bandwidth_bytes_per_s
    return OpTime(
        name=op.name,
        engine="systolic",
        time_s=max(compute_s, memory_s),
        flop=op.flop,
        dram_bytes=dram_bytes,
        compute_s=compute_s,
        memory_s=memory_s,
        details={"cycles": float(cycles), "folds": float(sim.num_folds), "arrays": float(arrays)},
    )
