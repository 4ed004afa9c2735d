"""HOW LONG one engine step of a replica takes: the tile engine over the per-chip op graph.

A step runs some sequences' prefill chunks and other sequences' next decode token together
(continuous batching). Its time, on one chip of the replica, is the sum of:
- the token-wise work (every GEMM, norm, activation, embedding, KV append) for all T
  tokens of the step: the ops of `prefill_graph(spec, T, 1)` outside attention, sharded
  by `tigris.parallel.partition.shard_graph` for tp and ep;
- the LM head and sampling for the sequences that emit a token this step;
- attention: FlashAttention per prefill chunk (q new tokens over kv keys), and one
  FlashDecoding op (split-K over the KV sequence, as the tile engine models it) for the
  decoding sequences at their mean KV length (decode attention is linear in KV length);
- collectives (tigris.parallel.collectives): two all-reduces of the hidden state per layer
  over the tp group, two all-to-alls of the routed tokens per MoE layer over the ep group,
  and pp - 1 point-to-point sends of the hidden state between pipeline stages; with ep,
  the shared experts run while the dispatch all-to-all is in flight
  (tigris.parallel.overlap.shared_expert_overlap_s), and the busiest ep rank, with
  Deployment.moe_imbalance times the mean routed rows, sets the MoE layers' pace.
Pipeline stages run one after another within a step (no overlap of consecutive steps), so
pp adds memory, not speed. With ep, each of ep ranks takes 1/ep of the step's sequences.

Under fp8 (or int8) compute, as TensorRT-LLM and vLLM run it, only the GEMMs of the layers
run in the compute dtype: each reads its quantised input (the quantisation fused into the
producing kernel) and weights and writes a bf16 output; everything between GEMMs (norms,
RoPE, SwiGLU, residual adds, attention's Q and output, the tp all-reduces) stays in the
activation dtype (Deployment.activation_dtype), and the LM head is left unquantised.
With Deployment.moe_expert_gemm "sm80-a16" (TensorRT-LLM v0.9), the routed experts' GEMMs
instead multiply in 16 bits at the chip's mma.sync fraction (tigris.workload.moe).

Weights narrower than the compute dtype (int4 or int8 weights with bf16 activations, as
AWQ/GPTQ/Marlin kernels run them) are dequantised inside the GEMM: DEQUANT_FLOP_PER_WEIGHT
vector operations per weight for each block of BLOCK_M rows, issued by the same cores as
the matrix work (added to the GEMM's compute time, not overlapped).

Speed: the op lists of a dense model are linear in the token (or sequence) count, field
by field (every GEMM's m, every stream's elements and bytes): they are built from the
graph at counts 1 and 2 once per StepTimer and extrapolated, instead of building and
sharding the graph again for each count (a mixture-of-experts graph, whose routed ops
are not linear, is built each time). Identical ops are timed once per StepTimer.
Token-wise and LM-head times are exact below EXACT_TOKENS and linearly interpolated
between exact evaluations on a grid of GRID_PER_OCTAVE points per octave above it (GEMM
time is near-linear in M there); decode attention likewise in KV length. Exact values are
cached per StepTimer, so a simulation evaluates the engine only a few hundred times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from functools import cache
from math import ceil, floor, log2

from tigris.engines.base import OpTime, get_engine
from tigris.hardware.quantities import dtype_bytes
from tigris.parallel.clock import cap_adjust
from tigris.parallel.collectives import CommGroup, collective_time_s, custom_all_reduce_time_s
from tigris.parallel.overlap import collective_slowdown, shared_expert_overlap_s
from tigris.parallel.partition import layer_collectives, shard_graph
from tigris.serving.deployment import Deployment
from tigris.serving.ep_kernels import deepep_layer_s, overlapped_comm_s
from tigris.workload.graph import OpGraph
from tigris.workload.moe import MMA_SYNC_KERNEL, legacy_expert_dtype
from tigris.workload.ops import Attention, Gemm, Op
from tigris.workload.tasks import decode_graph, prefill_graph

EXACT_TOKENS = 128
DIRECT_GRAPHS = 2  # counts whose graph is built outright before templates take over
GRID_PER_OCTAVE = 16
EXACT_KV = 64
KV_GRID_PER_OCTAVE = 16
MLA_PROBE_KV_LEN = 4096  # a decode graph with this cache runs MLA absorbed (any long cache does)
DEQUANT_FLOP_PER_WEIGHT = 4.0  # unpack (shift, mask), convert, scale
BLOCK_M = 128  # rows of activations per dequantised weight tile


def _with(op: Op, changes: dict[str, object]) -> Op:
    """A copy of a frozen op with some fields changed, without dataclasses.replace's
    re-validation (the changed fields are counts already known to be valid): a few
    microseconds less per op, which is most of a cold evaluation's bookkeeping."""
    new = object.__new__(type(op))
    fields_ = new.__dict__
    fields_.update(op.__dict__)
    fields_.update(changes)
    return new


def _is_expert(op: Gemm) -> bool:
    """A routed expert's GEMM (not the router's, nor a shared expert's)."""
    return op.name.startswith("moe.expert.")


def grid_floor(x: float, exact_below: int, per_octave: int) -> tuple[int, int]:
    """The grid point at or below x and the spacing to the next one."""
    if x < exact_below:
        return floor(x), 1
    step = max(1, (1 << floor(log2(x))) // per_octave)
    return floor(x / step) * step, step


def interpolate(f, x: float, exact_below: int, per_octave: int) -> float:
    lo, step = grid_floor(x, exact_below, per_octave)
    low = f(lo)
    if x == lo:
        return low
    return low + (f(lo + step) - low) * (x - lo) / step


# Deployments whose timers `shared_timer` keeps before it forgets them all.
_MAX_TIMERS = 64


def deployment_key(deployment: Deployment) -> tuple:
    """A deployment's value: its fields, the chip and cluster as their JSON (serialised
    once per spec object; they hold lists, so they have no hash)."""
    return tuple(
        value.derived("value_json", _dump_json) if hasattr(value, "derived") else value
        for value in (getattr(deployment, f.name) for f in fields(deployment))
    )


def _dump_json(spec) -> str:  # noqa: ANN001 (a Chip or a Cluster)
    return spec.model_dump_json()


@cache
def _timers() -> dict[tuple, StepTimer]:
    """The process's StepTimers by deployment value (see shared_timer)."""
    return {}


def shared_timer(deployment: Deployment) -> StepTimer:
    """A StepTimer of `deployment`, shared by every call on an equal deployment in this
    process (its op and step times computed once), unless memoisation is off
    (TIGRIS_NO_MEMO=1, `tigris.parallel.step_memo.no_memo`): then a new one."""
    from tigris.parallel.step_memo import memo_enabled

    if not memo_enabled():
        return StepTimer(deployment)
    key, timers = deployment_key(deployment), _timers()
    found = timers.get(key)
    if found is None:
        if len(timers) >= _MAX_TIMERS:
            timers.clear()
        found = timers[key] = StepTimer(deployment)
    return found


class StepTimer:
    """Step times of one replica of a deployment, with the engine results it has cached."""

    def __init__(
        self, deployment: Deployment, adjust: Callable[[Op, OpTime], float] | None = None
    ) -> None:
        """`adjust`, when given, maps each op and the engine's result to the time used;
        by default a capped chip's ops run at the clock the cap rule allows each
        (tigris.parallel.clock.cap_adjust; tigris.cost.power_scope.apply_power_cap)."""
        self.deployment = deployment
        self._adjust = adjust or cap_adjust(deployment.chip)
        self.engine = get_engine(deployment.engine)
        self._times_s = getattr(self.engine, "times_s", None)  # the same times, leaner
        spec, precision = deployment.model, deployment.precision
        self._gemm_dtype = precision.compute_dtype
        self._act_dtype = deployment.activation_dtype
        self._act_bytes = dtype_bytes(self._act_dtype)
        self._graph_precision = precision
        if self._act_dtype != self._gemm_dtype:
            self._graph_precision = precision.model_copy(
                update={
                    "compute_dtype": self._act_dtype,
                    "weight_dtype": precision.weights,
                    "kv_cache_dtype": precision.kv_cache,
                }
            )
        self._dequant = dtype_bytes(precision.weights) < dtype_bytes(self._gemm_dtype) and (
            precision.weights in ("int4", "int8", "fp4")
        )
        self._tokenwise: dict[int, float] = {}
        self._head: dict[int, float] = {}
        self._decode: dict[tuple[int, int], float] = {}
        # (batch, lo, step) -> exact times at lo and lo + step and the slope between
        self._segments: dict[tuple[int, int, int], tuple[float, float, float]] = {}
        self._prefill: dict[tuple[int, int, int], float] = {}
        self._op_cache: dict[Op, float] = {}
        self._expert_chip = self._legacy_expert_chip()
        self._expert_cache: dict[Op, float] = {}
        # one attention op per layer kind, with the kind's layer count (its window)
        self._attention_ops: tuple[tuple[int, Attention], ...] | None = None
        self._mla_decode_ops: tuple[tuple[int, Attention], ...] | None = None
        self._linear = not spec.is_moe
        self._graphs: dict[int, OpGraph] = {}  # count -> per-chip graph of count sequences
        self._templates: dict[str, list[tuple[int, Op, tuple[tuple[str, int], ...]]]] = {}
        self._num_layers = spec.num_layers
        self._moe_layers = sum(n for kind, n in spec.layer_kinds() if kind.mlp == "moe")
        self._groups = self._comm_groups()
        # host time per forward pass the device waits for (tigris.hardware.stacks)
        self._step_host_s = deployment.stack.step_overhead_s if deployment.stack else 0.0
        self._seq_host_s = deployment.stack.seq_overhead_s if deployment.stack else 0.0

    # ---- per-chip graph and op times -----------------------------------------------

    def _chip_graph(self, graph: OpGraph) -> OpGraph:
        d = self.deployment
        if d.tp > 1 or d.ep > 1:
            graph = shard_graph(graph, tp=d.tp, ep=d.ep, moe_imbalance=d.moe_imbalance)
        if self._act_dtype == self._gemm_dtype:
            return graph
        return self._quantised_gemms(graph)

    def _quantised_gemms(self, graph: OpGraph) -> OpGraph:
        """The graph (built in the activation dtype) with each weight GEMM outside the
        head reading its input in the compute dtype and writing the activation dtype; the
        LM head reads and writes the activation dtype, weights included."""
        quantised = {"dtype": self._gemm_dtype, "out_dtype": self._act_dtype}
        unquantised = {"weight_dtype": self._act_dtype}  # the LM head
        groups = tuple(
            replace(
                group,
                ops=tuple(
                    _with(op, unquantised if group.name == "head" else quantised)
                    if isinstance(op, Gemm) and op.weight_dtype
                    else op
                    for op in group.ops
                ),
            )
            for group in graph.groups
        )
        return replace(graph, groups=groups)

    def _legacy_expert_chip(self):  # noqa: ANN202 (a Chip or None)
        """The chip as an "sm80-a16" expert GEMM sees it (tigris.workload.moe): its
        matrix fraction that of mma.sync (the FlashAttention-2 fraction); None on the
        native path or for a dense model."""
        d = self.deployment
        if d.moe_expert_gemm == "native" or not d.model.is_moe:
            return None
        calibration = d.chip.calibration
        fraction = calibration.attention_matrix_fraction(MMA_SYNC_KERNEL)
        update = {"calibration": calibration.model_copy(update={"matrix_fraction": fraction})}
        return d.chip.model_copy(update=update)

    def _expert_gemm_s(self, op: Gemm) -> float:
        """An expert GEMM on the "sm80-a16" path: 16-bit multiplies on the mma.sync
        chip, reading the weights as stored and widening narrower ones in the kernel
        (the dequantisation rule of any narrow-weight GEMM)."""
        key = _with(op, {"name": ""})
        cached = self._expert_cache.get(key)
        if cached is None:
            dtype = legacy_expert_dtype(op.dtype, self._act_dtype)
            legacy = _with(op, {"dtype": dtype, "out_dtype": self._act_dtype})
            widen = dtype_bytes(op.weight_dtype or dtype) < dtype_bytes(dtype)
            cached = self._expert_cache[key] = self._engine_s(legacy, self._expert_chip, widen)
        return cached

    def op_time_s(self, op: Op) -> float:
        """The engine's time for one op, plus in-GEMM dequantisation of narrow weights."""
        if self._expert_chip is not None and isinstance(op, Gemm) and _is_expert(op):
            return self._expert_gemm_s(op)
        # keyed by shape, not name: attn.norm, mlp.norm and head.norm (or the two
        # residual adds) are one op to the engine, timed once.
        key = _with(op, {"name": ""})
        cached = self._op_cache.get(key)
        if cached is not None:
            return cached
        chip = self.deployment.chip
        dequant = bool(self._dequant and isinstance(op, Gemm) and op.weight_dtype)
        if self._times_s is not None and not dequant and self._adjust is None:
            time_s = self._op_cache[key] = self._times_s((op,), chip)[0]  # no OpTime needed
            return time_s
        time_s = self._op_cache[key] = self._engine_s(op, chip, dequant)
        return time_s

    def _engine_s(self, op: Op, chip, dequant: bool) -> float:  # noqa: ANN001 (a Chip)
        """The engine's time for `op` on `chip`, plus in-GEMM dequantisation of its
        weights when `dequant`, at the clock the cap rule allows."""
        result = self.engine.time(op, chip)
        time_s = result.time_s
        if dequant:
            passes = ceil(op.m / BLOCK_M)
            flop = DEQUANT_FLOP_PER_WEIGHT * op.batch * op.k * op.n * passes
            dequant_s = flop / chip.vector_flop_per_s()
            time_s = max(result.compute_s + dequant_s, result.memory_s) + result.overhead_s
        if self._adjust is not None:
            time_s = self._adjust(op, replace(result, time_s=time_s))
        return time_s

    # ---- op lists for a count of tokens or sequences -----------------------------------

    def _graph(self, count: int) -> OpGraph:
        """The per-chip graph of count one-token sequences: the token-wise ops are those
        of any count tokens (they see only tokens), the head has one row per sequence.
        A dense model's graphs are kept for counts 1 and 2 (the templates) and for the
        first DIRECT_GRAPHS other counts asked for (a static batch needs only two: its
        prefill tokens and its batch)."""
        graph = self._graphs.get(count)
        if graph is None:
            d = self.deployment
            graph = self._chip_graph(prefill_graph(d.model, count, 1, self._graph_precision))
            if self._linear:
                self._graphs[count] = graph
            if self._attention_ops is None:
                self._attention_ops = tuple(
                    (group.count, next(op for op in group.ops if isinstance(op, Attention)))
                    for group in graph.layer_groups("fwd")
                )
        return graph

    @property
    def _attentions(self) -> tuple[tuple[int, Attention], ...]:
        """(layers, attention op) of each layer kind of the per-chip graph (batch,
        lengths and KV dtype are set per use; the window is the kind's)."""
        if self._attention_ops is None:
            self._graph(1)
        return self._attention_ops  # type: ignore[return-value]

    @property
    def _attention(self) -> Attention:
        """The first kind's attention op (heads and KV heads are every kind's)."""
        return self._attentions[0][1]

    def _attention_s(self, changes: dict[str, object]) -> float:
        """Seconds of every layer's attention with `changes` to its op (0 + n x t for
        one kind: the float the whole model's n x t always was)."""
        return sum(n * self.op_time_s(_with(op, changes)) for n, op in self._attentions)

    def _graph_ops(self, kind: str, count: int) -> list[tuple[int, Op]]:
        """(repeats, op) of the token-wise ops (kind 'tokens': count tokens, attention and
        head left out) or of the head ('head': count sequences emitting a token)."""
        graph = self._graph(count)
        if kind == "tokens":
            return [
                (group.count, op)
                for group, op in graph.iter_grouped()
                if group.name != "head" and not isinstance(op, Attention)
            ]
        return [(group.count, op) for group, op in graph.iter_grouped() if group.name == "head"]

    def _template(self, kind: str) -> list[tuple[int, Op, tuple[tuple[str, int], ...]]]:
        """Ops at count 1 with the per-count step of each numeric field that changes."""
        template = self._templates.get(kind)
        if template is None:
            template = []
            for (repeats, one), (_, two) in zip(
                self._graph_ops(kind, 1), self._graph_ops(kind, 2), strict=True
            ):
                steps = []
                for f in fields(one):
                    a, b = getattr(one, f.name), getattr(two, f.name)
                    if a != b:
                        steps.append((f.name, b - a))
                template.append((repeats, one, tuple(steps)))
            self._templates[kind] = template
        return template

    def _ops(self, kind: str, count: int) -> list[tuple[int, Op]]:
        direct = len(self._graphs.keys() - {1, 2}) < DIRECT_GRAPHS
        if not self._linear or count <= 2 or count in self._graphs or direct:
            return self._graph_ops(kind, count)
        out = []
        extra = count - 1
        for repeats, one, steps in self._template(kind):
            op = one
            if steps:
                values = one.__dict__
                op = _with(one, {name: values[name] + step * extra for name, step in steps})
            out.append((repeats, op))
        return out

    def _comm_groups(self) -> dict[str, object]:
        d = self.deployment
        if d.chips_per_replica == 1:
            return {}
        cluster = d.system
        if cluster is None:
            from tigris.errors import InfeasibleError

            raise InfeasibleError(f"{d.chip.id} names no system to connect {d.num_chips} chips")
        return {
            "tp": CommGroup(cluster, d.chip, d.tp, 1),
            "ep": CommGroup(cluster, d.chip, d.ep, d.tp),
            "pp": CommGroup(cluster, d.chip, 2, d.tp * d.ep),
        }

    def _comm_s(self, rank_tokens: int) -> float:
        d = self.deployment
        if not self._groups:
            return 0.0
        per_layer = ep_s = 0.0
        times: dict[tuple[str, str, float], float] = {}  # a layer's two all-reduces: once
        deepep = d.ep_all_to_all == "deepep"
        for item in self._layer_collectives(rank_tokens):
            if deepep and item.group_role == "ep":
                continue  # timed below from DeepEP's published bandwidth
            key = (item.kind, item.group_role, item.message_bytes)
            time_s = times.get(key)
            if time_s is None:
                group = self._groups[item.group_role]
                if item.kind == "all_reduce" and d.all_reduce == "custom":
                    time_s = custom_all_reduce_time_s(item.message_bytes, group)
                else:
                    time_s = collective_time_s(item.kind, item.message_bytes, group)
                times[key] = time_s
            per_layer += time_s
            if item.group_role == "ep":
                ep_s += time_s
        if deepep and d.ep > 1 and d.model.is_moe:
            spec = d.model
            k, h = spec.num_experts_per_token, spec.hidden_size
            ep_s = deepep_layer_s(rank_tokens, d.ep, k, h, d.moe_imbalance)
            per_layer += ep_s
        hidden = rank_tokens * d.model.hidden_size * self._act_bytes
        p2p = (d.pp - 1) * collective_time_s("p2p", hidden, self._groups["pp"]) if d.pp > 1 else 0
        if 0 < self._moe_layers < self._num_layers:  # the all-to-alls of MoE layers only
            dense = per_layer - ep_s
            return self._num_layers * dense + self._moe_layers * ep_s + p2p
        return self._num_layers * per_layer + p2p

    def _layer_collectives(self, rank_tokens: int) -> list:
        """One layer's collectives for rank_tokens tokens on this deployment's groups."""
        d = self.deployment
        return layer_collectives(
            d.model, rank_tokens, tp=d.tp, ep=d.ep, dtype_bytes=self._act_bytes,
            moe_imbalance=d.moe_imbalance,
        )  # fmt: skip

    def _shared_overlap_s(self, rank_tokens: int, ops: list[tuple[int, Op]]) -> float:
        """Seconds the shared experts hide of the dispatch all-to-all, over every MoE
        layer (tigris.parallel.overlap.shared_expert_overlap_s; ep > 1 only)."""
        d = self.deployment
        if d.ep == 1 or not d.model.num_shared_experts or not self._groups:
            return 0.0
        if d.ep_all_to_all == "deepep":
            return 0.0  # DeepEP's dispatch is not an NCCL collective: no overlap counted
        # one MoE layer's shared experts (the mean over the layer kinds that have them)
        shared = [(n, op) for n, op in ops if op.name.startswith("moe.shared.")]
        shared_s = sum(n * self.op_time_s(op) for n, op in shared) / self._moe_layers
        dispatch = next(
            item for item in self._layer_collectives(rank_tokens) if item.group_role == "ep"
        )
        dispatch_s = collective_time_s(dispatch.kind, dispatch.message_bytes, self._groups["ep"])
        slowdown = collective_slowdown(d.chip)
        return self._moe_layers * shared_expert_overlap_s(dispatch_s, shared_s, slowdown)

    def _rank(self, count: int) -> int:
        """Sequences or tokens one ep rank takes of the replica's count."""
        return ceil(count / self.deployment.ep)

    # ---- exact component times --------------------------------------------------------

    def _tokenwise_exact(self, tokens: int) -> float:
        cached = self._tokenwise.get(tokens)
        if cached is not None:
            return cached
        if tokens <= 0:
            return 0.0
        rank_tokens = self._rank(tokens)
        ops = self._ops("tokens", rank_tokens)
        time_s = sum(repeats * self.op_time_s(op) for repeats, op in ops)
        if self.deployment.two_batch_overlap:  # the comm hides behind the other half
            time_s += overlapped_comm_s(self._comm_s(rank_tokens), time_s)
        else:
            time_s += self._comm_s(rank_tokens) - self._shared_overlap_s(rank_tokens, ops)
        self._tokenwise[tokens] = time_s
        return time_s

    def _head_exact(self, num_seqs: int) -> float:
        cached = self._head.get(num_seqs)
        if cached is not None:
            return cached
        time_s = sum(
            repeats * self.op_time_s(op) for repeats, op in self._ops("head", self._rank(num_seqs))
        )
        self._head[num_seqs] = time_s
        return time_s

    @property
    def _decode_attentions(self) -> tuple[tuple[int, Attention], ...]:
        """(layers, attention op) of each layer kind as a decode step runs it. The same
        ops as prefill's, except under multi-head latent attention: decode runs absorbed
        (one shared latent KV head of kv_lora_rank + rope width; layers.mla_absorbs), so
        its attention comes from a decode graph (one sequence, a long cache)."""
        if self._mla_decode_ops is None:
            if not self.deployment.model.is_mla:
                self._mla_decode_ops = self._attentions
            else:
                d = self.deployment
                graph = decode_graph(d.model, 1, MLA_PROBE_KV_LEN, self._graph_precision)
                self._mla_decode_ops = tuple(
                    (group.count, next(op for op in group.ops if isinstance(op, Attention)))
                    for group in self._chip_graph(graph).layer_groups("fwd")
                )
        return self._mla_decode_ops

    def _decode_exact(self, batch: int, kv_len: int) -> float:
        key = (batch, kv_len)
        cached = self._decode.get(key)
        if cached is None:
            changes: dict[str, object] = {
                "batch": self._rank(batch),
                "q_len": 1,
                "kv_len": max(kv_len, 1),
                "kv_dtype": self.deployment.precision.kv_cache,
            }
            if not self.deployment.model.is_mla:  # MLA's one latent head is read once
                kv_heads = self._attention.num_kv_heads
                if not self.deployment.grouped_kv_reads:
                    kv_heads = self._attention.num_heads
                changes["num_kv_heads"] = kv_heads
            cached = sum(
                n * self.op_time_s(_with(op, changes)) for n, op in self._decode_attentions
            )
            self._decode[key] = cached
        return cached

    # ---- public step terms ------------------------------------------------------------

    def tokenwise_s(self, num_tokens: float) -> float:
        """Token-wise work (GEMMs, streams, collectives) of a step of num_tokens tokens."""
        if num_tokens <= 0:
            return 0.0
        time_s = interpolate(self._tokenwise_exact, num_tokens, EXACT_TOKENS, GRID_PER_OCTAVE)
        return time_s + self._step_host_s if self._step_host_s else time_s

    def head_s(self, num_seqs: int) -> float:
        """LM head and sampling for num_seqs sequences emitting a token, and the stack's
        serial host time per sequence (output processing; 0 for most stacks)."""
        if num_seqs <= 0:
            return 0.0
        time_s = interpolate(self._head_exact, num_seqs, EXACT_TOKENS, GRID_PER_OCTAVE)
        return time_s + self._seq_host_s * num_seqs if self._seq_host_s else time_s

    def _decode_segment(self, batch: int, lo: int, step: int) -> tuple[float, float, float]:
        """The exact decode attention of batch sequences at grid point lo and the next
        one, lo + step, and the slope between them: one look-up for the interpolation
        and the closed-form sums (the values and arithmetic of _decode_exact's)."""
        key = (batch, lo, step)
        found = self._segments.get(key)
        if found is None:
            low = self._decode_exact(batch, lo)
            high = self._decode_exact(batch, lo + step)
            found = self._segments[key] = (low, high, (high - low) / step)
        return found

    def decode_attention_s(self, batch: int, kv_len: float) -> float:
        """Attention of batch decoding sequences of mean KV length kv_len, all layers
        (interpolate's arithmetic, without its per-call closure)."""
        if batch <= 0:
            return 0.0
        lo, step = grid_floor(kv_len, EXACT_KV, KV_GRID_PER_OCTAVE)
        if kv_len == lo:
            return self._decode_exact(batch, lo)
        low, high, _ = self._decode_segment(batch, lo, step)
        return low + (high - low) * (kv_len - lo) / step

    def sum_decode_attention_s(self, batch: int, first_kv: float, count: int) -> float:
        """Sum of decode_attention_s(batch, first_kv + j) for j = 0 .. count - 1 (count
        steps, the KV cache one token longer each), in closed form over the segments of
        the interpolation grid."""
        if batch <= 0 or count <= 0:
            return 0.0
        total = 0.0
        kv = float(first_kv)
        left = count
        while left > 0:
            lo, step = grid_floor(kv, EXACT_KV, KV_GRID_PER_OCTAVE)
            points = min(left, max(1, ceil(lo + step - kv)))
            low, _, slope = self._decode_segment(batch, lo, step)
            at_kv = low + slope * (kv - lo)
            total += points * at_kv + slope * points * (points - 1) / 2
            kv += points
            left -= points
        return total

    def prefill_attention_s(self, q_len: int, kv_len: int, count: int = 1) -> float:
        """FlashAttention of count sequences, each q_len new tokens over kv_len keys."""
        key = (q_len, kv_len, count)
        cached = self._prefill.get(key)
        if cached is None:
            kv_dtype = self.deployment.precision.kv_cache if kv_len > q_len else None
            changes = {"batch": self._rank(count), "q_len": q_len, "kv_len": kv_len}
            stack = self.deployment.stack
            if stack is not None and stack.attention is not None:  # the stack's kernel
                changes["implementation"] = stack.attention
            cached = self._attention_s(changes | {"kv_dtype": kv_dtype})
            self._prefill[key] = cached
        return cached

    def prefill_step_s(self, batch: int, prompt_len: int) -> float:
        """A step that prefills batch prompts of prompt_len tokens (nothing cached)."""
        return (
            self.tokenwise_s(batch * prompt_len)
            + self.head_s(batch)
            + self.prefill_attention_s(prompt_len, prompt_len, batch)
        )

    def decode_step_s(self, batch: int, kv_len: float) -> float:
        """A step in which batch sequences each decode one token over kv_len keys."""
        return self.tokenwise_s(batch) + self.head_s(batch) + self.decode_attention_s(batch, kv_len)
