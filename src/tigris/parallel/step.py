"""One training step under a ParallelPlan: where every second goes.

Per micro-batch, the slowest pipeline stage runs its layers forward and backward (and the
forward again under full recomputation); the per-chip ops come from `shard_graph` and are
timed by a single-chip engine (tile by default). Communication is added by mechanism:
- tp all-reduce (or all-gather + reduce-scatter with sequence parallelism) sits between
  dependent GEMMs: exposed.
- ep all-to-all dispatch and combine: exposed (the experts wait for their tokens).
- cp ring exchange of K/V: overlapped with the attention it feeds; only the excess shows.
- pp: the bubble, (p - 1) / v micro-batch times, and the point-to-point sends the schedule
  waits for.
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

MFU follows PaLM (Chowdhery et al. 2022, appendix B): model flop per token
6 N + 12 L H Q T (N matmul weights, L layers, H heads of width Q, T sequence; attention
counted without causal savings, recomputation excluded). HFU adds the recomputed forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import itemgetter

import numpy as np

from tigris.engines.base import Engine, get_engine
from tigris.engines.tile.batch import times_grid
from tigris.hardware.chip import Chip
from tigris.hardware.quantities import dtype_bytes
from tigris.hardware.system import Cluster
from tigris.parallel.clock import clock_stretch, sustained_clock_ratio
from tigris.parallel.collectives import CommGroup, collective_time_s
from tigris.parallel.memory import MemoryBreakdown, memory_per_chip, params_per_chip
from tigris.parallel.overlap import collective_slowdown, exposed_s, fsdp_grad_pass_bytes
from tigris.parallel.partition import (
    ACTIVATION_BYTES,
    _gemm_info,
    _scale_stream,
    plan_layer_collectives,
    shard_graph,
)
from tigris.parallel.pipeline import bubble_time_s, p2p_messages_on_critical_path
from tigris.parallel.plan import ParallelPlan, check_plan
from tigris.workload.ops import Attention, Gemm, Op, Stream, copy_op, make_stream
from tigris.workload.precision import Precision
from tigris.workload.spec import TransformerSpec
from tigris.workload.tasks import train_step_graph

# Megatron-LM's data-parallel gradient bucket (--ddp-bucket-size default: 40M elements).
DP_BUCKET_ELEMENTS = 40e6


@dataclass(frozen=True)
class TimeNode:
    """A share of the step: its time and the shares it is made of (they sum to it)."""

    name: str
    time_s: float
    children: tuple[TimeNode, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "time_s": self.time_s}
        if self.children:
            out["children"] = [child.to_dict() for child in self.children]
        return out


_COMPUTE_PARTS = ("forward", "backward", "recompute", "embedding and head")
_COMM_PARTS = ("tp", "cp", "ep", "pp p2p", "dp")


@dataclass(frozen=True)
class StepSeconds:
    """The step's time by part (compute: forward, backward, recompute, embedding and head;
    exposed communication: tp, cp, ep, pp p2p, dp), kept as numbers: a sweep evaluates
    thousands of steps and reads only their totals; the tree is built when asked for."""

    step_s: float
    compute_s: float
    compute_parts: tuple[float, float, float, float]
    comm_parts: tuple[float, float, float, float, float]
    bubble_s: float
    optimizer_s: float

    @property
    def comm_s(self) -> float:
        return sum(self.comm_parts)

    def tree(self) -> TimeNode:
        compute = zip(_COMPUTE_PARTS, self.compute_parts, strict=True)
        comm = zip(_COMM_PARTS, self.comm_parts, strict=True)
        return TimeNode(
            "step",
            self.step_s,
            (
                TimeNode("compute", self.compute_s, tuple(TimeNode(*part) for part in compute)),
                TimeNode(
                    "communication (exposed)",
                    self.comm_s,
                    tuple(TimeNode(*part) for part in comm),
                ),
                TimeNode("pipeline bubble", self.bubble_s),
                TimeNode("optimizer", self.optimizer_s),
            ),
        )


@dataclass(frozen=True)
class StepResult:
    plan: ParallelPlan
    step_time_s: float
    num_microbatches: int
    tokens_per_step: int
    num_chips: int
    model_flop_per_step: float
    hardware_flop_per_step: float
    peak_flop_per_s: float
    memory: MemoryBreakdown
    seconds: StepSeconds = field(compare=False)

    @cached_property
    def breakdown(self) -> TimeNode:
        """Where the step's time went, as a tree whose children sum to their parent."""
        return self.seconds.tree()

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step / self.step_time_s

    @property
    def model_flop_per_s_per_chip(self) -> float:
        return self.model_flop_per_step / self.step_time_s / self.num_chips

    @property
    def hardware_flop_per_s_per_chip(self) -> float:
        return self.hardware_flop_per_step / self.step_time_s / self.num_chips

    @property
    def mfu(self) -> float:
        return self.model_flop_per_s_per_chip / self.peak_flop_per_s

    @property
    def hfu(self) -> float:
        return self.hardware_flop_per_s_per_chip / self.peak_flop_per_s

    @property
    def fits(self) -> bool:
        return self.memory.fits

    def time_to_train_s(self, tokens: float) -> float:
        return tokens / self.tokens_per_s

    def to_dict(self, tokens: float | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "step_time_s": self.step_time_s,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "tokens_per_s": self.tokens_per_s,
            "model_flop_per_s_per_chip": self.model_flop_per_s_per_chip,
            "hardware_flop_per_s_per_chip": self.hardware_flop_per_s_per_chip,
            "memory_per_chip_bytes": self.memory.total_bytes,
            "fits": self.fits,
            "plan": self.plan.as_dict(),
            "num_chips": self.num_chips,
            "num_microbatches": self.num_microbatches,
            "tokens_per_step": self.tokens_per_step,
            "memory": self.memory.as_dict(),
            "breakdown": self.breakdown.to_dict(),
        }
        if tokens is not None:
            out["tokens"] = tokens
            out["time_to_train_s"] = self.time_to_train_s(tokens)
        return out


def model_flop_per_token(spec: TransformerSpec, seq_len: int) -> float:
    """PaLM appendix B: 6 N + 12 L H Q T."""
    return (
        6.0 * spec.num_matmul_params(active=True) + 12.0 * spec.num_layers * spec.q_size * seq_len
    )


def recompute_flop_per_token(spec: TransformerSpec, seq_len: int, recompute: str) -> float:
    """Flop recomputed per token: the layers' forward (full) or attention's (selective)."""
    attention = 4.0 * spec.num_layers * spec.q_size * seq_len
    if recompute == "full":
        layer_weights = spec.num_matmul_params(active=True) - spec.vocab_size * spec.hidden_size
        return 2.0 * layer_weights + attention
    return attention if recompute == "selective" else 0.0


@dataclass(frozen=True)
class MicrobatchTimes:
    """Seconds of one micro-batch's compute on one chip, per part (layer: one layer)."""

    layer_fwd_s: float
    layer_bwd_s: float
    layer_recompute_s: float
    layer_attention_s: float
    embedding_s: float
    head_s: float
    optimizer_layer_ops: tuple[Op, ...]
    optimizer_model_ops: tuple[Op, ...]


@dataclass(frozen=True)
class TrainSetup:
    """What stays fixed while plans vary: model, hardware, chips, batch, sequence, and how
    the framework runs the step.

    Framework mechanisms (defaults: a current framework; `tigris.validate.train` sets them
    per published source):
    - attention: the attention kernel, 'flash2' (FlashAttention-2), 'flash1', 'standard'
      (unfused PyTorch) or 'fused_softmax' (Megatron-LM 2021: batched GEMMs around a fused
      scale-mask-softmax kernel, the S x S scores through DRAM); see `Attention`.
    - attention_dropout: dropout on the attention probabilities (Megatron's GPT-3 runs used
      0.1); one more S x S pass forward and backward for the unfused kinds.
    - dp_overlap: the data-parallel gradient reduction (ZeRO 0-2) runs in buckets while
      backward computes (PyTorch DDP, Megatron-LM's --overlap-grad-reduce since 2023);
      False: it starts after the backward and is fully exposed (Megatron-LM as of
      Narayanan et al. 2021).
    - eager: ops launched one by one from Python (PyTorch eager mode, no CUDA graphs); a
      kernel then takes at least the host's launch time (chip.calibration.host_overhead),
      since the GPU runs ahead of the host only as long as kernels are longer than their
      launches. False for compiled or graph-captured steps (XLA, CUDA graphs).
    - loss: the cross-entropy over the vocabulary, 'fused' (one kernel on the bf16 logits)
      or 'fp32' (logits cast to fp32 and the softmax run as eager kernels: Megatron-LM
      2021); see `tigris.workload.layers.head_steps`.
    - grad_reduce_dtype: PyTorch FSDP's MixedPrecision reduce_dtype ('fp32' or 'bf16'):
      gradients are reduce-scattered in it, after FSDP's cast and pre-division passes
      over the unsharded gradient each micro-batch (`tigris.parallel.overlap`). None: the
      precision's grad_dtype with no such passes (Megatron-LM's main_grad).
    Collectives overlapping compute on a GPU slow it down (`tigris.parallel.overlap`).
    """

    spec: TransformerSpec
    chip: Chip
    cluster: Cluster
    num_chips: int
    global_batch: int
    seq_len: int
    engine: str = "tile"
    precision: Precision = field(default_factory=Precision)
    attention: str = "flash2"
    attention_dropout: bool = False
    dp_overlap: bool = True
    eager: bool = False
    loss: str = "fused"
    grad_reduce_dtype: str | None = None


@dataclass(frozen=True)
class ShardedStep:
    """The chip-independent part of a step under one plan: the per-chip ops of a
    micro-batch (as the framework runs them) and the optimizer's shard of its streams,
    each distinct op shape once in `ops` (ops that differ only in name take the same
    time), and every group as indices into `ops` in graph order (so sums over a group add
    the same times in the same order as the ops themselves)."""

    ops: tuple[Op, ...]
    shapes: tuple[Op, ...]  # ops[i] without its name: the key of its time
    layer_fwd: tuple[int, ...]
    layer_bwd: tuple[int, ...]
    layer_recompute: tuple[int, ...]
    layer_attention: tuple[int, ...]
    embedding: tuple[int, ...]  # forward then backward
    head: tuple[int, ...]  # forward then backward
    optimizer_layer: tuple[int, ...]  # the layer's optimizer streams, scaled to the shard
    optimizer_model: tuple[int, ...]
    optimizer_layer_ops: tuple[Op, ...]  # unscaled, as MicrobatchTimes holds them
    optimizer_model_ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """What a step under one plan owes to everything but the chip: the model, cluster,
    batch, sequence and framework of a TrainSetup (its collective times are the
    cluster's). A sweep's designs share them; StepCache.figures keeps them, and a chip's
    evaluation adds only its own op times to them (StepModel.evaluate)."""

    step: ShardedStep | None  # the cache's sharded step (None: a model without a cache)
    num_microbatches: int
    layers: float  # per pipeline stage
    repeats: int  # forward collectives per micro-batch (2: recomputed)
    tp_s: float  # one micro-batch's tp collectives (exposed)
    ep_s: float  # one micro-batch's ep all-to-alls (exposed)
    cp_fwd_s: float  # one layer's cp ring exchange, forward (overlaps attention)
    cp_bwd_s: float
    p2p_s: float  # the step's pipeline sends on the critical path
    dp_comm: tuple | None  # StepModel._dp_comm
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


def _pick(group: tuple[int, ...]) -> Callable[[list[float]], tuple[float, ...]]:
    """The times of `group`'s ops, in its order, from a list of op times."""
    if len(group) > 1:
        return itemgetter(*group)
    if group:
        index = group[0]
        return lambda times: (times[index],)
    return lambda times: ()


# Whether sum() adds floats one after another (CPython 3.11; 3.12 compensates), so that
# numpy's elementwise adds in that order give its floats (_group_sums).
_SEQUENTIAL_SUM = sum([1.0, 1e100, 1.0, -1e100]) == 0.0


def _group_sums(grid: np.ndarray, group: tuple[int, ...]) -> list:
    """[sum(grid[i, k] for i in group) for k in chips]: the rows of `group` added in its
    order, starting from 0 as sum() does (0 + -0.0 is 0.0)."""
    if not group:
        return [0] * grid.shape[1]
    total = 0.0 + grid[group[0]]
    for index in group[1:]:
        total = total + grid[index]
    return total.tolist()


# Objects StepCache remembers by id before it forgets them (their values stay keyed).
_MAX_KEYED_OBJECTS = 1024


class StepCache:
    """Chip-independent structures of the step model (sharded op graphs, a layer's
    collectives, collective times on a cluster), shared by the StepModels of many chips: a
    design-space sweep builds the graph of a (model, batch, sequence, plan, precision,
    framework) once, and times a collective on its cluster once, not per design.

    Results are identical with or without it. The only chip-dependent things it keeps are
    the op times of the last prefetched batch of chips and memory breakdowns by capacity;
    collective times are kept per cluster, so collective_time_s must stay a function of the
    cluster (not the chip). Not thread-safe (one per worker)."""

    def __init__(self) -> None:
        self._steps: dict[tuple, ShardedStep] = {}
        # op times of a batch of chips, timed together (prefetch): id(chip) -> (chip, step,
        # the ops x chips times of step.shapes, the chip's column)
        self._prefetched: dict[int, tuple[Chip, ShardedStep, np.ndarray, int]] = {}
        self._prefetch_picks: tuple[Callable, ...] = ()  # the prefetched step's groups
        self._totals: dict[int, tuple] = {}  # id(chip) -> prefetched_totals
        self._figures: dict[tuple, PlanFigures] = {}
        self._comm: dict[int, dict[tuple, float]] = {}
        self._layer_comm: dict[tuple, dict[tuple, tuple]] = {}
        self._flops: dict[tuple, tuple[float, float]] = {}
        self._engines: dict[str, Engine] = {}
        # Model specs, precisions and clusters enter keys as the id of the first equal
        # object seen (its canonical one, held here so the id stays its own): hashing a
        # pydantic spec on every lookup cost more than the lookups (a sweep passes the
        # same objects, or equal ones, for every design).
        self._canonical: dict[object, object] = {}
        self._ids: dict[int, tuple[object, int]] = {}  # id(obj) -> (obj, canonical id)

    def _key(self, obj: object) -> int:
        """A key standing for obj's value: one hash per new object, not one per lookup."""
        entry = self._ids.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        if len(self._ids) >= _MAX_KEYED_OBJECTS:  # a sweep may build a setup per design
            self._ids.clear()
        try:
            canonical = self._canonical.setdefault(obj, obj)
        except TypeError:  # unhashable (a cluster's lists): the object stands for itself
            canonical = self._canonical.setdefault(id(obj), obj)
        self._ids[id(obj)] = (obj, id(canonical))
        return id(canonical)

    def flop_per_token(
        self, spec: TransformerSpec, seq_len: int, recompute: str
    ) -> tuple[float, float]:
        """(model_flop_per_token, recompute_flop_per_token), once per model."""
        key = (self._key(spec), seq_len, recompute)
        found = self._flops.get(key)
        if found is None:
            found = self._flops[key] = (
                model_flop_per_token(spec, seq_len),
                recompute_flop_per_token(spec, seq_len, recompute),
            )
        return found

    def prefetch(self, setups: Sequence[TrainSetup], plan: ParallelPlan) -> None:
        """Time the step's ops on the chips of `setups` (equal but for the chip) together,
        for the StepModels that follow (tigris.engines.tile_batch: the same floats as
        timing each chip on its own). Replaces the previous batch's times."""
        self._prefetched.clear()
        self._totals.clear()
        setups = [s for s in setups if s.engine == "tile" and not s.eager]
        if not setups:
            return
        step = self.step(setups[0], plan)
        chips = [setup.chip for setup in setups]
        groups = (
            step.layer_fwd,
            step.layer_bwd,
            step.layer_recompute,
            step.layer_attention,
            step.embedding,
            step.head,
            step.optimizer_layer,
            step.optimizer_model,
        )
        self._prefetch_picks = tuple(_pick(group) for group in groups)
        grid = times_grid(step.shapes, chips)  # ops x chips
        for k, chip in enumerate(chips):
            self._prefetched[id(chip)] = (chip, step, grid, k)
        if _SEQUENTIAL_SUM:  # each group's sum for all chips at once, the same adds
            totals = zip(*[_group_sums(grid, group) for group in groups], strict=True)
            for chip, total in zip(chips, totals, strict=True):
                self._totals[id(chip)] = total

    def prefetched_totals(self, chip: Chip, step: ShardedStep) -> tuple | None:
        """StepModel._step_times of `chip` from the last prefetch, if it timed the chip:
        each group of `step`'s ops summed in graph order, as _cached_times sums them."""
        found = self._prefetched.get(id(chip))
        if found is None or found[0] is not chip or found[1] is not step:
            return None
        totals = self._totals.get(id(chip))
        if totals is None:
            times = found[2][:, found[3]].tolist()
            totals = self._totals[id(chip)] = tuple(
                [sum(pick(times)) for pick in self._prefetch_picks]
            )
        return totals

    def figures(self, model: StepModel, plan: ParallelPlan) -> PlanFigures:
        """model.figures(plan) with this cache's sharded step, kept for every setup equal
        to model's but for the chip (the figures read no chip but its memory capacity,
        which PlanFigures.memory_on replaces)."""
        setup = model.setup
        key = (
            self._key(plan),
            self._key(setup.spec),
            self._key(setup.cluster),
            self._key(setup.precision),
            setup.num_chips,
            setup.global_batch,
            setup.seq_len,
            setup.attention,
            setup.attention_dropout,
            setup.dp_overlap,
            setup.loss,
            setup.grad_reduce_dtype,
        )
        found = self._figures.get(key)
        if found is None:
            found = self._figures[key] = model.figures(plan, self.step(setup, plan))
        return found

    def engine(self, name: str) -> Engine:
        """The engine of that name, one for every StepModel (engines hold no state)."""
        found = self._engines.get(name)
        if found is None:
            found = self._engines[name] = get_engine(name)
        return found

    def comm_table(self, cluster: Cluster) -> dict[tuple, float]:
        """Collective times on `cluster` by (kind, bytes, size, stride), shared by the
        StepModels of every chip on it: the collective model reads the cluster's tiers only
        (the chip's links are the cluster's scale-up)."""
        return self._comm.setdefault(self._key(cluster), {})

    def layer_comm_table(self, cluster: Cluster, spec: TransformerSpec) -> dict[tuple, tuple]:
        """One layer's (tp, cp, ep) collective seconds on `cluster` for `spec`, by
        (tokens, tp, ep, cp, sequence_parallel, phase); shared like comm_table."""
        return self._layer_comm.setdefault((self._key(cluster), self._key(spec)), {})

    def step(self, setup: TrainSetup, plan: ParallelPlan) -> ShardedStep:
        full = plan.recompute == "full"
        shard = 1.0 / plan.dp if plan.zero >= 1 else 1.0
        key = (
            self._key(setup.spec),
            setup.seq_len,
            self._key(setup.precision),
            setup.loss,
            setup.attention,
            setup.attention_dropout,
            plan.tp,
            plan.cp,
            plan.ep,
            plan.sequence_parallel,
            plan.micro_batch,
            full,
            plan.dtype,
            shard,
        )
        found = self._steps.get(key)
        if found is None:
            found = self._steps[key] = _sharded_step(setup, plan, shard)
        return found


def _step_parts(setup: TrainSetup, plan: ParallelPlan) -> dict[tuple[str, str], tuple[Op, ...]]:
    """The per-chip ops of one micro-batch by (group, phase), as the framework runs them."""
    full = plan.recompute == "full"
    # FP8 training (Transformer Engine) casts only the linear layers' inputs to fp8 inside
    # their GEMMs: activations between ops, attention and the elementwise work stay bf16.
    precision = setup.precision
    if plan.dtype != "fp8":
        precision = precision.model_copy(update={"compute_dtype": plan.dtype})
    graph = train_step_graph(
        setup.spec,
        plan.micro_batch,
        setup.seq_len,
        precision,
        recompute="full" if full else "none",
        loss=setup.loss,
    )
    shard = shard_graph(
        graph, tp=plan.tp, ep=plan.ep, cp=plan.cp, sequence_parallel=plan.sequence_parallel
    )
    return {
        (group.name, group.phase): _as_run(setup, group.ops, plan.dtype) for group in shard.groups
    }


def _fp8_casts(op: Gemm) -> tuple[Op, ...]:
    """Transformer Engine's casts before an fp8 GEMM of a linear layer: Hopper's fp8 GEMMs
    take only the TN layout, so each bf16 operand is cast to fp8 together with a transposed
    fp8 copy (TE's fused cast_transpose: read 2 bytes, write 1 + 1 per element), the other
    pass's GEMM reading the copy. Forward: the input (M x K) and the weight (K x N, cast
    every micro-batch unless the framework passes TE's is_first_microbatch, which
    llm-foundry does not); backward: the output gradient (dgrad's M x K); wgrad reuses the
    transposed copies. TE's amax reductions are folded into these passes."""
    tokens = op.m * op.batch
    kind = _gemm_info(op.name)[0]  # 0 forward, 1 data gradient, 2 weight gradient
    if kind == 2:
        return ()
    casts = [
        make_stream(f"{op.name}.cast", tokens * op.k, 2.0 * tokens * op.k, 2.0 * tokens * op.k)
    ]
    if kind == 0:
        weight = op.k * op.n * op.batch
        casts.append(make_stream(f"{op.name}.wcast", weight, 2.0 * weight, 2.0 * weight))
    return tuple(casts)


def _as_run(setup: TrainSetup, ops: tuple[Op, ...], dtype: str) -> tuple[Op, ...]:
    """The ops as the framework runs them: its attention kernel and dropout, and fp8
    GEMMs (bf16 out) when the plan computes in fp8: the linear layers' GEMMs with their
    casts (`_fp8_casts`); the LM head stays bf16 (llm-foundry's tied unembedding is a
    plain F.linear, Megatron-core's output_layer is not a Transformer Engine module)."""
    out: list[Op] = []
    for op in ops:
        if isinstance(op, Attention) and (setup.attention != "flash2" or setup.attention_dropout):
            op = replace(op, implementation=setup.attention, dropout=setup.attention_dropout)
        elif isinstance(op, Gemm) and dtype == "fp8" and not op.name.startswith("head."):
            out.extend(_fp8_casts(op))
            op = replace(op, dtype="fp8", out_dtype=op.out_dtype or op.dtype)
        out.append(op)
    return tuple(out)


def _sharded_step(setup: TrainSetup, plan: ParallelPlan, shard: float) -> ShardedStep:
    parts = _step_parts(setup, plan)
    # Keyed by shape, not name (as tigris.serving's step timer): an engine's time reads
    # an op's shape and dtypes only, so the norms of a layer, its residual adds, or the
    # same GEMM in forward and recompute are one op to time.
    shapes: dict[Op, int] = {}
    unique: list[Op] = []

    def index(op: Op) -> int:
        shape = copy_op(op, name="")
        found = shapes.get(shape)
        if found is None:
            found = shapes[shape] = len(unique)
            unique.append(op)
        return found

    def indices(ops: tuple[Op, ...]) -> tuple[int, ...]:
        return tuple(index(op) for op in ops)

    layer_fwd = parts[("layer", "fwd")]
    optimizer_layer_ops = parts[("layer", "optimizer")]
    optimizer_model_ops = parts[("model", "optimizer")]
    return ShardedStep(
        layer_fwd=indices(layer_fwd),
        layer_bwd=indices(parts[("layer", "bwd")]),
        layer_recompute=indices(parts.get(("layer", "recompute"), ())),
        layer_attention=indices(tuple(op for op in layer_fwd if isinstance(op, Attention))),
        embedding=indices(parts[("embedding", "fwd")] + parts[("embedding", "bwd")]),
        head=indices(parts[("head", "fwd")] + parts[("head", "bwd")]),
        optimizer_layer=indices(
            tuple(_scale_stream(op, shard) for op in optimizer_layer_ops if isinstance(op, Stream))
        ),
        optimizer_model=indices(
            tuple(_scale_stream(op, shard) for op in optimizer_model_ops if isinstance(op, Stream))
        ),
        optimizer_layer_ops=optimizer_layer_ops,
        optimizer_model_ops=optimizer_model_ops,
        ops=tuple(unique),
        shapes=tuple(shapes),  # insertion order: shapes[i] is ops[i]'s
    )


class StepModel:
    """Evaluates plans for one TrainSetup, remembering op times and sharded graphs.

    `cache` (a StepCache) shares the chip-independent graphs between the StepModels of
    several chips; without one the model keeps its own. `per_op=True` times the graph op
    by op instead (no StepCache): the reference the cached path is tested against, bit
    for bit."""

    def __init__(
        self, setup: TrainSetup, cache: StepCache | None = None, *, per_op: bool = False
    ) -> None:
        self.setup = setup
        self.cache = None if per_op else cache if cache is not None else StepCache()
        self._op_s: dict[Op, float] = {}
        self._microbatch: dict[tuple, MicrobatchTimes] = {}
        self._optimizer: dict[tuple, float] = {}

    # Looked up on first use (a sweep's model evaluates once, from the cache's figures,
    # and needs none of them): the engine, and the collective times, shared by every chip
    # on the cluster when there is a cache.
    @cached_property
    def _engine(self) -> Engine:
        name = self.setup.engine
        return self.cache.engine(name) if self.cache is not None else get_engine(name)

    @cached_property
    def _comm(self) -> dict[tuple, float]:
        return self.cache.comm_table(self.setup.cluster) if self.cache is not None else {}

    @cached_property
    def _layer_comm(self) -> dict[tuple, tuple]:
        cache, setup = self.cache, self.setup
        return cache.layer_comm_table(setup.cluster, setup.spec) if cache is not None else {}

    # ---- compute -------------------------------------------------------------------

    def _time_op(self, op: Op) -> float:
        result = self._engine.time(op, self.setup.chip)
        time_s = result.time_s
        if self.setup.eager:
            kernels = result.details.get("kernels", 1.0)
            time_s = max(time_s, kernels * self.setup.chip.calibration.host_overhead)
        return time_s

    def op_time_s(self, op: Op) -> float:
        time_s = self._op_s.get(op)
        if time_s is None:
            # keyed by shape as well (an engine's time reads an op's shape and dtypes, not
            # its name): a layer's norms, its residual adds are timed once
            time_s = self._op_s[op] = self._shape_time_s(copy_op(op, name=""))
        return time_s

    def _shape_times(self, shapes: tuple[Op, ...]) -> list[float]:
        """Times of ops without their names, those not timed yet through the engine's
        times_s where it has one (the same times without an OpTime per op)."""
        known = self._op_s
        missing = [shape for shape in shapes if shape not in known] if known else list(shapes)
        if missing:
            times_s = getattr(self._engine, "times_s", None)
            if times_s is None or self.setup.eager:  # eager: per-kernel host time (_time_op)
                times = [self._time_op(shape) for shape in missing]
            else:
                times = times_s(missing, self.setup.chip)
            known.update(zip(missing, times, strict=True))
            if len(missing) == len(shapes):
                return times
        return [known[shape] for shape in shapes]

    def _shape_time_s(self, shape: Op) -> float:
        """Time of an op without its name (the name does not change an engine's time)."""
        time_s = self._op_s.get(shape)
        if time_s is None:
            time_s = self._op_s[shape] = self._time_op(shape)
        return time_s

    def _as_run(self, ops: tuple[Op, ...], dtype: str) -> tuple[Op, ...]:
        """The ops as the framework runs them (see `_as_run`)."""
        return _as_run(self.setup, ops, dtype)

    def _ops_s(self, ops: tuple[Op, ...]) -> float:
        return sum(self.op_time_s(op) for op in ops)

    def _microbatch_key(self, plan: ParallelPlan) -> tuple:
        return (
            plan.tp,
            plan.cp,
            plan.ep,
            plan.sequence_parallel,
            plan.micro_batch,
            plan.recompute == "full",
            plan.dtype,
        )

    def microbatch_times(self, plan: ParallelPlan) -> MicrobatchTimes:
        key = self._microbatch_key(plan)
        cached = self._microbatch.get(key)
        if cached is not None:
            return cached
        if self.cache is not None:
            times, layer_s, model_s = self._cached_times(plan)
            shard = 1.0 / plan.dp if plan.zero >= 1 else 1.0
            self._optimizer[(*key, shard)] = (layer_s, model_s)
        else:
            parts = _step_parts(self.setup, plan)
            layer_fwd = parts[("layer", "fwd")]
            times = MicrobatchTimes(
                layer_fwd_s=self._ops_s(layer_fwd),
                layer_bwd_s=self._ops_s(parts[("layer", "bwd")]),
                layer_recompute_s=self._ops_s(parts.get(("layer", "recompute"), ())),
                layer_attention_s=sum(
                    self.op_time_s(op) for op in layer_fwd if isinstance(op, Attention)
                ),
                embedding_s=self._ops_s(parts[("embedding", "fwd")] + parts[("embedding", "bwd")]),
                head_s=self._ops_s(parts[("head", "fwd")] + parts[("head", "bwd")]),
                optimizer_layer_ops=parts[("layer", "optimizer")],
                optimizer_model_ops=parts[("model", "optimizer")],
            )
        self._microbatch[key] = times
        return times

    def _cached_times(self, plan: ParallelPlan) -> tuple[MicrobatchTimes, float, float]:
        """Micro-batch times and the optimizer's per-layer and per-model seconds, from the
        cache's sharded step: each distinct op timed once, groups summed in graph order."""
        assert self.cache is not None
        step = self.cache.step(self.setup, plan)
        op_s = self._shape_times(step.shapes)

        def total(group: tuple[int, ...]) -> float:  # in graph order, as the ops add up
            return sum(map(op_s.__getitem__, group))

        times = MicrobatchTimes(
            layer_fwd_s=total(step.layer_fwd),
            layer_bwd_s=total(step.layer_bwd),
            layer_recompute_s=total(step.layer_recompute),
            layer_attention_s=total(step.layer_attention),
            embedding_s=total(step.embedding),
            head_s=total(step.head),
            optimizer_layer_ops=step.optimizer_layer_ops,
            optimizer_model_ops=step.optimizer_model_ops,
        )
        return times, total(step.optimizer_layer), total(step.optimizer_model)

    # ---- communication -------------------------------------------------------------

    def comm_s(self, kind: str, message_bytes: float, size: int, stride: int) -> float:
        key = (kind, message_bytes, size, stride)
        time_s = self._comm.get(key)
        if time_s is None:
            group = CommGroup(self.setup.cluster, self.setup.chip, size, stride)
            time_s = self._comm[key] = collective_time_s(kind, message_bytes, group)
        return time_s

    def _layer_comm_s(self, plan: ParallelPlan, phase: str) -> dict[str, float]:
        """Seconds of one layer's tp / cp / ep collectives for one micro-batch."""
        tokens = plan.micro_batch * self.setup.seq_len
        key = (tokens, plan.tp, plan.ep, plan.cp, plan.sequence_parallel, phase)
        found = self._layer_comm.get(key)
        if found is None:
            found = self._layer_comm[key] = tuple(self._layer_comm_parts(plan, tokens, phase))
        return dict(zip(("tp", "cp", "ep"), found, strict=True))

    def _layer_comm_parts(self, plan: ParallelPlan, tokens: int, phase: str) -> tuple:
        """(tp, cp, ep) seconds of one layer's collectives for one micro-batch."""
        spec = self.setup.spec
        strides = {"tp": 1, "cp": plan.tp, "ep": plan.tp * plan.cp}
        sizes = {"tp": plan.tp, "cp": plan.cp, "ep": plan.ep}
        out = {"tp": 0.0, "cp": 0.0, "ep": 0.0}
        for kind, size_bytes, role in plan_layer_collectives(spec, tokens, plan, phase):
            out[role] += self.comm_s(kind, size_bytes, sizes[role], strides[role])
        return out["tp"], out["cp"], out["ep"]

    # ---- the step --------------------------------------------------------------------

    def evaluate(self, plan: ParallelPlan, *, checked: bool = False) -> StepResult:
        setup = self.setup
        if not checked:
            check_plan(plan, setup.spec, setup.num_chips, setup.global_batch, setup.seq_len)
        cache = self.cache
        figures = cache.figures(self, plan) if cache is not None else self.figures(plan)
        m = figures.num_microbatches
        memory = figures.memory_on(setup.chip.dram_capacity_bytes)
        (
            layer_fwd_s,
            layer_bwd_s,
            layer_recompute_s,
            layer_attention_s,
            embedding_s,
            head_s,
            opt_layer_s,
            opt_model_s,
        ) = self._step_times(plan, figures.step)
        layers = figures.layers
        fwd_s = layers * layer_fwd_s
        bwd_s = layers * layer_bwd_s
        recompute_s = layers * layer_recompute_s
        ends_s = embedding_s + head_s
        if plan.pp > 1:  # embedding on the first stage, head on the last: the larger counts
            ends_s = max(embedding_s, head_s)
        # the clock the chip holds through the step under its power limit (parallel.clock)
        stretch = self._clock_stretch(plan, m, fwd_s + bwd_s + recompute_s + ends_s)
        fwd_s, bwd_s, recompute_s = fwd_s * stretch, bwd_s * stretch, recompute_s * stretch
        ends_s *= stretch
        tp_s, ep_s = figures.tp_s, figures.ep_s
        cp_s = layers * (
            max(0.0, figures.cp_fwd_s - layer_attention_s) * figures.repeats
            + max(0.0, figures.cp_bwd_s - 2.5 * layer_attention_s)
        )
        compute_mb_s = fwd_s + bwd_s + recompute_s + ends_s
        microbatch_s = compute_mb_s + tp_s + ep_s + cp_s

        # pipeline
        bubble_s = bubble_time_s(plan.pp, plan.virtual_stages, microbatch_s)
        p2p_s = figures.p2p_s

        # data parallel
        dp_s = self._dp_exposed_s(plan, figures.dp_comm, m, fwd_s, bwd_s + recompute_s)

        # optimizer on this chip's shard
        optimizer_s = layers * opt_layer_s + opt_model_s

        compute_total = m * compute_mb_s
        comm = (m * tp_s, m * cp_s, m * ep_s, p2p_s, dp_s)
        comm_total = sum(comm)
        step_s = compute_total + comm_total + bubble_s + optimizer_s
        seconds = StepSeconds(
            step_s,
            compute_total,
            (m * fwd_s, m * bwd_s, m * recompute_s, m * ends_s),
            comm,
            bubble_s,
            optimizer_s,
        )
        return StepResult(
            plan=plan,
            step_time_s=step_s,
            num_microbatches=m,
            tokens_per_step=figures.tokens,
            num_chips=setup.num_chips,
            model_flop_per_step=figures.model_flop,
            hardware_flop_per_step=figures.hardware_flop,
            peak_flop_per_s=setup.chip.peak_flop_per_s(plan.dtype),
            memory=memory,
            seconds=seconds,
        )

    def figures(self, plan: ParallelPlan, step: ShardedStep | None = None) -> PlanFigures:
        """The step's chip-independent figures under `plan` (see PlanFigures), computed
        with this model's collective times; `step`, the cache's sharded step they go with."""
        setup, spec = self.setup, self.setup.spec
        m = plan.num_microbatches(setup.global_batch)
        memory = memory_per_chip(
            spec, plan, setup.seq_len, m, setup.chip.dram_capacity_bytes, setup.precision
        )
        layers = spec.num_layers / plan.pp
        fwd_comm = self._layer_comm_s(plan, "fwd")
        bwd_comm = self._layer_comm_s(plan, "bwd")
        repeats = 2 if plan.recompute == "full" else 1  # recompute repeats forward collectives
        tp_s = layers * (repeats * fwd_comm["tp"] + bwd_comm["tp"])
        ep_s = layers * (repeats * fwd_comm["ep"] + bwd_comm["ep"])
        p2p_bytes = plan.micro_batch * setup.seq_len / plan.cp * spec.hidden_size * ACTIVATION_BYTES
        if plan.sequence_parallel:
            p2p_bytes /= plan.tp  # Megatron's scatter-gather: each tp rank sends a slice
        p2p_s = (
            p2p_messages_on_critical_path(plan.pp, m, plan.virtual_stages)
            * self.comm_s("p2p", p2p_bytes, 2, plan.tp * plan.cp * plan.dp)
            if plan.pp > 1
            else 0.0
        )
        tokens = setup.global_batch * setup.seq_len
        model_per_token, recompute_per_token = self._flop_per_token(plan.recompute)
        model_flop = model_per_token * tokens
        return PlanFigures(
            step=step,
            num_microbatches=m,
            layers=layers,
            repeats=repeats,
            tp_s=tp_s,
            ep_s=ep_s,
            cp_fwd_s=fwd_comm["cp"],
            cp_bwd_s=bwd_comm["cp"],
            p2p_s=p2p_s,
            dp_comm=self._dp_comm(plan),
            tokens=tokens,
            model_flop=model_flop,
            hardware_flop=model_flop + recompute_per_token * tokens,
            memory=memory,
        )

    def _step_times(self, plan: ParallelPlan, step: ShardedStep | None) -> tuple:
        """Seconds of one micro-batch's layer forward, backward, recompute and attention,
        embedding and head, and of the optimizer's layer and model streams: from the
        cache's last prefetch where it timed this chip, else as microbatch_times."""
        if step is not None and not self.setup.eager:
            assert self.cache is not None
            found = self.cache.prefetched_totals(self.setup.chip, step)
            if found is not None:
                return found
        times = self.microbatch_times(plan)
        opt_layer_s, opt_model_s = self._optimizer_s(plan, times)
        return (
            times.layer_fwd_s,
            times.layer_bwd_s,
            times.layer_recompute_s,
            times.layer_attention_s,
            times.embedding_s,
            times.head_s,
            opt_layer_s,
            opt_model_s,
        )

    def _flop_per_token(self, recompute: str) -> tuple[float, float]:
        """(model, recomputed) flop per token of the setup's model and sequence."""
        setup = self.setup
        if self.cache is not None:
            return self.cache.flop_per_token(setup.spec, setup.seq_len, recompute)
        return (
            model_flop_per_token(setup.spec, setup.seq_len),
            recompute_flop_per_token(setup.spec, setup.seq_len, recompute),
        )

    def _clock_stretch(self, plan: ParallelPlan, m: int, compute_mb_s: float) -> float:
        """Factor by which the step's compute time grows at the clock the chip sustains
        under its power limit (tigris.parallel.clock): the tensor units' activity is the
        matrix flop a chip executes (causal attention kernels skip the masked half) at
        its calibrated GEMM rate, over the compute time at the unthrottled clock."""
        setup, spec = self.setup, self.setup.spec
        ratio = sustained_clock_ratio(setup.chip)
        if ratio >= 1.0 or compute_mb_s <= 0.0:
            return 1.0
        tokens_per_chip = setup.global_batch * setup.seq_len / setup.num_chips
        attention = 12.0 * spec.num_layers * spec.q_size * setup.seq_len
        model_per_token, recompute = self._flop_per_token(plan.recompute)
        recompute_attention = (
            4.0 * spec.num_layers * spec.q_size * setup.seq_len
            if plan.recompute in ("full", "selective")
            else 0.0
        )
        gemm_flop = model_per_token - attention + recompute
        gemm_flop -= recompute_attention
        attention_flop = 0.5 * (attention + recompute_attention)  # causal
        chip, fraction = setup.chip, setup.chip.calibration.matrix_fraction
        attention_dtype = "bf16" if plan.dtype == "fp8" else plan.dtype
        busy_s = tokens_per_chip * (
            gemm_flop / (fraction * chip.peak_flop_per_s(plan.dtype))
            + attention_flop / (fraction * chip.peak_flop_per_s(attention_dtype))
        )
        return clock_stretch(ratio, busy_s / (m * compute_mb_s))

    def _optimizer_s(self, plan: ParallelPlan, times: MicrobatchTimes) -> tuple[float, float]:
        """Seconds of the optimizer streams of one layer and of the rest of the model, on
        this chip's shard of the weights (1 / dp of them under ZeRO)."""
        shard = 1.0 / plan.dp if plan.zero >= 1 else 1.0
        key = (*self._microbatch_key(plan), shard)
        found = self._optimizer.get(key)
        if found is not None:
            return found
        if self.cache is not None:
            _, layer_s, model_s = self._cached_times(plan)
        else:
            layer_s = sum(
                self.op_time_s(_scale_stream(op, shard))
                for op in times.optimizer_layer_ops
                if isinstance(op, Stream)
            )
            model_s = sum(
                self.op_time_s(_scale_stream(op, shard))
                for op in times.optimizer_model_ops
                if isinstance(op, Stream)
            )
        self._optimizer[key] = (layer_s, model_s)
        return layer_s, model_s

    def _dp_comm(self, plan: ParallelPlan) -> tuple | None:
        """The data-parallel collectives of one step, chip-independent: (parameters of
        the chip, all-gather s, reduce-scatter s, None) under ZeRO-3, else (parameters,
        gradient reduction s, its last bucket's s, all-gather s or None under ZeRO-0);
        None without data parallelism."""
        if plan.dp == 1:
            return None
        setup = self.setup
        params, _ = params_per_chip(setup.spec, plan)
        reduce_dtype = setup.grad_reduce_dtype or setup.precision.grad_dtype
        grad_b = dtype_bytes(reduce_dtype)
        grads, weights = params * grad_b, params * 2.0
        stride = plan.tp * plan.cp
        if plan.zero >= 3:
            gather = self.comm_s("all_gather", weights, plan.dp, stride)
            scatter = self.comm_s("reduce_scatter", grads, plan.dp, stride)
            return params, gather, scatter, None
        kind = "all_reduce" if plan.zero == 0 else "reduce_scatter"
        reduce_s = self.comm_s(kind, grads, plan.dp, stride)
        bucket = min(grads, DP_BUCKET_ELEMENTS * grad_b)
        last_bucket_s = self.comm_s(kind, bucket, plan.dp, stride)
        gather = self.comm_s("all_gather", weights, plan.dp, stride) if plan.zero >= 1 else None
        return params, reduce_s, last_bucket_s, gather

    def _dp_exposed_s(
        self, plan: ParallelPlan, dp_comm: tuple | None, m: int, fwd_s: float, bwd_s: float
    ) -> float:
        """Exposed data-parallel communication of one step (see the module docstring),
        with the slow-down of the compute it overlaps and FSDP's gradient passes
        (`tigris.parallel.overlap`); `dp_comm`, the collectives (`_dp_comm`)."""
        if dp_comm is None:
            return 0.0
        setup = self.setup
        params, first, second, gather = dp_comm
        slowdown = collective_slowdown(setup.chip)
        passes_s = self._fsdp_grad_passes_s(params) if setup.grad_reduce_dtype else 0.0
        if plan.zero >= 3:  # first: the weights' all-gather, second: the reduce-scatter
            per_mb = exposed_s(first, fwd_s, slowdown) + exposed_s(first + second, bwd_s, slowdown)
            return m * (per_mb + passes_s)
        # first: the gradient reduction, second: its last bucket
        exposed = first
        if setup.dp_overlap:  # all but the last bucket under the backward
            exposed = second + exposed_s(first - second, bwd_s, slowdown)
        if gather is not None:  # ZeRO 1/2: the updated weights' all-gather
            exposed += exposed_s(gather, fwd_s, slowdown)
        return exposed + m * passes_s

    def _fsdp_grad_passes_s(self, params: float) -> float:
        """Seconds of FSDP's cast and pre-division passes over `params` gradients."""
        read, written = fsdp_grad_pass_bytes(self.setup.grad_reduce_dtype)
        op = make_stream("fsdp.grad_passes", int(params), read * params, written * params)
        return self.op_time_s(op)
