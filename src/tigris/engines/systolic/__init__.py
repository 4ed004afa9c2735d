"""Cycle-level systolic-array simulator: OS/WS/IS dataflows, SRAM/DRAM traffic, real arithmetic.

Public API:
    compute_cycles(M, N, K, rows, cols, dataflow, weight_buffers=1) -> int
                                                            closed form (SCALE-Sim at 1)
    simulate(M, N, K, SystolicConfig(...), compute=..., verify=...) -> SystolicResult
    line_trace(M, N, K, config) -> list[str]                per-cycle PE contents
    chrome_trace(result) -> dict                            fold timeline, Perfetto JSON

The names load on first use (PEP 562): the tile engine reads the fold table
(systolic.dataflow) without paying for the simulator's modules.
"""

from __future__ import annotations

from typing import Any

from tigris.lazy_names import load_name

# public name -> the module that defines it
_WHERE = {
    "FORMATS": "tigris.engines.systolic.numerics",
    "RULES": "tigris.engines.systolic.dataflow",
    "Dataflow": "tigris.engines.systolic.dataflow",
    "SystolicConfig": "tigris.engines.systolic.config",
    "SystolicResult": "tigris.engines.systolic.result",
    "chrome_trace": "tigris.engines.systolic.trace",
    "compute_cycles": "tigris.engines.systolic.closed_form",
    "line_trace": "tigris.engines.systolic.trace",
    "mac_events": "tigris.engines.systolic.trace",
    "stationary_loads": "tigris.engines.systolic.trace",
    "number_format": "tigris.engines.systolic.numerics",
    "random_operands": "tigris.engines.systolic.simulator",
    "simulate": "tigris.engines.systolic.simulator",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
