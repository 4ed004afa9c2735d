"""Cycle-level systolic-array simulator: OS/WS/IS dataflows, SRAM/DRAM traffic, real arithmetic.

Public API:
    compute_cycles(M, N, K, rows, cols, dataflow) -> int   closed form (SCALE-Sim)
    simulate(M, N, K, SystolicConfig(...), compute=..., verify=...) -> SystolicResult
    line_trace(M, N, K, config) -> list[str]                per-cycle PE contents
    chrome_trace(result) -> dict                            fold timeline, Perfetto JSON
"""

from tigris.engines.systolic.closed_form import compute_cycles
from tigris.engines.systolic.config import SystolicConfig
from tigris.engines.systolic.dataflow import RULES, Dataflow
from tigris.engines.systolic.numerics import FORMATS, number_format
from tigris.engines.systolic.result import SystolicResult
from tigris.engines.systolic.simulator import random_operands, simulate
from tigris.engines.systolic.trace import chrome_trace, line_trace, mac_events

__all__ = [
    "FORMATS",
    "RULES",
    "Dataflow",
    "SystolicConfig",
    "SystolicResult",
    "chrome_trace",
    "compute_cycles",
    "line_trace",
    "mac_events",
    "number_format",
    "random_operands",
    "simulate",
]
