"""Pipeline schedules: 1F1B, interleaved 1F1B and DualPipe; their bubble and the
micro-batches whose activations a stage holds at once.

- 1F1B (PipeDream-Flush; Narayanan et al. 2021, "Efficient Large-Scale Language Model
  Training on GPU Clusters Using Megatron-LM", Sec. 2.2.1): with p stages and m
  micro-batches a stage spends m (t_f + t_b) on useful work and (p - 1) (t_f + t_b) idle
  in the fill and drain: bubble = (p - 1) x the slowest stage's micro-batch (an upper
  bound when the other stages are lighter).
- Interleaved 1F1B (ibid., Sec. 2.2.2): each stage runs v model chunks (chunk j of stage s
  is the model's (j p + s)-th); the fill and drain pass chunks, not stages:
  bubble = (p - 1) x the slowest chunk's micro-batch, which for chunks of equal time is
  (p - 1) / v x the stage's micro-batch (bubble fraction (p - 1) / (v m)). Uneven stages
  split their layers over the v chunks as evenly as possible (`tigris.parallel.stages`),
  so the slowest chunk, not the stage over v, sets the bubble.
- DualPipe (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", arXiv:2412.19437, Sec.
  3.2.1 and Table 2): micro-batches enter from both ends of the pipeline (rank i holds
  stage i and stage p - 1 - i: two copies of the parameters); a forward chunk of one
  micro-batch runs beside a backward chunk of another, each one's all-to-all and pipeline
  sends hidden behind the other's compute. Table 2: bubble (p/2 - 1)(F&B + B - 3W),
  parameters 2x, activations p + 1 micro-batches (1F1B: (p - 1)(F + B), 1x, p), where F
  is a forward chunk, B a full backward chunk, W its weight-gradient part and F&B a
  forward and a backward chunk overlapped. It needs p and m even.

Micro-batches in flight (the activations a stage holds at once, in units of one
micro-batch through all of the stage's layers): 1F1B stage s starts its first backward
after p - s forwards; Megatron-LM's interleaved schedule runs 2 (p - 1 - s) + (v - 1) p
chunk forwards before its first backward (all m v when m = p), one more in the steady
state: (p v + p - 1 - 2 s) / v micro-batches, on the first stage p (1 + (p - 1) / (p v))
(Korthikanti et al. 2022, Sec. 4.2.3); DualPipe p + 1 on every rank (Table 2).
"""

from __future__ import annotations

from enum import StrEnum


class PipelineSchedule(StrEnum):
    """The schedule of a plan's micro-batches through its pipeline stages."""

    one_f_one_b = "1f1b"
    interleaved = "interleaved"
    dualpipe = "dualpipe"


def schedule_of(pp_schedule: str | None, virtual_stages: int) -> PipelineSchedule:
    """The plan's schedule: the one named, else 1F1B, interleaved when v > 1 (the
    default before schedules were named)."""
    if pp_schedule is not None:
        return PipelineSchedule(pp_schedule)
    if virtual_stages > 1:
        return PipelineSchedule.interleaved
    return PipelineSchedule.one_f_one_b


def bubble_fraction(pp: int, num_microbatches: int, virtual_stages: int = 1) -> float:
    """Idle time of the fill and drain over the ideal time: (p - 1) / (v m)."""
    return (pp - 1) / (virtual_stages * num_microbatches)


def bubble_time_s(pp: int, virtual_stages: int, microbatch_time_s: float) -> float:
    """Fill and drain of a 1F1B or interleaved pipeline: (p - 1) / v micro-batch times
    (forward + backward) of a stage, i.e. (p - 1) of its chunk's when chunks are alike
    (pass v x the slowest chunk's time where they are not)."""
    return (pp - 1) / virtual_stages * microbatch_time_s


def dualpipe_bubble_s(pp: int, f_and_b_s: float, backward_s: float, weight_grad_s: float) -> float:
    """DeepSeek-V3 Table 2: (p/2 - 1)(F&B + B - 3W), never below zero."""
    return max(0.0, (pp / 2 - 1) * (f_and_b_s + backward_s - 3 * weight_grad_s))


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
    pp: int,
    num_microbatches: int,
    virtual_stages: int = 1,
    stage: int = 0,
    schedule: str | None = None,
) -> float:
    """Micro-batches whose activations stage `stage` (the first by default) holds at
    once, in units of one micro-batch through all of the stage's layers (module
    docstring), never more than all of them."""
    kind = schedule_of(schedule, virtual_stages)
    if kind == PipelineSchedule.dualpipe:
        return float(min(pp + 1, num_microbatches))
    in_flight = float(min(pp - stage, num_microbatches))
    if virtual_stages > 1:
        warm = pp * (1 + (pp - 1) / (pp * virtual_stages)) - 2 * stage / virtual_stages
        in_flight = min(float(num_microbatches), warm)
    return in_flight
