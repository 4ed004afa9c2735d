"""Partitioning an op graph over tensor (tp), expert (ep) and context (cp) parallel ranks.

`shard_graph` returns the ops ONE chip runs (Megatron-LM conventions, Shoeybi et al. 2019;
Korthikanti et al. 2022; Megatron-Core CP and EP):
- Column-parallel GEMMs (QKV, MLP up/gate, LM head over the vocabulary) split their
  output width N by tp; row-parallel GEMMs (attention output, MLP down) split their
  reduction K by tp. Data- and weight-gradient GEMMs follow their forward GEMM.
- Attention heads split by tp; KV heads split while tp <= KV heads, then each rank keeps
  one KV head (replicated), as Megatron does for GQA.
- Experts split by ep: each rank holds experts / ep of them and, after the all-to-all,
  runs all tokens routed to them from the ep group (same rows per rank, fewer weights).
  Expert widths also split by tp (expert tensor parallelism = tp).
- Context parallelism splits every token dimension by cp. Causal attention uses the
  load-balanced split of Megatron-CP: the sequence is cut into 2 cp chunks and rank i holds
  chunks i and 2 cp - 1 - i, so each rank gets exactly 1 / cp of the query-key pairs;
  it is written as the two attention ops of rank 0 (chunk 0 sees 1 chunk of keys, chunk
  2 cp - 1 sees all 2 cp), whose pairs sum to that share.
- Elementwise work on the hidden state (norms, residual adds, embedding, biases of width h)
  is replicated over tp unless sequence parallelism splits it by tp; work on head- or
  FFN-sized tensors splits by tp. The vocabulary-parallel loss splits by tp.
- Optimizer streams shrink with the share of the layer's (or model's) weights a rank holds.

`layer_collectives` lists the collectives one layer needs per micro-batch, forward or
backward, that partitioning adds.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil
from typing import NamedTuple

from tigris.errors import InfeasibleError
from tigris.parallel.plan import ParallelPlan
from tigris.workload.graph import OpGraph, OpGroup, make_graph, make_group
from tigris.workload.moe import rank_expert_load
from tigris.workload.ops import Attention, Gemm, Op, Stream, copy_op, make_gemm, make_stream
from tigris.workload.spec import TransformerSpec

# Streams over hidden-size tensors of every token: replicated over tp unless sequence parallel.
_HIDDEN_STREAMS = (
    "attn.norm",
    "mlp.norm",
    "attn.residual",
    "mlp.residual",
    "attn.out.bias",
    "mlp.down.bias",
    "moe.shared.down.bias",
    "moe.expert.down.bias",
    "embed.tokens",
    "embed.positions",
    "head.norm",
    "moe.router",
    "moe.topk",
    "moe.dispatch",
    "moe.combine",
    # LoRA's adapter output added to a row-parallel projection's (hidden-wide) output
    "attn.out.lora_add",
    "mlp.down.lora_add",
    "moe.shared.down.lora_add",
    "moe.expert.down.lora_add",
)


class Shards(NamedTuple):
    tp: int
    ep: int
    cp: int
    sequence_parallel: bool
    moe_imbalance: float = 1.0  # busiest ep rank's routed rows / the mean (workload.moe)


# An expert GEMM set's forward (batch experts, rows each) -> the busiest rank's (experts,
# rows each), or None where the rank runs that set's rows in another set's GEMM.
ExpertMap = dict[tuple[int, int], tuple[int, int] | None]


class LayerCollective(NamedTuple):
    """One collective a layer issues per micro-batch: kind, NCCL buffer bytes, group role."""

    kind: str
    message_bytes: float
    group_role: str  # "tp" | "cp" | "ep"


def _div(value: int, by: int) -> int:
    """value / by, rounded up (uneven splits: the busiest rank sets the pace)."""
    return max(1, ceil(value / by))


def _base_name(name: str) -> str:
    for suffix in (".dgrad", ".wgrad", ".bwd"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _gemm_role(base: str) -> str:
    if base.endswith((".lora_a", ".lora_b")):
        return _adapter_role(base)
    if base.endswith(".qkv"):
        return "qkv"
    if base.endswith((".gate_up", ".up")) or base == "head.logits":
        return "column"
    if base.endswith(".down") or base == "attn.out":
        return "row"
    return "replicated"


def _adapter_role(base: str) -> str:
    """A LoRA adapter ('<projection>.<target>.lora_a|b') splits as its projection does
    (NeMo's ParallelLinearAdapter): B of a column-parallel projection by its output, A of
    a row-parallel one by its input; the other one is replicated (A of a column-parallel
    projection then sees the rank's sequence shard under sequence parallelism: r << h)."""
    role = _gemm_role(base.rsplit(".", 2)[0])
    if role in ("qkv", "column"):
        return "column" if base.endswith(".lora_b") else "replicated"
    if role == "row":
        return "row" if base.endswith(".lora_a") else "replicated"
    return "replicated"


def _trainable(ops: tuple[Op, ...]) -> tuple[Op, ...]:
    """The GEMMs whose weights the optimizer updates: LoRA's adapters if the ops have
    any (the base weights are then frozen), else every one."""
    adapters = tuple(op for op in ops if isinstance(op, Gemm) and ".lora_" in op.name)
    return adapters or ops


@lru_cache(maxsize=4096)
def _gemm_info(name: str) -> tuple[int, str, bool]:
    """(0 forward, 1 data gradient, 2 weight gradient), role, is an expert GEMM: what
    sharding reads from a GEMM's name, parsed once per name."""
    base = _base_name(name)
    kind = 1 if name.endswith(".dgrad") else 2 if name.endswith(".wgrad") else 0
    return kind, _gemm_role(base), base.startswith("moe.expert")


@lru_cache(maxsize=4096)
def _is_hidden_stream(name: str) -> bool:
    return _base_name(name) in _HIDDEN_STREAMS


def _qkv_width(attention: Attention, tp: int) -> int:
    """QKV output columns one tp rank holds: its query heads and its (or a copy of one)
    KV head pair."""
    kv_heads = attention.num_kv_heads // tp if tp <= attention.num_kv_heads else 1
    return (attention.num_heads // tp + 2 * kv_heads) * attention.head_dim


def _forward_dims(op: Gemm, kind: int) -> tuple[int, int, int]:
    """The forward GEMM's (m, n, k): dgrad is [m, k] x [k, n] of forward (m, n, k) as
    (m, k, n), wgrad as (k, n, m)."""
    if kind == 0:
        return op.m, op.n, op.k
    if kind == 1:
        return op.m, op.k, op.n
    return op.k, op.n, op.m


def _shard_gemm(
    op: Gemm, shards: Shards, attention: Attention | None, experts: ExpertMap | None = None
) -> Gemm | None:
    """The GEMM one rank runs; None when it is an expert GEMM whose rows the busiest
    rank runs in another set's GEMM (`experts`: that rank's load, _expert_map)."""
    tp, ep, cp, sp = shards.tp, shards.ep, shards.cp, shards.sequence_parallel
    kind, role, expert = _gemm_info(op.name)
    m, n, k = _forward_dims(op, kind)
    batch = op.batch
    if cp > 1:
        m = _div(m, cp)
    if expert and experts is not None:
        load = experts.get((batch, m))
        if load is None:
            return None
        batch, m = load
    elif expert and ep > 1:
        batch, m = _div(batch, ep), m * ep
    if role == "qkv" and attention is not None:
        n = _qkv_width(attention, tp)
    elif role == "column":
        n = _div(n, tp)
    elif role == "row":
        k = _div(k, tp)
    elif sp:  # replicated weights (router) see only the rank's sequence shard
        m = _div(m, tp)
    if kind == 1:
        m, n, k = m, k, n
    elif kind == 2:
        m, n, k = k, n, m
    if m == op.m and n == op.n and k == op.k and batch == op.batch:
        return op
    return make_gemm(op.name, m, n, k, batch, op.dtype, op.out_dtype, op.weight_dtype)


def _shard_attention(op: Attention, shards: Shards) -> tuple[Attention, ...]:
    tp, cp = shards.tp, shards.cp
    kv_heads = op.num_kv_heads // tp if tp <= op.num_kv_heads else 1
    sharded = copy_op(op, num_heads=op.num_heads // tp, num_kv_heads=kv_heads)
    if cp == 1:
        return (sharded,)  # type: ignore[return-value]
    full_causal = op.causal and op.q_len == op.kv_len and op.window is None
    if full_causal and op.q_len % (2 * cp) == 0:
        chunk = op.q_len // (2 * cp)
        first = copy_op(sharded, q_len=chunk, kv_len=chunk)
        last = copy_op(sharded, q_len=chunk, kv_len=op.kv_len)
        return (first, last)  # type: ignore[return-value]
    return (copy_op(sharded, q_len=_div(op.q_len, cp)),)  # type: ignore[return-value]


def _scale_stream(op: Stream, factor: float) -> Stream:
    if factor == 1.0:
        return op
    return make_stream(
        op.name,
        max(1, round(op.num_elements * factor)),
        op.bytes_read * factor,
        op.bytes_written * factor,
        op.flop_per_element,
    )


def _weight_elements(ops: tuple[Op, ...]) -> float:
    return sum(op.batch * op.k * op.n for op in ops if isinstance(op, Gemm))


def _expert_map(ops: tuple[Op, ...], shards: Shards) -> tuple[ExpertMap | None, float]:
    """The busiest ep rank's expert load in a group of ops (workload.moe): each expert
    GEMM set's forward (experts, rows each) as the graph spreads the group's routed rows
    (floor or ceil of their share, one or two sets) mapped to the rank's (experts, rows
    each), the largest set carrying all the rank's rows; and the factor by which the
    experts' streams (activation, biases) grow on that rank. (None, 1.0) without ep or
    experts. An even load that divides gives each GEMM the old (experts / ep, rows x ep)."""
    if shards.ep == 1:
        return None, 1.0
    sets: set[tuple[int, int]] = set()
    num_experts = 0
    for op in ops:
        if not isinstance(op, Gemm):
            continue
        kind, _, expert = _gemm_info(op.name)
        m, n, _ = _forward_dims(op, kind)
        if expert:
            sets.add((op.batch, _div(m, shards.cp) if shards.cp > 1 else m))
        elif _base_name(op.name) == "moe.router":
            num_experts = n
    if not sets or not num_experts:
        return None, 1.0
    routed = sum(count * rows for count, rows in sets)  # the mean rank's rows
    load = rank_expert_load(routed, num_experts, shards.ep, shards.moe_imbalance)
    largest = max(sets, key=lambda item: item[1])
    mapping: ExpertMap = {item: (load if item == largest else None) for item in sets}
    return mapping, load[0] * load[1] / routed


def _shard_ops(ops: tuple[Op, ...], shards: Shards) -> tuple[Op, ...]:
    """The ops one rank (the busiest of its ep group) runs."""
    attention = None
    for op in ops:
        if type(op) is Attention:
            attention = op
            break
    tp, cp, sp = shards.tp, shards.cp, shards.sequence_parallel
    hidden_factor = 1 / (cp * (tp if sp else 1))
    other_factor = 1 / (cp * tp)
    experts, expert_rows = _expert_map(ops, shards)
    out: list[Op] = []
    for op in ops:
        if isinstance(op, Gemm):
            gemm = _shard_gemm(op, shards, attention, experts)
            split: tuple[Op, ...] = () if gemm is None else (gemm,)
        elif isinstance(op, Attention):
            split = _shard_attention(op, shards)
        else:  # _stream_factor, with the two factors worked out once
            factor = hidden_factor if _is_hidden_stream(op.name) else other_factor
            if expert_rows != 1.0 and op.name.startswith("moe.expert."):
                factor *= expert_rows
            split = (_scale_stream(op, factor),)  # type: ignore[arg-type]
        out.extend(split)
    return tuple(out)


def _sharded_weight_elements(ops: tuple[Op, ...], shards: Shards) -> float:
    """_weight_elements(_shard_ops(ops, shards)), sharding only the GEMMs."""
    attention = next((op for op in ops if isinstance(op, Attention)), None)
    total = 0
    for op in ops:
        if isinstance(op, Gemm):
            split = _shard_gemm(op, shards, attention)
            if split is not None:
                total += split.batch * split.k * split.n
    return total


def check_shards(graph: OpGraph, tp: int, ep: int, cp: int) -> None:
    """InfeasibleError with the reason when the model cannot be split this way."""
    for value, name in ((tp, "tp"), (ep, "ep"), (cp, "cp")):
        if value < 1:
            raise InfeasibleError(f"{name} must be at least 1, got {value}")
    has_router = False
    for group in graph.groups:
        for op in group.ops:
            if isinstance(op, Attention):
                if op.num_heads % tp:
                    raise InfeasibleError(
                        f"tp={tp} does not divide the {op.num_heads} attention heads"
                    )
                kv = op.num_kv_heads
                if (tp <= kv and kv % tp) or (tp > kv and tp % kv):
                    raise InfeasibleError(
                        f"tp={tp} and the {kv} KV heads do not divide one another"
                    )
                if cp > 1 and op.q_len % cp:
                    raise InfeasibleError(f"cp={cp} does not divide the sequence of {op.q_len}")
            elif op.name == "moe.router":
                has_router = True
                if isinstance(op, Gemm) and op.n % ep:
                    raise InfeasibleError(f"ep={ep} does not divide the {op.n} experts")
    if ep > 1 and not has_router:
        raise InfeasibleError(f"ep={ep} needs a mixture-of-experts model")


def shard_graph(
    graph: OpGraph,
    *,
    tp: int = 1,
    ep: int = 1,
    cp: int = 1,
    sequence_parallel: bool = False,
    moe_imbalance: float = 1.0,
) -> OpGraph:
    """The op graph one chip runs when the model is split tp x ep x cp ways: with ep, the
    busiest rank's, whose routed rows are `moe_imbalance` times the mean
    (tigris.workload.moe)."""
    check_shards(graph, tp, ep, cp)
    if tp == ep == cp == 1:
        return graph
    shards = Shards(tp, ep, cp, sequence_parallel and tp > 1, moe_imbalance)
    groups: list[OpGroup] = []
    # a group whose ops are the very tuple of an earlier group (recompute repeats the
    # forward layer's) gets that group's split
    done: dict[int, tuple[Op, ...]] = {}
    forward = {(g.name, g.kind): g.ops for g in graph.groups if g.phase == "fwd"}
    weight_shares: dict[tuple, float] = {}
    for group in graph.groups:
        if group.phase == "optimizer":
            # the layers' weights (of the group's kind) for a layer optimizer; the
            # vocabulary-parallel LM head (and embedding) for the rest of the model
            part = ("layer", group.kind) if group.name == "layer" else ("head", None)
            factor = weight_shares.get(part)
            if factor is None:
                source = _trainable(forward.get(part, ()))
                whole = _weight_elements(source)
                share = _sharded_weight_elements(source, Shards(tp, ep, 1, False))
                factor = weight_shares[part] = share / whole if whole else 1.0
            ops = tuple(_scale_stream(op, factor) for op in group.ops if isinstance(op, Stream))
        else:
            ops = done.get(id(group.ops))  # type: ignore[assignment]
            if ops is None:
                ops = done[id(group.ops)] = _shard_ops(group.ops, shards)
        groups.append(make_group(group.name, group.phase, group.count, ops, group.kind))
    return make_graph(
        graph.model,
        graph.task,
        graph.batch,
        graph.seq_len,
        _div(graph.num_tokens, cp),
        tuple(groups),
    )


ACTIVATION_BYTES = 2.0  # activations and their gradients travel in bf16


def plan_layer_collectives(
    spec: TransformerSpec,
    tokens: int,
    plan: ParallelPlan,
    phase: str = "fwd",
    moe_imbalance: float = 1.0,
) -> list[LayerCollective]:
    """layer_collectives under a plan's tp, ep, cp and sequence parallelism, with
    activations of ACTIVATION_BYTES."""
    return layer_collectives(
        spec,
        tokens,
        plan.tp,
        plan.ep,
        plan.cp,
        plan.sequence_parallel,
        ACTIVATION_BYTES,
        phase=phase,
        moe_imbalance=moe_imbalance,
    )


def layer_collectives(
    spec: TransformerSpec,
    tokens: int,
    tp: int = 1,
    ep: int = 1,
    cp: int = 1,
    sequence_parallel: bool = False,
    dtype_bytes: float = 2.0,
    *,
    phase: str = "fwd",
    moe_imbalance: float = 1.0,
) -> list[LayerCollective]:
    """Collectives of one decoder layer for `tokens` tokens of a micro-batch (the whole
    sequence(s) the tp x cp group works on), in the forward or backward pass.

    - tp: an all-reduce of the hidden state after the attention and MLP blocks
      (forward; their mirror before QKV and MLP-up in backward), or with sequence
      parallelism an all-gather before and a reduce-scatter after each block.
    - cp: the ring exchange of K and V (cp - 1 steps of one chunk; backward also returns
      dK and dV), overlapped with attention by Megatron-CP.
    - ep: all-to-all dispatch and combine of the routed tokens: each rank sends its
      tokens x top_k rows of the hidden state (the 1 / ep of them routed to its own
      experts stay: collectives' all-to-all sends only the rest, inside the scale-up
      domain at its link rate and across domains at the NIC rate per chip). The busiest
      rank receives `moe_imbalance` times the mean, and the exchange waits for it, so the
      message grows by that factor. Every routed copy crosses separately: DeepSeek-V3's
      node-limited routing (at most 4 nodes per token, each token sent once per node over
      InfiniBand and forwarded over NVLink, arXiv:2412.19437 sections 2.1.2 and 3.2.2) is
      not modelled, so across nodes this is an upper bound on the NIC bytes (top_k
      copies against at most 4).
    """
    h = spec.hidden_size
    local_tokens = tokens / cp
    hidden_bytes = local_tokens * h * dtype_bytes
    out: list[LayerCollective] = []
    if tp > 1:
        if sequence_parallel:
            for _ in range(2):
                out.append(LayerCollective("all_gather", hidden_bytes, "tp"))
                out.append(LayerCollective("reduce_scatter", hidden_bytes, "tp"))
        else:
            out += [LayerCollective("all_reduce", hidden_bytes, "tp")] * 2
    if cp > 1:
        kv_heads = spec.num_kv_heads // tp if tp <= spec.num_kv_heads else 1
        kv_chunk = local_tokens * 2 * kv_heads * spec.head_dim * dtype_bytes
        per_step = kv_chunk * (2 if phase == "bwd" else 1)
        out += [LayerCollective("p2p", per_step, "cp")] * (cp - 1)
    if spec.is_moe and ep > 1:
        shard = tp if sequence_parallel and tp > 1 else 1
        routed = local_tokens / shard * spec.num_experts_per_token * h * dtype_bytes
        if moe_imbalance != 1.0:
            routed *= moe_imbalance
        out += [LayerCollective("all_to_all", routed, "ep")] * 2
    return out
