"""Memory per chip: weights, gradients, optimizer state, activations, buffers.

Activations per layer follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in
Large Transformer Models"), Table 2, for s tokens of sequence, b sequences, h hidden, a
heads, t tensor-parallel ranks, 2-byte activations (bytes per layer):
    no parallelism                      s b h (34 + 5 a s / h)
    tensor parallel                     s b h (10 + 24 / t + 5 a s / (h t))
    tensor + sequence parallel          s b h / t (34 + 5 a s / h)
    tensor + selective recomputation    s b h (10 + 24 / t)
    tensor + sequence + selective       s b h 34 / t
    full recomputation                  2 s b h (the layer input; / t with sequence parallel)
The 5 a s / h term is the attention score matrices (softmax output and dropout mask);
FlashAttention never stores them, so with `flash_attention` it drops (selective
recomputation then saves nothing more). Context parallelism divides s by cp.

Model state per parameter (Rajbhandari et al. 2020, ZeRO) in mixed precision with Adam:
the compute-dtype weights, gradients in the precision's grad dtype (Megatron's fp32
main_grad), fp32 master weights and two fp32 Adam moments. ZeRO-1 shards the optimizer
state over dp, ZeRO-2 also the gradients, ZeRO-3 (FSDP) also the weights, keeping two
layers' gathered weights (the one computing and the one prefetched).
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.hardware.quantities import dtype_bytes
from tigris.parallel.pipeline import microbatches_in_flight
from tigris.parallel.plan import ParallelPlan
from tigris.workload.precision import Precision
from tigris.workload.spec import TransformerSpec

# Share of DRAM the framework can allocate: the CUDA context, NCCL's own buffers and the
# caching allocator's fragmentation take the rest.
USABLE_DRAM_FRACTION = 0.92


def activation_bytes_per_layer(
    seq_len: int,
    micro_batch: int,
    hidden: int,
    heads: int,
    tp: int = 1,
    *,
    sequence_parallel: bool = False,
    recompute: str = "none",
    flash_attention: bool = False,
) -> float:
    """Korthikanti et al. 2022 Table 2: activation bytes one layer keeps for backward."""
    s, b, h, a, t = seq_len, micro_batch, hidden, heads, tp
    sbh = float(s) * b * h
    if recompute == "full":
        return 2 * sbh / (t if sequence_parallel else 1)
    scores = 0.0 if flash_attention or recompute == "selective" else 5 * a * s / h
    if sequence_parallel:
        return sbh / t * (34 + scores)
    return sbh * (10 + 24 / t + scores / t)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per chip on the busiest (first) pipeline stage."""

    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    buffers_bytes: float
    capacity_bytes: float

    @property
    def total_bytes(self) -> float:
        return (
            self.weights_bytes
            + self.gradients_bytes
            + self.optimizer_bytes
            + self.activations_bytes
            + self.buffers_bytes
        )

    @property
    def usable_bytes(self) -> float:
        return self.capacity_bytes * USABLE_DRAM_FRACTION

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.usable_bytes

    @property
    def over_bytes(self) -> float:
        return max(0.0, self.total_bytes - self.usable_bytes)

    def as_dict(self) -> dict[str, float]:
        return {
            "weights_bytes": self.weights_bytes,
            "gradients_bytes": self.gradients_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "activations_bytes": self.activations_bytes,
            "buffers_bytes": self.buffers_bytes,
            "total_bytes": self.total_bytes,
            "usable_bytes": self.usable_bytes,
        }


def params_per_chip(spec: TransformerSpec, plan: ParallelPlan) -> tuple[float, float]:
    """(parameters of the first stage's chip, parameters of one of its layers).

    Layer weights split by tp (experts also by ep; norms are replicated, a small error);
    the first stage also holds the vocabulary-parallel embedding (and the LM head when
    pp = 1 or tied)."""
    counts = spec.param_count()
    expert = spec._mlp_params(spec.expert_ffn_hidden_size) if spec.is_moe else 0
    experts = spec.num_experts * expert
    dense = counts.layer - experts
    layer = dense / plan.tp + experts / (plan.tp * plan.ep)
    layers = spec.num_layers / plan.pp * layer
    embedding = (counts.embedding + counts.position_embedding) / plan.tp
    head = counts.lm_head / plan.tp if plan.pp == 1 else 0.0
    return layers + embedding + head, layer


def memory_per_chip(
    spec: TransformerSpec,
    plan: ParallelPlan,
    seq_len: int,
    num_microbatches: int,
    capacity_bytes: float,
    precision: Precision | None = None,
    params: tuple[float, float] | None = None,
) -> MemoryBreakdown:
    """Memory of one chip of the first pipeline stage under `plan`; `params`: its
    `params_per_chip`, if the caller has them."""
    precision = precision or Precision()
    params, layer_params = params or params_per_chip(spec, plan)
    weight_b = dtype_bytes("bf16")  # weights kept in bf16 (fp8 GEMMs cast on the fly)
    grad_b = dtype_bytes(precision.grad_dtype)
    state_b = dtype_bytes(precision.master_dtype) + 2 * dtype_bytes(precision.optimizer_state_dtype)
    dp = plan.dp
    weights = params * weight_b / (dp if plan.zero >= 3 else 1)
    grads = params * grad_b / (dp if plan.zero >= 2 else 1)
    optimizer = params * state_b / (dp if plan.zero >= 1 else 1)
    local_seq = seq_len // plan.cp
    per_layer = activation_bytes_per_layer(
        local_seq,
        plan.micro_batch,
        spec.hidden_size,
        spec.num_heads,
        plan.tp,
        sequence_parallel=plan.sequence_parallel,
        recompute=plan.recompute,
        flash_attention=True,
    )
    layers_per_stage = spec.num_layers / plan.pp
    in_flight = microbatches_in_flight(plan.pp, num_microbatches, plan.virtual_stages)
    activations = per_layer * layers_per_stage * in_flight
    tokens = float(local_seq) * plan.micro_batch
    if plan.recompute == "full":  # one layer's full activations live while it recomputes
        activations += activation_bytes_per_layer(
            local_seq,
            plan.micro_batch,
            spec.hidden_size,
            spec.num_heads,
            plan.tp,
            sequence_parallel=plan.sequence_parallel,
            flash_attention=True,
        )
    if plan.pp == 1:  # logits in fp32 for the loss (Korthikanti: 4 s b V / t)
        activations += 4 * tokens * spec.vocab_size / plan.tp
    buffers = 0.0
    if plan.zero >= 3:
        buffers += 2 * layer_params * weight_b  # gathered layer + prefetch
    if plan.tp > 1 and plan.sequence_parallel:
        buffers += 2 * tokens * spec.hidden_size * 2  # all-gathered sequence for the GEMMs
    if plan.pp > 1:
        buffers += 2 * tokens * spec.hidden_size * 2 / plan.tp  # send and receive
    return MemoryBreakdown(weights, grads, optimizer, activations, buffers, capacity_bytes)
