"""One training step under a ParallelPlan: where every second goes. A pure model:
`evaluate(setup, plan, op_times)` reads its inputs and remembers nothing; memoisation
lives in `tigris.parallel.step_memo`, which passes its own `StepInputs`.

Per micro-batch, the slowest pipeline stage runs its layers forward and backward (and the
forward again under full recomputation): each stage's layers of each kind
(`tigris.parallel.stages`; an uneven split or layers that differ make stages differ), the
embedding on the first and the head and loss on the last; the stage with the longest
micro-batch (compute at the full clock and its exposed collectives) sets the pace and the
bubble (an upper bound when the other stages are lighter). The per-chip ops come from
`tigris.parallel.sharded_step` and are timed on the chip by `op_times`. Communication is
added by mechanism:
- tp all-reduce (or all-gather + reduce-scatter with sequence parallelism) sits between
  dependent GEMMs: exposed.
- ep all-to-all dispatch and combine: exposed (the experts wait for their tokens), the
  bytes x the routing imbalance; shared experts hide the forward dispatch (DeepSeek-V3).
  With TrainSetup.ep_all_to_all 'deepep', DeepEP's kernels at their published bandwidth
  (FP8 dispatch, a copy per remote node), which overlap compute on 20 SMs under DualPipe.
- cp ring exchange of K/V: overlapped with the attention it feeds; only the excess shows.
- pp: the schedule's bubble (`tigris.parallel.pipeline`: 1F1B, interleaved over the
  slowest chunk, DualPipe hiding ep and pp sends) and the sends the schedule waits for.
- dp: gradients reduced in buckets while the last micro-batch's backward runs (ZeRO 0-2),
  the last bucket exposed; ZeRO 1/2 all-gather the updated weights while the next step's
  first forward runs; ZeRO-3 gathers weights each micro-batch forward and backward and
  reduce-scatters gradients, overlapped with that pass's compute. On a GPU an overlapped
  collective slows the compute beside it, and PyTorch FSDP adds its passes over each
  unsharded gradient (`tigris.parallel.overlap`).
- optimizer: AdamW streams of the chip's shard of the weights (1 / dp of them under ZeRO).
- clock: a chip whose dense GEMM stream exceeds its board power limit settles below the
  boost clock its short-benchmark calibration saw; the step's compute time stretches by
  the clock it sustains at the step's tensor activity (`tigris.parallel.clock`).

The result's tree (`StepResult.tree`) carries each part's flop, DRAM bytes and link bytes
next to its time (`tigris.parallel.step_traffic`), so energy reads the same ops the time
does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from tigris.engines.base import Engine, OpTime
from tigris.hardware.chip import Chip
from tigris.parallel.clock import clock_stretch, sustained_clock_ratio
from tigris.parallel.collectives import CommGroup, collective_time_s
from tigris.parallel.memory import (
    MemoryBreakdown,
    StageWeights,
    memory_per_chip,
    params_per_chip,
    stage_weights,
)
from tigris.parallel.overlap import collective_slowdown, exposed_s, shared_expert_overlap_s
from tigris.parallel.partition import ACTIVATION_BYTES, plan_layer_collectives
from tigris.parallel.pipeline import (
    PipelineSchedule,
    bubble_time_s,
    dualpipe_bubble_s,
    p2p_messages_on_critical_path,
    schedule_of,
)
from tigris.parallel.plan import ParallelPlan, check_plan
from tigris.parallel.sharded_step import GroupSums, ShardedStep, build_sharded_step, group_sums
from tigris.parallel.stages import StageGroup, chunk_groups, stage_groups
from tigris.parallel.step_dp import DP_BUCKET_ELEMENTS as DP_BUCKET_ELEMENTS
from tigris.parallel.step_dp import DpComm, dp_comm, dp_exposed_s
from tigris.parallel.step_dp import ShardedDpComm as ShardedDpComm
from tigris.parallel.step_result import (
    Collective,
    CommSeconds,
    ComputeSeconds,
    Recompute,
    StepResult,
    StepSeconds,
    TrainSetup,
    attention_span,
    model_flop_per_token,
    recompute_flop_per_token,
)
from tigris.workload.moe import DEEPEP_SMS, deepep_exchange_s
from tigris.workload.ops import Op
from tigris.workload.spec import TransformerSpec


class OpTimes(Protocol):
    """Op times on the setup's chip: seconds (the model's), and the engine's full results
    (flop and DRAM bytes, for the result's tree)."""

    def times_s(self, ops: Sequence[Op]) -> list[float]: ...

    def results(self, ops: Sequence[Op]) -> list[OpTime]: ...


class EngineOpTimes:
    """OpTimes through an engine on one chip, each call timed anew. Eager steps (ops
    launched one by one from Python) take at least the host's launch time per kernel."""

    def __init__(self, engine: Engine, chip: Chip, *, eager: bool = False) -> None:
        self.engine, self.chip, self.eager = engine, chip, eager

    def time_s(self, op: Op) -> float:
        result = self.engine.time(op, self.chip)
        if not self.eager:
            return result.time_s
        kernels = result.details.get("kernels", 1.0)
        return max(result.time_s, kernels * self.chip.calibration.host_overhead)

    def times_s(self, ops: Sequence[Op]) -> list[float]:
        # the engine's batch call gives the same floats without an OpTime per op; eager
        # needs each op's kernel count, which only the full result has
        batch = getattr(self.engine, "times_s", None)
        if batch is None or self.eager:
            return [self.time_s(op) for op in ops]
        return batch(list(ops), self.chip)

    def results(self, ops: Sequence[Op]) -> list[OpTime]:
        return [self.engine.time(op, self.chip) for op in ops]


@dataclass(frozen=True, slots=True)
class LayerComm:
    """Seconds of one layer's tp / cp / ep collectives for one micro-batch and phase."""

    tp: float
    cp: float
    ep: float
    dispatch: float = 0.0  # the ep dispatch all-to-all alone (ep: dispatch + combine)


@dataclass(frozen=True, slots=True)
class StageComm:
    """Stages holding the same layers (`group`) and one micro-batch's exposed tp
    collectives and ep all-to-alls through those layers."""

    group: StageGroup
    tp_s: float
    ep_s: float


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """What a step under one plan owes to everything but the chip: the model, cluster,
    batch, sequence and framework of a TrainSetup (its collective times are the
    cluster's, see StepInputs.collective_s). A sweep's designs share them."""

    num_microbatches: int
    layers: float  # per pipeline stage, averaged over the stages
    moe_layers: float  # MoE layers per stage, averaged over the stages
    kind_layers: tuple[int, ...]  # the model's layers of each kind (spec.layer_kinds())
    stages: tuple[StageComm, ...]  # the stages, grouped by the layers they hold
    chunks: tuple[StageComm, ...]  # interleaved chunks, where they differ (else none)
    repeats: int  # forward collectives per micro-batch (2: recomputed)
    cp_fwd_s: float  # one layer's cp ring exchange, forward (overlaps attention)
    cp_bwd_s: float
    dispatch_s: float  # one layer's forward ep dispatch all-to-all (0 without ep)
    p2p_bytes: float  # one pipeline send
    p2p_s: float  # the step's pipeline sends on the critical path
    dp_comm: DpComm | None  # None without data parallelism
    tokens: int
    model_flop: float
    hardware_flop: float
    memory: MemoryBreakdown  # on the capacity of the chip that computed them

    def memory_on(self, capacity_bytes: float) -> MemoryBreakdown:
        """The memory breakdown on a chip of `capacity_bytes` (the same bytes)."""
        memory = self.memory
        if memory.capacity_bytes == capacity_bytes:
            return memory
        return replace(memory, capacity_bytes=capacity_bytes)


class StepInputs:
    """The model's look-ups, computed afresh on every call. `tigris.parallel.step_memo`
    subclasses it to remember them by value; the model never stores anything itself."""

    def sharded(self, setup: TrainSetup, plan: ParallelPlan) -> ShardedStep:
        return build_sharded_step(setup, plan)

    def group_seconds(
        self, setup: TrainSetup, plan: ParallelPlan, step: ShardedStep, op_times: OpTimes
    ) -> GroupSums:
        """Seconds of each group of `step`'s ops on setup.chip."""
        return group_sums(step, op_times.times_s(step.shapes))

    def collective_s(
        self, setup: TrainSetup, kind: str, message_bytes: float, size: int, stride: int
    ) -> float:
        group = CommGroup(setup.cluster, setup.chip, size, stride)
        return collective_time_s(kind, message_bytes, group)

    def layer_comm(self, setup: TrainSetup, plan: ParallelPlan, phase: str) -> LayerComm:
        return layer_comm(setup, plan, phase, self)

    def flop_per_token(
        self, spec: TransformerSpec, seq_len: int, recompute: str
    ) -> tuple[float, float]:
        """(model, recomputed) flop per token."""
        return (
            model_flop_per_token(spec, seq_len),
            recompute_flop_per_token(spec, seq_len, recompute),
        )

    def figures(self, setup: TrainSetup, plan: ParallelPlan) -> PlanFigures:
        return plan_figures(setup, plan, self)

    def tensor_busy_s(self, setup: TrainSetup, plan: ParallelPlan) -> float:
        return tensor_busy_s(setup, plan, self)

    def stage_groups(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[StageGroup, ...]:
        """`stages.stage_groups` (reads pp, virtual stages and pp_layers only)."""
        return stage_groups(spec, plan.pp, plan.virtual_stages, plan.pp_layers)

    def stage_weights(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[StageWeights, ...]:
        """`memory.stage_weights` (reads tp, pp, ep, virtual stages, pp_layers and the
        schedule only)."""
        return stage_weights(spec, plan)

    def params(self, spec: TransformerSpec, plan: ParallelPlan) -> tuple[float, float]:
        """`params_per_chip` (reads what stage_weights reads)."""
        return params_per_chip(spec, plan, self.stage_weights(spec, plan))

    def memory(self, setup: TrainSetup, plan: ParallelPlan) -> MemoryBreakdown:
        """Memory per chip of `plan` on setup.chip (what a search checks first)."""
        m = plan.num_microbatches(setup.global_batch)
        capacity = setup.chip.dram_capacity_bytes
        stages = self.stage_weights(setup.spec, plan)
        return memory_per_chip(
            setup.spec, plan, setup.seq_len, m, capacity, setup.precision, stages,
            dropout=setup.attention_dropout,
        )  # fmt: skip


DIRECT = StepInputs()


def layer_comm(setup: TrainSetup, plan: ParallelPlan, phase: str, inputs: StepInputs) -> LayerComm:
    """Seconds of one layer's tp, cp and ep collectives for one micro-batch; the ep
    exchange through DeepEP's kernels when the setup says so (workload.moe)."""
    tokens = plan.micro_batch * setup.seq_len
    strides = {"tp": 1, "cp": plan.tp, "ep": plan.tp * plan.cp}
    sizes = {"tp": plan.tp, "cp": plan.cp, "ep": plan.ep}
    out = {"tp": 0.0, "cp": 0.0, "ep": 0.0}
    dispatch = None  # the first of the layer's two all-to-alls
    collectives = plan_layer_collectives(setup.spec, tokens, plan, phase, setup.moe_imbalance)
    deepep = setup.ep_all_to_all == "deepep"
    for kind, size_bytes, role in collectives:
        if role == "ep" and deepep:
            continue
        seconds = inputs.collective_s(setup, kind, size_bytes, sizes[role], strides[role])
        out[role] += seconds
        if role == "ep" and dispatch is None:
            dispatch = seconds
    spec = setup.spec
    if deepep and plan.ep > 1 and spec.num_experts:
        rank_tokens = tokens / (plan.cp * plan.tp)  # the rank's tp x cp slice
        top_k, load = spec.num_experts_per_token, setup.moe_imbalance
        out["ep"], dispatch = deepep_exchange_s(
            rank_tokens, plan.ep, top_k, spec.hidden_size, load, phase
        )
    return LayerComm(out["tp"], out["cp"], out["ep"], dispatch or 0.0)


def p2p_message_bytes(setup: TrainSetup, plan: ParallelPlan) -> float:
    """One pipeline send: a micro-batch's activations at a stage boundary."""
    spec = setup.spec
    p2p_bytes = plan.micro_batch * setup.seq_len / plan.cp * spec.hidden_size * ACTIVATION_BYTES
    if plan.sequence_parallel:
        p2p_bytes /= plan.tp  # Megatron's scatter-gather: each tp rank sends a slice
    return p2p_bytes


def plan_figures(setup: TrainSetup, plan: ParallelPlan, inputs: StepInputs) -> PlanFigures:
    """The step's chip-independent figures under `plan` (see PlanFigures)."""
    spec = setup.spec
    m = plan.num_microbatches(setup.global_batch)
    memory = inputs.memory(setup, plan)
    fwd, bwd = inputs.layer_comm(setup, plan, "fwd"), inputs.layer_comm(setup, plan, "bwd")
    repeats = 2 if plan.recompute == Recompute.full else 1  # recompute repeats fwd comm
    tp_layer, ep_layer = repeats * fwd.tp + bwd.tp, repeats * fwd.ep + bwd.ep
    stages = tuple(
        StageComm(group, group.layers * tp_layer, group.moe_layers * ep_layer)
        for group in inputs.stage_groups(spec, plan)
    )
    chunks = ()
    if plan.virtual_stages > 1 and (plan.pp_layers is not None or len(spec.layer_kinds()) > 1):
        chunks = tuple(
            StageComm(group, group.layers * tp_layer, group.moe_layers * ep_layer)
            for group in chunk_groups(spec, plan.pp, plan.virtual_stages, plan.pp_layers)
        )
    moe_layers = sum(count for kind, count in spec.layer_kinds() if kind.mlp == "moe")
    p2p_bytes = p2p_message_bytes(setup, plan)
    p2p_s = (
        p2p_messages_on_critical_path(plan.pp, m, plan.virtual_stages)
        * inputs.collective_s(setup, Collective.p2p, p2p_bytes, 2, plan.tp * plan.cp * plan.dp)
        if plan.pp > 1
        else 0.0
    )
    tokens = setup.global_batch * setup.seq_len
    model_per_token, recompute_per_token = inputs.flop_per_token(
        spec, setup.seq_len, plan.recompute
    )
    model_flop = model_per_token * tokens
    return PlanFigures(
        num_microbatches=m,
        layers=spec.num_layers / plan.pp,
        moe_layers=moe_layers / plan.pp,
        kind_layers=tuple(count for _, count in spec.layer_kinds()),
        stages=stages,
        chunks=chunks,
        repeats=repeats,
        cp_fwd_s=fwd.cp,
        cp_bwd_s=bwd.cp,
        dispatch_s=fwd.dispatch,
        p2p_bytes=p2p_bytes,
        p2p_s=p2p_s,
        dp_comm=dp_comm(setup, plan, inputs),
        tokens=tokens,
        model_flop=model_flop,
        hardware_flop=model_flop + recompute_per_token * tokens,
        memory=memory,
    )


def evaluate(
    setup: TrainSetup,
    plan: ParallelPlan,
    op_times: OpTimes,
    inputs: StepInputs = DIRECT,
    *,
    checked: bool = False,
) -> StepResult:
    """The step of `setup` under `plan`, its ops timed by `op_times` on setup.chip;
    `checked`: the caller has run check_plan (a search checks before evaluating)."""
    if not checked:
        check_plan(plan, setup.spec, setup.num_chips, setup.global_batch, setup.seq_len)
    figures = inputs.figures(setup, plan)
    step = inputs.sharded(setup, plan)
    groups = inputs.group_seconds(setup, plan, step, op_times)
    seconds = step_seconds(setup, plan, figures, groups, op_times, inputs)

    def build_tree(seconds: StepSeconds):  # noqa: ANN202 (the result's lazy tree)
        from tigris.parallel.step_traffic import traffic_tree

        return traffic_tree(setup, plan, figures, step, op_times, seconds)

    return StepResult(
        plan=plan,
        step_time_s=seconds.step_s,
        num_microbatches=figures.num_microbatches,
        tokens_per_step=figures.tokens,
        num_chips=setup.num_chips,
        model_flop_per_step=figures.model_flop,
        hardware_flop_per_step=figures.hardware_flop,
        peak_flop_per_s=setup.chip.peak_flop_per_s(plan.dtype),
        memory=figures.memory_on(setup.chip.dram_capacity_bytes),
        seconds=seconds,
        build_tree=build_tree,
    )


# seconds of the ep all-to-all a layer of each kind hides (shared_overlap_s), or None
Saved = tuple[float, ...] | None


@dataclass(frozen=True, slots=True)
class StageSeconds:
    """One micro-batch through the layers of one stage (before the clock stretch)."""

    fwd_s: float
    bwd_s: float
    recompute_s: float
    ends_s: float
    tp_s: float
    ep_s: float
    cp_s: float
    optimizer_s: float  # the stage's layers' optimizer (without the rest of the model)
    attention_s: float = 0.0  # its layers' attention kernels, forward

    @property
    def total_s(self) -> float:
        return (
            self.fwd_s
            + self.bwd_s
            + self.recompute_s
            + self.ends_s
            + self.tp_s
            + self.ep_s
            + self.cp_s
        )


def _weighted(counts: tuple[int, ...], seconds: tuple[float, ...]) -> float:
    """Seconds of `counts[k]` layers of each kind k (0 + n x t for one kind: the float
    an even split of alike layers always gave)."""
    if len(counts) == 1:  # alike layers: the search's hot path
        return counts[0] * seconds[0]
    return sum(n * t for n, t in zip(counts, seconds, strict=True))


def _ends_s(codes: frozenset[int], groups: GroupSums) -> float:
    """The larger model ends of a group's stages (0 none, 1 embedding, 2 head, 3 both)."""
    if 3 in codes:
        return groups.embedding + groups.head
    embedding = groups.embedding if 1 in codes else 0.0
    head = groups.head if 2 in codes else 0.0
    return max(embedding, head)


def _cp_s(figures: PlanFigures, kinds: tuple[int, ...], groups: GroupSums) -> float:
    """The cp ring exchange a stage's attention does not hide (none without cp)."""
    if figures.cp_fwd_s == 0.0 and figures.cp_bwd_s == 0.0:
        return 0.0
    exposed = tuple(
        max(0.0, figures.cp_fwd_s - attention_s) * figures.repeats
        + max(0.0, figures.cp_bwd_s - 2.5 * attention_s)
        for attention_s in groups.layer_attention
    )
    return _weighted(kinds, exposed)


def stage_seconds(
    figures: PlanFigures, stage: StageComm, groups: GroupSums, saved: Saved = None
) -> StageSeconds:
    """A stage group's micro-batch: its layers of each kind, the model ends it holds
    (the larger of its stages': embedding on the first, head and loss on the last, both
    when pp = 1) and its exposed collectives (`saved`: shared_overlap_s)."""
    kinds = stage.group.kinds
    return StageSeconds(
        fwd_s=_weighted(kinds, groups.layer_fwd),
        bwd_s=_weighted(kinds, groups.layer_bwd),
        recompute_s=_weighted(kinds, groups.layer_recompute),
        ends_s=_ends_s(stage.group.ends, groups),
        tp_s=stage.tp_s,
        ep_s=stage.ep_s if saved is None else stage.ep_s - _weighted(kinds, saved),
        cp_s=_cp_s(figures, kinds, groups),
        optimizer_s=_weighted(kinds, groups.optimizer_layer),
        attention_s=_weighted(kinds, groups.layer_attention),
    )


def shared_overlap_s(setup: TrainSetup, figures: PlanFigures, groups: GroupSums) -> Saved:
    """Seconds of the ep dispatch all-to-all that a layer of each kind hides under its
    shared experts' forward GEMMs (DeepSeek-V3, Llama 4: the shared experts read the
    rank's own tokens while the routed ones travel; tigris.parallel.overlap,
    shared_expert_overlap_s), in each forward (the recomputed one too). The backward's
    all-to-alls stay exposed (not modelled: a lower bound on what is hidden). None
    without ep or shared experts (the step as before)."""
    if figures.dispatch_s == 0.0 or not setup.spec.num_shared_experts:
        return None
    slowdown = collective_slowdown(setup.chip)
    return tuple(
        figures.repeats * shared_expert_overlap_s(figures.dispatch_s, shared_s, slowdown)
        for shared_s in groups.layer_shared
    )


def slowest_stage(figures: PlanFigures, groups: GroupSums, saved: Saved = None) -> StageSeconds:
    """The stage whose micro-batch takes longest: it sets the pipeline's pace."""
    stages = [stage_seconds(figures, stage, groups, saved) for stage in figures.stages]
    if len(stages) == 1:
        return stages[0]
    return max(stages, key=lambda stage: stage.total_s)


def step_seconds(
    setup: TrainSetup,
    plan: ParallelPlan,
    figures: PlanFigures,
    groups: GroupSums,
    op_times: OpTimes,
    inputs: StepInputs,
) -> StepSeconds:
    """The step's seconds by part from its figures and one micro-batch's op times: the
    slowest pipeline stage's micro-batches, the bubble of its micro-batch time."""
    m = figures.num_microbatches
    saved = shared_overlap_s(setup, figures, groups)
    stage = slowest_stage(figures, groups, saved)
    fwd_s, bwd_s, recompute_s, ends_s = stage.fwd_s, stage.bwd_s, stage.recompute_s, stage.ends_s
    # the clock the chip holds through the step under its power limit (parallel.clock)
    stretch = clock_stretch_of(setup, plan, m, fwd_s + bwd_s + recompute_s + ends_s, inputs)
    fwd_s, bwd_s, recompute_s = fwd_s * stretch, bwd_s * stretch, recompute_s * stretch
    ends_s *= stretch
    tp_s, ep_s, cp_s = stage.tp_s, stage.ep_s, stage.cp_s
    compute_mb_s = fwd_s + bwd_s + recompute_s + ends_s
    p2p_s = figures.p2p_s
    if schedule_of(plan.pp_schedule, plan.virtual_stages) == PipelineSchedule.dualpipe:
        bubble_s, ep_s, p2p_s = dualpipe_seconds(setup, plan, figures, stage, stretch)
    elif figures.chunks:
        bubble_s = bubble_time_s(plan.pp, 1, slowest_chunk_s(figures, groups, stretch, saved))
    else:
        bubble_s = bubble_time_s(plan.pp, plan.virtual_stages, compute_mb_s + tp_s + ep_s + cp_s)
    dp_s = dp_exposed_s(setup, plan, figures.dp_comm, m, fwd_s, bwd_s + recompute_s, op_times)
    optimizer_s = stage.optimizer_s + groups.optimizer_model
    compute_total = m * compute_mb_s
    comm = CommSeconds(m * tp_s, m * cp_s, m * ep_s, p2p_s, dp_s)
    return StepSeconds(
        step_s=compute_total + comm.total + bubble_s + optimizer_s,
        compute_s=compute_total,
        compute=ComputeSeconds(m * fwd_s, m * bwd_s, m * recompute_s, m * ends_s),
        comm=comm,
        bubble_s=bubble_s,
        optimizer_s=optimizer_s,
    )


def slowest_chunk_s(
    figures: PlanFigures, groups: GroupSums, stretch: float, saved: Saved = None
) -> float:
    """The longest micro-batch through one interleaved model chunk (its layers, the model
    end it holds, its exposed collectives; compute at the sustained clock): the
    interleaved bubble is p - 1 of it (tigris.parallel.pipeline)."""
    longest = 0.0
    for chunk in figures.chunks:
        part = stage_seconds(figures, chunk, groups, saved)
        compute = part.fwd_s + part.bwd_s + part.recompute_s + part.ends_s
        longest = max(longest, compute * stretch + part.tp_s + part.ep_s + part.cp_s)
    return longest


def dualpipe_seconds(
    setup: TrainSetup,
    plan: ParallelPlan,
    figures: PlanFigures,
    stage: StageSeconds,
    stretch: float,
) -> tuple[float, float, float]:
    """(bubble, exposed ep all-to-all per micro-batch, exposed pipeline sends) under
    DualPipe (arXiv:2412.19437 Sec. 3.2.1): a forward chunk runs beside another
    micro-batch's backward chunk, each one's ep dispatch/combine and pipeline sends hidden
    behind the other's compute (what it cannot hide, or the compute's slow-down while
    they overlap, stays; tp and cp stay exposed). Table 2's (p/2 - 1)(F&B + B - 3W): F the
    forward (and a third of the model end), B the rest of the micro-batch, W the weight-
    gradient GEMMs (half the backward but attention's, 2.5 x its forward as for cp), F&B
    = F + B + the collectives left exposed."""
    slowdown = collective_slowdown(setup.chip)
    compute = (stage.fwd_s + stage.bwd_s + stage.recompute_s + stage.ends_s) * stretch
    forward = (stage.fwd_s + stage.ends_s / 3) * stretch
    backward = compute - forward
    weight_grad = max(0.0, stage.bwd_s - 2.5 * stage.attention_s) / 2 * stretch
    ep_s = exposed_s(stage.ep_s, compute, ep_overlap_slowdown(setup))
    f_and_b = compute + ep_s + stage.tp_s + stage.cp_s
    bubble = dualpipe_bubble_s(plan.pp, f_and_b, backward, weight_grad)
    m = figures.num_microbatches
    p2p_s = exposed_s(figures.p2p_s, m * compute, slowdown)
    return bubble, ep_s, p2p_s


def ep_overlap_slowdown(setup: TrainSetup) -> float:
    """Share of compute lost while the ep exchange overlaps it: DeepEP's kernels hold a
    fixed DEEPEP_SMS of the chip's SMs (their share, when the chip publishes its SMs);
    otherwise the collectives' interference on the chip (collective_slowdown)."""
    sms = getattr(setup.chip.matrix, "num_sms", None)
    if setup.ep_all_to_all == "deepep" and sms:
        return min(1.0, DEEPEP_SMS / sms)
    return collective_slowdown(setup.chip)


def clock_stretch_of(
    setup: TrainSetup, plan: ParallelPlan, m: int, compute_mb_s: float, inputs: StepInputs
) -> float:
    """Factor by which the step's compute time grows at the clock the chip sustains
    under its power limit (tigris.parallel.clock): the tensor units' activity is the
    matrix flop a chip executes (causal attention kernels skip the masked half) at
    its calibrated GEMM rate, over the compute time at the unthrottled clock."""
    ratio = sustained_clock_ratio(setup.chip)
    if ratio >= 1.0 or compute_mb_s <= 0.0:
        return 1.0
    return clock_stretch(ratio, inputs.tensor_busy_s(setup, plan) / (m * compute_mb_s))


def tensor_busy_s(setup: TrainSetup, plan: ParallelPlan, inputs: StepInputs) -> float:
    """Seconds a chip's tensor units are busy in one step at the unthrottled clock: the
    matrix flop it executes (causal attention kernels skip the masked half) at its
    calibrated GEMM rate (reads the plan's recomputation and dtype only)."""
    spec, chip = setup.spec, setup.chip
    tokens_per_chip = setup.global_batch * setup.seq_len / setup.num_chips
    span = attention_span(spec, setup.seq_len)  # the model flop's attention term
    attention = 12.0 * spec.num_layers * spec.q_size * span
    model_per_token, recompute = inputs.flop_per_token(spec, setup.seq_len, plan.recompute)
    recompute_attention = (
        4.0 * spec.num_layers * spec.q_size * span
        if plan.recompute in (Recompute.full, Recompute.selective)
        else 0.0
    )
    gemm_flop = model_per_token - attention + recompute - recompute_attention
    attention_flop = 0.5 * (attention + recompute_attention)  # causal
    fraction = chip.calibration.matrix_fraction
    attention_dtype = "bf16" if plan.dtype == "fp8" else plan.dtype
    return tokens_per_chip * (
        gemm_flop / (fraction * chip.peak_flop_per_s(plan.dtype))
        + attention_flop / (fraction * chip.peak_flop_per_s(attention_dtype))
    )
