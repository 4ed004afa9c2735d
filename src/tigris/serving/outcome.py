"""A serving simulation's result: per-request times and engine traces
(`SimulationResult`), and the replicas' outcomes (`ReplicaOutcome`, one per replica's
engine loop, simulator.py) combined into it (`combine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tigris.serving.prefix_cache import PrefixCache, cache_summary
from tigris.serving.requests import Workload


@dataclass(frozen=True)
class SimulationResult:
    """Per-request times (seconds, indexed like the workload) and engine traces."""

    workload: Workload
    first_token_s: np.ndarray
    finish_s: np.ndarray
    num_preemptions: int
    num_steps: int
    kv_time_s: np.ndarray  # step end times of replica 0
    kv_occupancy: np.ndarray  # used / total KV blocks after each step of replica 0
    kv_mean_occupancy: float  # time-weighted, averaged over replicas
    kv_max_occupancy: float
    busy_s: float = 0.0  # engine time over all replicas (steps run back to back)
    prefix_cache: dict[str, object] | None = None  # hit rate etc. (prefix_cache.cache_summary)


@dataclass
class ReplicaOutcome:
    """What one replica's engine loop leaves: its requests' times, counts, KV trace."""

    first_token_s: np.ndarray
    finish_s: np.ndarray
    preemptions: int
    steps: int
    times: np.ndarray
    occupancy: np.ndarray
    mean_occupancy: float
    busy_s: float


def combine(
    workload: Workload, replicas: int, outcomes: list[ReplicaOutcome], caches: list[PrefixCache]
) -> SimulationResult:
    """The replicas' outcomes as one result: request times back in workload order, counts
    and busy time summed, KV occupancy traced on replica 0 and averaged over all."""
    n = workload.num_requests
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    busy_s = 0.0
    max_occ = 0.0
    for replica, outcome in enumerate(outcomes):
        index = slice(replica, None, replicas)
        first[index] = outcome.first_token_s
        finish[index] = outcome.finish_s
        busy_s += outcome.busy_s
        if len(outcome.occupancy):
            max_occ = max(max_occ, float(outcome.occupancy.max()))
    times = outcomes[0].times if outcomes else np.zeros(0)
    occupancy = outcomes[0].occupancy if outcomes else np.zeros(0)
    return SimulationResult(
        workload=workload,
        first_token_s=first,
        finish_s=finish,
        num_preemptions=sum(o.preemptions for o in outcomes),
        num_steps=sum(o.steps for o in outcomes),
        kv_time_s=times,
        kv_occupancy=occupancy,
        kv_mean_occupancy=float(np.mean([o.mean_occupancy for o in outcomes])),
        kv_max_occupancy=max_occ,
        busy_s=busy_s,
        prefix_cache=cache_summary(caches),
    )
