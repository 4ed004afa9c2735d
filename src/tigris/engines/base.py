"""The one interface every single-chip engine implements, and the result it returns.

An engine answers "how long does this op take on this chip" at its fidelity:
roofline (a bound), tile (tiling, waves, folds, calibrated efficiency), cycle (systolic
simulator). Results are frozen and carry flop and bytes so totals can be explained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tigris.hardware.chip import Chip
from tigris.workload.ops import Op


@dataclass(frozen=True)
class OpTime:
    """Time of one op on one chip, and why."""

    name: str
    engine: str
    time_s: float
    flop: float
    dram_bytes: float
    compute_s: float
    memory_s: float
    overhead_s: float = 0.0
    details: dict[str, float] = field(default_factory=dict)

    @property
    def bound(self) -> str:
        """What limits the op: compute, memory or overhead (launch, fill/drain)."""
        if self.overhead_s > max(self.compute_s, self.memory_s):
            return "overhead"
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def achieved_flop_per_s(self) -> float:
        return self.flop / self.time_s if self.time_s > 0 else 0.0

    @property
    def arithmetic_intensity(self) -> float:
        """flop per DRAM byte."""
        return self.flop / self.dram_bytes if self.dram_bytes > 0 else float("inf")

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "engine": self.engine,
            "time_s": self.time_s,
            "flop": self.flop,
            "dram_bytes": self.dram_bytes,
            "achieved_flop_per_s": self.achieved_flop_per_s,
            "arithmetic_intensity": self.arithmetic_intensity,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "overhead_s": self.overhead_s,
            "bound": self.bound,
            "details": dict(self.details),
        }


class Engine(Protocol):
    name: str

    def time(self, op: Op, chip: Chip) -> OpTime: ...


# The one engine table: name -> (module, class, what it models). Modules load on first use.
ENGINES: dict[str, tuple[str, str, str]] = {
    "roofline": ("tigris.engines.roofline", "RooflineEngine", "the roofline bound"),
    "tile": ("tigris.engines.tile", "TileEngine", "tiling, waves, folds, calibration"),
    "systolic": (
        "tigris.engines.systolic.engine",
        "SystolicEngine",
        "the cycle-level systolic simulator (GEMMs on systolic chips)",
    ),
}


def get_engine(name: str) -> Engine:
    """An engine by name from ENGINES (a new one each call); SpecError naming it if unknown."""
    entry = ENGINES.get(name)
    if entry is None:
        from tigris.errors import SpecError, shorten

        raise SpecError(
            f"unknown engine {shorten(repr(name))}",
            key_path="engine",
            hint="one of " + ", ".join(ENGINES),
        )
    from importlib import import_module

    module, cls, _ = entry
    return getattr(import_module(module), cls)()
