"""The fitter of the collective model's constants (tigris.parallel.collectives).

The model's fitted constants are the achieved share of link bandwidth per tier
(`SCALE_UP_BUS_EFFICIENCY`, `SCALE_OUT_BUS_EFFICIENCY`), the start-up of one collective
(`COLLECTIVE_START_S`) and, here, a factor on each tier's hop latency (the presets' link
latencies; 1 = as published). `CollectiveConstants` holds one candidate set;
`predict_with` evaluates the model under it without touching the module's globals, by an
exact rewrite of its inputs:

- an efficiency e' in place of e is the link rate scaled by e' / e (the model multiplies
  every rate of the tier by its efficiency, and by nothing else that depends on it);
- a hop-latency factor scales the tier's `latency` field;
- the start-up is added outside everything else: t' = t - COLLECTIVE_START_S + start'.

`fit_collectives` runs coordinate descent over a grid of each constant, minimising the
mean |log(predicted / measured)| over the rows (symmetric: a 2x over- and under-prediction
weigh the same, and one wild row cannot buy a bad fit elsewhere), and records the row ids.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from math import log
from statistics import mean

import numpy as np

from tigris.hardware.presets import load_chip, load_cluster
from tigris.hardware.system import Cluster
from tigris.parallel import collectives
from tigris.parallel.collectives import CommGroup, collective_time_s, sent_fraction
from tigris.validate.collectives import CollectiveCase, cluster_with_node


@dataclass(frozen=True)
class CollectiveConstants:
    """One set of the collective model's fitted constants (defaults: as shipped)."""

    scale_up_bus_efficiency: float = collectives.SCALE_UP_BUS_EFFICIENCY
    scale_out_bus_efficiency: float = collectives.SCALE_OUT_BUS_EFFICIENCY
    collective_start_s: float = collectives.COLLECTIVE_START_S
    scale_up_hop_factor: float = 1.0
    scale_out_hop_factor: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SHIPPED = CollectiveConstants()
GRIDS = {
    "scale_up_bus_efficiency": np.round(np.arange(0.40, 1.001, 0.02), 3),
    "scale_out_bus_efficiency": np.round(np.arange(0.30, 1.001, 0.02), 3),
    "collective_start_s": np.round(np.arange(0.0, 40.01, 1.0) * 1e-6, 9),
    # factors 1/4 to 16 on a geometric grid (a hop's latency is known within that)
    "scale_up_hop_factor": np.round(2.0 ** np.arange(-2.0, 4.001, 0.25), 4),
    "scale_out_hop_factor": np.round(2.0 ** np.arange(-2.0, 4.001, 0.25), 4),
}


def rewrite_cluster(cluster: Cluster, constants: CollectiveConstants) -> Cluster:
    """The cluster whose link rates and hop latencies make the shipped model behave as
    under `constants` (module notes)."""
    up_rate = constants.scale_up_bus_efficiency / collectives.SCALE_UP_BUS_EFFICIENCY
    out_rate = constants.scale_out_bus_efficiency / collectives.SCALE_OUT_BUS_EFFICIENCY
    scale_up = cluster.node.scale_up
    update: dict[str, object] = {"latency": scale_up.latency * constants.scale_up_hop_factor}
    for name in ("bandwidth_unidir", "bandwidth_per_peer_unidir"):
        if getattr(scale_up, name) is not None:
            update[name] = getattr(scale_up, name) * up_rate
    node = cluster.node.model_copy(update={"scale_up": scale_up.model_copy(update=update)})
    scale_out = [
        tier.model_copy(
            update={
                "bandwidth_unidir_per_chip": tier.bandwidth_unidir_per_chip * out_rate,
                "latency": tier.latency * constants.scale_out_hop_factor,
            }
        )
        for tier in cluster.scale_out
    ]
    return cluster.model_copy(update={"node": node, "scale_out": scale_out})


@lru_cache(maxsize=4096)
def _group(system_id: str, ranks_per_node: int, ranks: int, constants: CollectiveConstants):
    cluster = cluster_with_node(load_cluster(system_id), ranks_per_node)
    cluster = rewrite_cluster(cluster, constants)
    return CommGroup(cluster, load_chip(cluster.chip), ranks)


def time_with(
    kind: str, message_bytes: float, group: CommGroup, constants: CollectiveConstants
) -> float:
    """collective_time_s over `group` (already rewritten) with the start-up of `constants`."""
    time_s = collective_time_s(kind, message_bytes, group)
    if time_s == 0.0:
        return 0.0
    return time_s - collectives.COLLECTIVE_START_S + constants.collective_start_s


def predict_with(case: CollectiveCase, constants: CollectiveConstants = SHIPPED) -> float:
    """The case's metric (seconds or nccl-tests bus bandwidth) under `constants`."""
    group = _group(case.system_id, case.ranks_per_node, case.num_ranks, constants)
    time_s = time_with(case.kind, case.message_bytes, group, constants)
    if case.metric == "time_s":
        return time_s
    return case.message_bytes / time_s * sent_fraction(case.kind, case.num_ranks)


def _loss(cases: tuple[CollectiveCase, ...], constants: CollectiveConstants) -> float:
    return mean(abs(log(predict_with(case, constants) / case.measured)) for case in cases)


def mape(cases: tuple[CollectiveCase, ...], constants: CollectiveConstants) -> float | None:
    """Mean |error| % of the cases' predictions under `constants`."""
    if not cases:
        return None
    return mean(abs(predict_with(case, constants) / case.measured - 1.0) * 100 for case in cases)


@dataclass(frozen=True)
class CollectiveFit:
    """Constants fitted on `row_ids` (none: the shipped constants, unfitted) and the mean
    |log error| they reach there."""

    constants: CollectiveConstants
    row_ids: tuple[str, ...]
    loss: float | None

    def to_dict(self, cases: tuple[CollectiveCase, ...] = ()) -> dict[str, object]:
        """The constants, the rows they were fitted on and their mean |error| % on `cases`."""
        return {
            "constants": self.constants.to_dict(),
            "row_ids": list(self.row_ids),
            "mape": mape(cases, self.constants),
        }


@lru_cache(maxsize=32)
def fit_collectives(cases: tuple[CollectiveCase, ...], rounds: int = 2) -> CollectiveFit:
    """Coordinate descent over GRIDS from the shipped constants on `cases` (rows the model
    covers: no skipped ones). A tier none of the rows crosses keeps its shipped values."""
    cases = tuple(case for case in cases if not case.skipped)
    if not cases:
        return CollectiveFit(SHIPPED, (), None)
    crosses_out = any(case.num_ranks > case.ranks_per_node for case in cases)
    current, best = SHIPPED, _loss(cases, SHIPPED)
    for _ in range(rounds):
        for name, grid in GRIDS.items():
            if name.startswith("scale_out") and not crosses_out:
                continue
            for value in grid:
                trial = replace(current, **{name: float(value)})
                loss = _loss(cases, trial)
                if loss < best - 1e-12:
                    current, best = trial, loss
    return CollectiveFit(current, tuple(case.row_id for case in cases), best)
