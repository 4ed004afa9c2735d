"""The work behind each part of a training step: flop and DRAM bytes of the ops the step
model timed, and the bytes each chip sends in the collectives it timed. Energy
(`tigris.compare.train`) reads these from the result's tree, so time and energy agree
about which ops ran and which messages were sent.

Figures are per chip and per step, averaged over the pipeline stages (the embedding runs
on the first stage only, the head on the last): multiplied by the chip count they give
the whole run's.
"""

from __future__ import annotations

from tigris.parallel.collectives import sent_fraction
from tigris.parallel.partition import plan_layer_collectives
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.sharded_step import GroupSums, ShardedStep, group_sums
from tigris.parallel.step_model import OpTimes, PlanFigures, ShardedDpComm
from tigris.parallel.step_result import (
    Collective,
    StepNode,
    StepSeconds,
    Traffic,
    TrainSetup,
    time_tree,
)


def traffic_tree(
    setup: TrainSetup,
    plan: ParallelPlan,
    figures: PlanFigures,
    step: ShardedStep,
    op_times: OpTimes,
    seconds: StepSeconds,
) -> StepNode:
    """The step's tree, each part with its flop, DRAM bytes and link bytes."""
    results = op_times.results(step.ops)
    flop = group_sums(step, [result.flop for result in results])
    dram = group_sums(step, [result.dram_bytes for result in results])
    traffic = compute_traffic(plan, figures, flop, dram)
    traffic |= link_traffic(setup, plan, figures)
    return time_tree(seconds, traffic)


def compute_traffic(
    plan: ParallelPlan, figures: PlanFigures, flop: GroupSums, dram: GroupSums
) -> dict[str, Traffic]:
    """Flop and DRAM bytes of the compute parts and the optimizer."""
    m = figures.num_microbatches
    # each kind's layers per stage, averaged over the stages
    shares = [count / plan.pp for count in figures.kind_layers]

    def each(values: tuple[float, ...], times: float) -> float:
        return sum(times * share * value for share, value in zip(shares, values, strict=True))

    def layer(field: str) -> Traffic:
        return (each(getattr(flop, field), m), each(getattr(dram, field), m), 0.0)

    return {
        "forward": layer("layer_fwd"),
        "backward": layer("layer_bwd"),
        "recompute": layer("layer_recompute"),
        "embedding and head": (
            m * (flop.embedding + flop.head) / plan.pp,
            m * (dram.embedding + dram.head) / plan.pp,
            0.0,
        ),
        "optimizer": (
            each(flop.optimizer_layer, 1) + flop.optimizer_model / plan.pp,
            each(dram.optimizer_layer, 1) + dram.optimizer_model / plan.pp,
            0.0,
        ),
    }


def link_traffic(setup: TrainSetup, plan: ParallelPlan, figures: PlanFigures) -> dict[str, Traffic]:
    """Bytes one chip sends per step, by mechanism: every collective the model timed,
    hidden or exposed (an overlapped collective still moves its bytes)."""
    m, layers, moe_layers = figures.num_microbatches, figures.layers, figures.moe_layers
    sizes = {"tp": plan.tp, "cp": plan.cp, "ep": plan.ep}
    sent = {"tp": 0.0, "cp": 0.0, "ep": 0.0}
    tokens = plan.micro_batch * setup.seq_len
    for phase, repeats in (("fwd", figures.repeats), ("bwd", 1)):
        for item in plan_layer_collectives(setup.spec, tokens, plan, phase):
            share = sent_fraction(item.kind, sizes[item.group_role])
            through = moe_layers if item.group_role == "ep" else layers
            sent[item.group_role] += repeats * item.message_bytes * share * through * m
    # pp: pp * v model chunks, each boundary crossed by the activations forward and by
    # their gradients backward once per micro-batch, spread over the pp chips
    boundaries = plan.pp * plan.virtual_stages - 1
    p2p = 2.0 * m * boundaries / plan.pp * figures.p2p_bytes if plan.pp > 1 else 0.0
    out = {role: (0.0, 0.0, sent[role]) for role in sent}
    out["pp p2p"] = (0.0, 0.0, p2p)
    out["dp"] = (0.0, 0.0, dp_link_bytes(plan, figures))
    return out


def dp_link_bytes(plan: ParallelPlan, figures: PlanFigures) -> float:
    """Bytes one chip sends in the data-parallel collectives of one step: ZeRO-3 gathers
    the weights for each micro-batch's forward and backward and reduce-scatters its
    gradients; ZeRO 0-2 reduce the gradients once (and ZeRO 1/2 gather the weights)."""
    comm = figures.dp_comm
    if comm is None:
        return 0.0
    dp = plan.dp
    gather = comm.weight_bytes * sent_fraction(Collective.all_gather, dp)
    if isinstance(comm, ShardedDpComm):
        scatter = comm.grad_bytes * sent_fraction(Collective.reduce_scatter, dp)
        return figures.num_microbatches * (2.0 * gather + scatter)
    reduced = comm.grad_bytes * sent_fraction(comm.kind, dp)
    return reduced + (gather if comm.gather_s is not None else 0.0)
