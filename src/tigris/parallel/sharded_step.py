"""The chip-independent part of a training step under one plan: the per-chip ops of one
micro-batch as the framework runs them (attention kernel, dropout, fp8 casts), grouped by
the part of the step they belong to, each distinct op shape once.

The step model (`tigris.parallel.step_model`) times these groups on a chip; a design
sweep shares one ShardedStep between all its chips (`tigris.parallel.step_memo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tigris.parallel.partition import _gemm_info, _scale_stream, shard_graph
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.step_result import AttentionKernel, Recompute, TrainSetup
from tigris.workload.ops import Attention, Gemm, Op, Stream, copy_op, make_stream
from tigris.workload.spec import LayerKind
from tigris.workload.tasks import train_step_graph


@dataclass(frozen=True)
class ShardedStep:
    """The per-chip ops of a micro-batch and the optimizer's shard of its streams, each
    distinct op shape once in `ops` (ops that differ only in name take the same time), and
    every group as indices into `ops` in graph order (so a group's sum adds the same times
    in the same order as the ops themselves). Layer groups have one entry per layer kind
    (`spec.layer_kinds()` order; one for a model whose layers are alike)."""

    ops: tuple[Op, ...]
    shapes: tuple[Op, ...]  # ops[i] without its name: the key of its time
    layer_fwd: tuple[tuple[int, ...], ...]
    layer_bwd: tuple[tuple[int, ...], ...]
    layer_recompute: tuple[tuple[int, ...], ...]
    layer_attention: tuple[tuple[int, ...], ...]
    layer_shared: tuple[tuple[int, ...], ...]  # the shared experts' forward ops
    embedding: tuple[int, ...]  # forward then backward
    head: tuple[int, ...]  # forward then backward
    optimizer_layer: tuple[tuple[int, ...], ...]  # each kind's optimizer, scaled to the shard
    optimizer_model: tuple[int, ...]
    optimizer_layer_ops: tuple[tuple[Op, ...], ...]  # unscaled, as the graph holds them
    optimizer_model_ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class GroupSums:
    """Sums over each group of a ShardedStep of one per-op figure (seconds, flop or DRAM
    bytes on one chip): one layer's passes (per layer kind), the model's ends, the
    optimizer's shards."""

    layer_fwd: tuple[float, ...]
    layer_bwd: tuple[float, ...]
    layer_recompute: tuple[float, ...]
    layer_attention: tuple[float, ...]
    layer_shared: tuple[float, ...]
    embedding: float
    head: float
    optimizer_layer: tuple[float, ...]
    optimizer_model: float


def group_sums(step: ShardedStep, per_op: Sequence[float]) -> GroupSums:
    """Each group's figures added in graph order, from 0 as sum() does (so the per-op
    reference path, which adds op by op, gives the same floats)."""

    def total(group: tuple[int, ...]) -> float:
        return sum(map(per_op.__getitem__, group))

    def per_kind(groups: tuple[tuple[int, ...], ...]) -> tuple[float, ...]:
        return tuple(map(total, groups))

    return GroupSums(
        layer_fwd=per_kind(step.layer_fwd),
        layer_bwd=per_kind(step.layer_bwd),
        layer_recompute=per_kind(step.layer_recompute),
        layer_attention=per_kind(step.layer_attention),
        layer_shared=per_kind(step.layer_shared),
        embedding=total(step.embedding),
        head=total(step.head),
        optimizer_layer=per_kind(step.optimizer_layer),
        optimizer_model=total(step.optimizer_model),
    )


def zero_shard(plan: ParallelPlan) -> float:
    """The share of the optimizer state a chip updates: 1 / dp under ZeRO, else all."""
    return 1.0 / plan.dp if plan.zero >= 1 else 1.0


StepParts = dict[tuple[str, str] | tuple[str, str, LayerKind], tuple[Op, ...]]


def step_parts(setup: TrainSetup, plan: ParallelPlan) -> StepParts:
    """The per-chip ops of one micro-batch by (group, phase), as the framework runs them;
    layer groups also by (group, phase, kind), and (group, phase) gives the first kind's."""
    full = plan.recompute == Recompute.full
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
        graph,
        tp=plan.tp,
        ep=plan.ep,
        cp=plan.cp,
        sequence_parallel=plan.sequence_parallel,
        moe_imbalance=setup.moe_imbalance,
    )
    parts: StepParts = {}
    for group in reversed(shard.groups):  # (name, phase) ends as the first kind's
        ops = as_run(setup, group.ops, plan.dtype)
        parts[(group.name, group.phase)] = ops
        if group.kind is not None:
            parts[(group.name, group.phase, group.kind)] = ops
    return parts


def fp8_casts(op: Gemm) -> tuple[Op, ...]:
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


# DeepSeek-V3's fine-grained fp8 (arXiv:2412.19437 sec. 3.3.1-3.3.2): scales over 1 x 128
# activation tiles and 128 x 128 weight blocks, partial sums promoted to fp32 every
# N_C = 128 elements of K
FP8_BLOCK = 128
SCALE_BYTES = 4.0  # fp32 scales


def block_scale(op: Gemm) -> Stream:
    """The CUDA-core work of a block-scaled fp8 GEMM beyond a per-tensor one: at each of
    the ceil(K / 128) promotions every output element is multiplied by its two scales'
    product and added to the fp32 accumulator (2 M N ceil(K/128) flop), and the scales are
    read: M x ceil(K/128) of the activation tiles and ceil(K/128) x ceil(N/128) of the
    weight blocks (forward, data gradient); the weight gradient's two operands are both
    activations (tiles along K, the tokens: (M + N) x ceil(K/128)). Priced as a stream
    after the GEMM: DeepGEMM overlaps one warpgroup's promotion with another's MMA, so
    this is an upper bound on what it adds."""
    chunks = -(-op.k // FP8_BLOCK)
    if _gemm_info(op.name)[0] == 2:
        scales = (op.m + op.n) * chunks
    else:
        scales = op.m * chunks + chunks * -(-op.n // FP8_BLOCK)
    elements = op.batch * op.m * op.n * chunks
    return make_stream(f"{op.name}.block_scale", elements, SCALE_BYTES * op.batch * scales,
                       0.0, flop_per_element=2.0)  # fmt: skip


def as_run(setup: TrainSetup, ops: tuple[Op, ...], dtype: str) -> tuple[Op, ...]:
    """The ops as the framework runs them: its attention kernel and dropout, and fp8
    GEMMs (bf16 out) when the plan computes in fp8: the linear layers' GEMMs with their
    casts (`fp8_casts`) and, under block scaling, their promotions (`block_scale`); the LM
    head stays bf16 (llm-foundry's tied unembedding is a plain F.linear, Megatron-core's
    output_layer is not a Transformer Engine module)."""
    out: list[Op] = []
    blocks = setup.precision.fp8_scaling == "block"
    for op in ops:
        unfused = setup.attention != AttentionKernel.flash2 or setup.attention_dropout
        if isinstance(op, Attention) and unfused:
            op = replace(op, implementation=setup.attention, dropout=setup.attention_dropout)
        elif isinstance(op, Gemm) and dtype == "fp8" and _fp8_linear(op.name):
            out.extend(fp8_casts(op))
            op = replace(op, dtype="fp8", out_dtype=op.out_dtype or op.dtype)
            if blocks:
                out.extend((op, block_scale(op)))
                continue
        out.append(op)
    return tuple(out)


def _fp8_linear(name: str) -> bool:
    """Whether a GEMM runs in fp8 in an fp8 step: the Transformer Engine linear layers,
    not the LM head nor LoRA's adapters (NeMo builds them as bf16 Megatron linears)."""
    return not name.startswith("head.") and ".lora_" not in name


class _ShapeIndex:
    """Indices of op shapes (ops without their names) in order of first appearance,
    continuing those of `base` when given."""

    def __init__(self, base: StepBase | None = None) -> None:
        self.shapes: dict[Op, int] = {} if base is None else dict(base.index)
        self.ops: list[Op] = [] if base is None else list(base.ops)

    def of(self, ops: tuple[Op, ...]) -> tuple[int, ...]:
        out = []
        for op in ops:
            shape = copy_op(op, name="")
            found = self.shapes.get(shape)
            if found is None:
                found = self.shapes[shape] = len(self.ops)
                self.ops.append(op)
            out.append(found)
        return tuple(out)


@dataclass(frozen=True)
class StepBase:
    """A micro-batch's per-chip ops indexed by shape (`_ShapeIndex`), all groups but the
    optimizer's, whose streams the ZeRO shard scales: what the ShardedSteps of one split
    under every ZeRO shard share (the optimizer's shapes are indexed after these, as a
    ShardedStep built from scratch indexes them)."""

    parts: StepParts
    index: dict[Op, int]  # shape -> its index, in order of first appearance
    ops: tuple[Op, ...]
    layer_fwd: tuple[tuple[int, ...], ...]
    layer_bwd: tuple[tuple[int, ...], ...]
    layer_recompute: tuple[tuple[int, ...], ...]
    layer_attention: tuple[tuple[int, ...], ...]
    layer_shared: tuple[tuple[int, ...], ...]
    embedding: tuple[int, ...]
    head: tuple[int, ...]


def _layer_parts(setup: TrainSetup, parts: StepParts, phase: str) -> list[tuple[Op, ...]]:
    """Each layer kind's ops of `phase` (`spec.layer_kinds()` order)."""
    return [parts.get(("layer", phase, kind), ()) for kind, _ in setup.spec.layer_kinds()]


def step_base(setup: TrainSetup, plan: ParallelPlan, parts: StepParts | None = None) -> StepBase:
    """The StepBase of `setup` under `plan` (reads no chip, nor the ZeRO shard);
    `parts`: its `step_parts`, if the caller has them."""
    if parts is None:
        parts = step_parts(setup, plan)
    # Keyed by shape, not name (as tigris.serving's step timer): an engine's time reads
    # an op's shape and dtypes only, so the norms of a layer, its residual adds, or the
    # same GEMM in forward and recompute are one op to time.
    index = _ShapeIndex()

    def each(groups: list[tuple[Op, ...]]) -> tuple[tuple[int, ...], ...]:
        return tuple(map(index.of, groups))

    layer_fwd = _layer_parts(setup, parts, "fwd")
    attention = [tuple(op for op in ops if isinstance(op, Attention)) for ops in layer_fwd]
    shared = [tuple(op for op in ops if op.name.startswith("moe.shared.")) for ops in layer_fwd]
    groups = (
        each(layer_fwd),
        each(_layer_parts(setup, parts, "bwd")),
        each(_layer_parts(setup, parts, "recompute")),
        each(attention),
        each(shared),
        index.of(parts[("embedding", "fwd")] + parts[("embedding", "bwd")]),
        index.of(parts[("head", "fwd")] + parts[("head", "bwd")]),
    )
    return StepBase(parts, index.shapes, tuple(index.ops), *groups)


def build_sharded_step(
    setup: TrainSetup, plan: ParallelPlan, base: StepBase | None = None
) -> ShardedStep:
    """The ShardedStep of `setup` under `plan` (reads no chip); `base`: its `step_base`,
    if the caller has it (it does not depend on the ZeRO shard)."""
    if base is None:
        base = step_base(setup, plan)
    shard = zero_shard(plan)
    index = _ShapeIndex(base)

    def scaled(ops: tuple[Op, ...]) -> tuple[Op, ...]:
        return tuple(_scale_stream(op, shard) for op in ops if isinstance(op, Stream))

    optimizer_layer_ops = tuple(_layer_parts(setup, base.parts, "optimizer"))
    optimizer_model_ops = base.parts[("model", "optimizer")]
    return ShardedStep(
        layer_fwd=base.layer_fwd,
        layer_bwd=base.layer_bwd,
        layer_recompute=base.layer_recompute,
        layer_attention=base.layer_attention,
        layer_shared=base.layer_shared,
        embedding=base.embedding,
        head=base.head,
        optimizer_layer=tuple(index.of(scaled(ops)) for ops in optimizer_layer_ops),
        optimizer_model=index.of(scaled(optimizer_model_ops)),
        optimizer_layer_ops=optimizer_layer_ops,
        optimizer_model_ops=optimizer_model_ops,
        ops=tuple(index.ops),
        shapes=tuple(index.shapes),  # insertion order: shapes[i] is ops[i]'s
    )
