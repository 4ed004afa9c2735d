"""Cycle-level systolic-array simulator: OS/WS/IS dataflows, SRAM/DRAM traffic, real arithmetic.

Public API:
    compute_cycles(M, N, K, rows, cols, dataflow) -> int   closed form (SCALE-Sim)
    simulate(M, N, K, SystolicConfig(...), compute=..., verify=...) -> SystolicResult
    line_trace(M, N, K, config) -> list[str]                per-cycle PE contents
    chrome_trace(result) -> dict                            fold timeline, Perfetto JSON

The names load on first use (PEP 562): the tile engine reads the fold table
(systolic.dataflow) without paying for the simulator's modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> the module that defines it
_HOMES = {
    "FORMATS": "numerics",
    "RULES": "dataflow",
    "Dataflow": "dataflow",
    "SystolicConfig": "config",
    "SystolicResult": "result",
    "chrome_trace": "trace",
    "compute_cycles": "closed_form",
    "line_trace": "trace",
    "mac_events": "trace",
    "number_format": "numerics",
    "random_operands": "simulator",
    "simulate": "simulator",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
