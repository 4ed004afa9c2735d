"""What one chip does in a workload: engine results for its ops, and the traffic totals the
energy model needs (flop, DRAM bytes, link bytes).

Flop and DRAM bytes are the tile engine's, op by op, on the per-chip graph (the same ops
the step and serving models time; training reads them from the step model's tree).
Link bytes: what each chip sends, by `sent_fraction` (tigris.parallel.collectives).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tigris.engines.base import Engine, OpTime
from tigris.hardware.chip import Chip
from tigris.parallel.collectives import sent_fraction  # noqa: F401 (serve reads it here)
from tigris.workload.graph import OpGraph
from tigris.workload.ops import Op


@dataclass(frozen=True)
class Traffic:
    """Totals of one chip's work: flop, DRAM bytes, and the op results behind them."""

    flop: float = 0.0
    dram_bytes: float = 0.0

    def plus(self, other: Traffic, times: float = 1.0) -> Traffic:
        return Traffic(self.flop + times * other.flop, self.dram_bytes + times * other.dram_bytes)


class OpTimer:
    """Engine results per op on one chip, each op evaluated once."""

    def __init__(self, engine: Engine, chip: Chip) -> None:
        self.engine = engine
        self.chip = chip
        self._cache: dict[Op, OpTime] = {}

    def time(self, op: Op) -> OpTime:
        result = self._cache.get(op)
        if result is None:
            result = self.engine.time(op, self.chip)
            self._cache[op] = result
        return result

    def results(self) -> tuple[OpTime, ...]:
        """Every op timed so far (for the roofline)."""
        return tuple(self._cache.values())

    def traffic(self, ops: Iterable[Op], times: float = 1.0) -> Traffic:
        flop = dram = 0.0
        for op in ops:
            result = self.time(op)
            flop += result.flop
            dram += result.dram_bytes
        return Traffic(times * flop, times * dram)


def graph_traffic(
    graph: OpGraph, timer: OpTimer, weight: dict[str, float] | None = None
) -> Traffic:
    """Sum over groups of count x weight[group name] x the group's ops (weight 1 if absent)."""
    total = Traffic()
    for group in graph.groups:
        share = (weight or {}).get(group.name, 1.0)
        total = total.plus(timer.traffic(group.ops), group.count * share)
    return total
