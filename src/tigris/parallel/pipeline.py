"""Pipeline schedules: 1F1B (PipeDream-Flush) and interleaved 1F1B (Narayanan et al. 2021).

With p stages, m micro-batches and v model chunks per stage (v = 1: plain 1F1B), a stage
spends m (t_f + t_b) on useful work and (p - 1) (t_f + t_b) / v idle in the fill and drain:
the bubble fraction is (p - 1) / (v m) of the ideal time (Narayanan et al. 2021, Sec. 2.2).
Activations of up to p micro-batches are in flight on the first stage; interleaving holds
(1 + (p - 1) / (p v)) times as many layers' worth (Korthikanti et al. 2022, Sec. 4.2.3).
"""

from __future__ import annotations


def bubble_fraction(pp: int, num_microbatches: int, virtual_stages: int = 1) -> float:
    """Idle time of the fill and drain over the ideal time: (p - 1) / (v m)."""
    return (pp - 1) / (virtual_stages * num_microbatches)


def bubble_time_s(pp: int, virtual_stages: int, microbatch_time_s: float) -> float:
    """Fill and drain of the pipeline: (p - 1) / v micro-batch times (forward + backward)."""
    return (pp - 1) / virtual_stages * microbatch_time_s


def pipeline_time_s(
    pp: int, num_microbatches: int, virtual_stages: int, microbatch_time_s: float
) -> float:
    """Time of all micro-batches through the slowest stage, bubble included."""
    return (num_microbatches + (pp - 1) / virtual_stages) * microbatch_time_s


def p2p_messages_on_critical_path(pp: int, num_microbatches: int, virtual_stages: int) -> int:
    """Sends and receives between stages the schedule waits for: an activation forward and a
    gradient backward per micro-batch per model chunk, and the fill and drain hops."""
    if pp == 1:
        return 0
    return 2 * num_microbatches * virtual_stages + 2 * (pp - 1)


def microbatches_in_flight(
    pp: int, num_microbatches: int, virtual_stages: int = 1, stage: int = 0
) -> float:
    """Micro-batches whose activations a stage (the first by default) holds at once, in
    units of one micro-batch through all of the stage's layers: under 1F1B stage s
    starts its first backward after pp - s forwards."""
    in_flight = float(min(pp - stage, num_microbatches))
    if virtual_stages > 1:
        in_flight *= 1 + (pp - 1) / (pp * virtual_stages)
    return in_flight
