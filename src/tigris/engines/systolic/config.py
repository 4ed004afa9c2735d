"""The configuration of one systolic array and its memories."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tigris.engines.systolic.dataflow import Dataflow, check_weight_buffers, parse_dataflow
from tigris.engines.systolic.numerics import NumberFormat, number_format
from tigris.errors import SpecError

DEFAULT_SRAM_BYTES = 512 * 1024
MIN_DRAM_BANDWIDTH = 1e-3  # bytes per cycle: one byte per 1000 cycles; less is a slip


@dataclass(frozen=True)
class SystolicConfig:
    """An R x C array, its dataflow and number format, three SRAMs and a DRAM interface.

    Each SRAM is double buffered: half of it (the active half) feeds the array while the
    other half is filled for the next fold (read buffers) or drained to DRAM (the ofmap
    buffer). `dram_bandwidth_bytes_per_cycle=None` means an unlimited interface, which is
    what SCALE-Sim's CALC bandwidth mode assumes when it reports cycles.
    """

    rows: int
    cols: int
    dataflow: Dataflow = Dataflow.OS
    dtype: str = "int8"
    ifmap_sram_bytes: int = DEFAULT_SRAM_BYTES
    filter_sram_bytes: int = DEFAULT_SRAM_BYTES
    ofmap_sram_bytes: int = DEFAULT_SRAM_BYTES
    dram_bandwidth_bytes_per_cycle: float | None = None
    weight_buffers: int = 1
    """Registers per PE for the stationary operand: 1 reloads after each fold drains
    (SCALE-Sim), 2 preloads the next fold's while the current one streams (dataflow.py)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataflow", parse_dataflow(self.dataflow))
        check_weight_buffers(self.weight_buffers)
        number_format(self.dtype)  # validates the name
        for name in ("rows", "cols"):
            _require_positive_int(name, getattr(self, name))
        for name in ("ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 2:
                raise SpecError(
                    f"{name} must be at least 2 bytes (two halves), got {value!r}", key_path=name
                )
        bandwidth = self.dram_bandwidth_bytes_per_cycle
        # finite and at least MIN_DRAM_BANDWIDTH: inf is "unlimited" spelled wrong (omit the
        # option), and 1e-300 B/cycle overflows the int64 cycle counts into nonsense
        if bandwidth is not None and not (
            isinstance(bandwidth, (int, float))
            and not isinstance(bandwidth, bool)
            and MIN_DRAM_BANDWIDTH <= bandwidth < math.inf
        ):
            raise SpecError(
                f"DRAM bandwidth must be a finite number of bytes per cycle of at least "
                f"{MIN_DRAM_BANDWIDTH:g}, got {bandwidth!r}",
                key_path="dram_bandwidth_bytes_per_cycle",
            )

    @property
    def number_format(self) -> NumberFormat:
        return number_format(self.dtype)

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols


def _require_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{name} must be a positive integer, got {value!r}", key_path=name)


def check_gemm_shape(m: int, n: int, k: int) -> None:
    """Raise SpecError unless M, N, K are positive integers."""
    for name, value in (("M", m), ("N", n), ("K", k)):
        _require_positive_int(name, value)
