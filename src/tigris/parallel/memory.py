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
The 34 are GPT-3's layer (Korthikanti Sec. 4.1): 4 for the two LayerNorm inputs, 2 the
QKV GEMM input, 4 + 2 Q, K and V, 2 the output projection input, 2 the MLP input, 8 + 8
the 4h-wide GeLU input and second GEMM input, 1 + 1 the two dropout masks. A model's own
layer (`layer_activation_terms`) counts K and V by its KV heads, the MLP by its width
(and the gate, when gated; the top-k experts' width for MoE) and the masks only when
trained with dropout: Llama 3.1 405B (GQA 8 of 128 heads, 3.25h SwiGLU, no dropout)
keeps 31.75 s b h / t, not 34.

Model state per parameter (Rajbhandari et al. 2020, ZeRO) in mixed precision with Adam:
the compute-dtype weights, gradients in the precision's grad dtype (Megatron's fp32
main_grad), fp32 master weights and two fp32 Adam moments. ZeRO-1 shards the optimizer
state over dp, ZeRO-2 also the gradients, ZeRO-3 (FSDP) also the weights, keeping two
layers' gathered weights (the one computing and the one prefetched). Under ZeRO-3 the
weight shard is the master copy itself: PyTorch FSDP keeps the sharded parameter in full
precision and casts it to param_dtype only when it gathers it ("FSDP does not require
any extra memory to keep a high-precision copy of the parameters for the optimizer
step", torch.distributed.fsdp MixedPrecisionPolicy), MaxText keeps fp32 weights; so 16
bytes per parameter over dp (fp32 weights, gradients, two moments), not 18. DeepSpeed's
ZeRO-3 keeps a 16-bit shard, 16-bit gradients and 12 bytes of optimizer state: the same
16 (Rajbhandari et al. 2020, Sec. 3).

LoRA (`tigris.workload.finetune`): the frozen base weights are kept in bf16 with no
gradient, master copy or optimizer state; the adapters have all four. A frozen linear
layer needs no saved input (its weight gradient does not run: PyTorch saves a matmul
input only for the gradient that needs it), so the inputs of the projections without an
adapter are not kept: the QKV input (2 s b h) and the MLP input (2 s b h), replicated over
tp, and the attention-output and down-projection inputs (2 s b h times their widths over
h), split by tp. The adapters' own r-wide tensors are left out (r << h).
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.hardware.quantities import dtype_bytes
from tigris.parallel.pipeline import microbatches_in_flight
from tigris.parallel.plan import ParallelPlan
from tigris.parallel.stages import StageGroup, stage_groups
from tigris.workload.finetune import FineTune, lora_of, trainable_layer_params
from tigris.workload.precision import Precision
from tigris.workload.spec import MlpKind, TransformerSpec
from tigris.workload.tasks import layer_params

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
    terms: tuple[float, float] = (10.0, 24.0),
) -> float:
    """Korthikanti et al. 2022 Table 2: activation bytes one layer keeps for backward;
    `terms`: (replicated, tp-split) bytes per s b h of the layer (GPT-3's 10 and 24 by
    default; `layer_activation_terms` for a model's own)."""
    s, b, h, a, t = seq_len, micro_batch, hidden, heads, tp
    sbh = float(s) * b * h
    if recompute == "full":
        return 2 * sbh / (t if sequence_parallel else 1)
    scores = 0.0 if flash_attention or recompute == "selective" else 5 * a * s / h
    replicated, split = terms
    if sequence_parallel:
        return sbh / t * (replicated + split + scores)
    return sbh * (replicated + split / t + scores / t)


def layer_activation_terms(
    spec: TransformerSpec, mlp: str = "dense", *, dropout: bool = False
) -> tuple[float, float]:
    """(replicated, tp-split) activation bytes per s b h of one layer of `spec` with an
    `mlp` ('dense' or 'moe') MLP (module docstring): norms' inputs, QKV and MLP inputs
    (and the dropout masks) replicated; Q, K, V, the attention output and the MLP's
    inner tensors split. GPT-3's shapes with dropout give Korthikanti's (10, 24)."""
    h = spec.hidden_size
    kv = 2 * 2 * spec.num_kv_heads * spec.head_dim / h if not spec.is_mla else 4.0
    if mlp == "moe":
        experts = spec.num_experts_per_token + spec.num_shared_experts
        width = experts * spec.expert_ffn_hidden_size / h
    else:
        width = spec.ffn_hidden_size / h
    inner = 2 * width * (2 if spec.gated_mlp else 1) + 2 * width
    replicated = 4.0 + 2.0 + 2.0 + (2.0 if dropout else 0.0)
    q = 2 * spec.q_size / h
    out = 2 * spec.num_heads * spec.value_head_dim / h
    return replicated, q + kv + out + inner


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per chip on the fullest pipeline stage."""

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


def layer_params_per_chip(spec: TransformerSpec, plan: ParallelPlan) -> tuple[float, ...]:
    """Parameters one chip holds of one layer of each kind (`spec.layer_kinds()` order):
    layer weights split by tp, routed experts also by ep (norms are replicated, a small
    error)."""
    out = []
    for kind, _ in spec.layer_kinds():
        moe = kind.mlp == "moe"
        expert = spec._mlp_params(spec.expert_ffn_hidden_size) if moe else 0
        experts = spec.num_experts * expert
        dense = layer_params(spec, kind) - experts
        out.append(dense / plan.tp + experts / (plan.tp * plan.ep))
    return tuple(out)


def stage_params(
    spec: TransformerSpec, plan: ParallelPlan, stage: StageGroup, ends: int
) -> tuple[float, float]:
    """(parameters of a chip of a stage holding `stage`'s layers and the model `ends`
    (1 embedding, 2 LM head, 3 both), parameters of its largest layer). The embedding
    and the LM head are vocabulary-parallel (split by tp); a tied head is the
    embedding's matrix (on the first stage)."""
    counts = spec.param_count()
    per_layer = layer_params_per_chip(spec, plan)
    layers = sum(n * layer for n, layer in zip(stage.kinds, per_layer, strict=True))
    embedding = (counts.embedding + counts.position_embedding) / plan.tp if ends & 1 else 0.0
    head = counts.lm_head / plan.tp if ends & 2 else 0.0
    largest = max(
        (layer for n, layer in zip(stage.kinds, per_layer, strict=True) if n), default=0.0
    )
    # DualPipe keeps two copies of the parameters (arXiv:2412.19437 Table 2)
    copies = 2 if plan.pp_schedule == "dualpipe" else 1
    return copies * (layers + embedding + head), largest


def _stage_ends(plan: ParallelPlan, stage: int) -> int:
    return (1 if stage == 0 else 0) | (2 if stage == plan.pp - 1 else 0)


def _memory_stages(
    plan: ParallelPlan, groups: tuple[StageGroup, ...]
) -> list[tuple[StageGroup, int]]:
    """(group, stage index) of the stages that can be the fullest: each group's first
    stage (the most micro-batches in flight) and the last stage (the LM head)."""
    out = [(group, group.first_stage) for group in groups]
    last = plan.pp - 1
    for group in groups:
        # a last stage holding the first stage's layers holds no more than it (fewer
        # micro-batches in flight, a head no larger than the embedding)
        if group.first_stage not in (0, last) and 2 in group.ends:
            out.append((group, last))
    return out


@dataclass(frozen=True, slots=True)
class StageWeights:
    """A stage that can be the fullest (`_memory_stages`) with the parameters its chip
    holds: what memory reads of the model and of the plan's layout (tp, ep, pp, virtual
    stages, pp_layers, schedule), alike for every plan of that layout."""

    group: StageGroup
    stage: int
    params: float  # the chip's parameters (`stage_params`)
    largest: float  # those of its largest layer
    trained: float  # the trainable ones: all, or under LoRA the adapters
    lora: FineTune | None  # the model's LoRA fine-tuning, if any


def stage_weights(spec: TransformerSpec, plan: ParallelPlan) -> tuple[StageWeights, ...]:
    """The StageWeights of each stage of `plan` that can be the fullest."""
    groups = stage_groups(spec, plan.pp, plan.virtual_stages, plan.pp_layers)
    lora = lora_of(spec)
    out = []
    for group, stage in _memory_stages(plan, groups):
        params, largest = stage_params(spec, plan, group, _stage_ends(plan, stage))
        trained = params if lora is None else stage_trainable_params(spec, plan, group)
        out.append(StageWeights(group, stage, params, largest, trained, lora))
    return tuple(out)


def params_per_chip(
    spec: TransformerSpec, plan: ParallelPlan, stages: tuple[StageWeights, ...] | None = None
) -> tuple[float, float]:
    """(trainable parameters of the chip of the stage holding the most, parameters of
    one of its layers, the largest): with an even split of alike layers, the first
    stage's (its layers and the embedding, and the LM head when pp = 1). Under LoRA the
    trainable ones are the adapters (what data parallelism reduces, a checkpoint saves).
    `stages`: the plan's `stage_weights`, if the caller has them."""
    stages = stages or stage_weights(spec, plan)
    found = max(stages, key=lambda stage: stage.params)
    if found.lora is None:
        return found.params, found.largest
    return max(stage.trained for stage in stages), found.largest


def stage_trainable_params(spec: TransformerSpec, plan: ParallelPlan, stage: StageGroup) -> float:
    """LoRA adapter parameters on a chip of a stage holding `stage`'s layers, split by tp
    as their projections are (the replicated A of a column-parallel projection: a small
    error)."""
    sizes = [trainable_layer_params(spec, kind) or 0 for kind, _ in spec.layer_kinds()]
    return sum(n * size for n, size in zip(stage.kinds, sizes, strict=True)) / plan.tp


def frozen_inputs_bytes(
    spec: TransformerSpec, plan: ParallelPlan, stage: StageGroup, seq_len: int, lora: FineTune
) -> float:
    """Bytes of one micro-batch's saved projection inputs that LoRA does not keep on a
    chip of a stage holding `stage`'s layers (module docstring)."""
    sbh = float(seq_len) * plan.micro_batch * spec.hidden_size
    replicated_tp = plan.tp if plan.sequence_parallel else 1
    total = 0.0
    for n, (kind, _) in zip(stage.kinds, spec.layer_kinds(), strict=True):
        replicated, split = frozen_input_terms(spec, kind.mlp, lora.lora_targets)
        total += n * (replicated / replicated_tp + split / plan.tp)
    return sbh * total


def frozen_input_terms(
    spec: TransformerSpec, mlp: MlpKind, targets: tuple[str, ...]
) -> tuple[float, float]:
    """(replicated, tp-split) saved bytes per s b h of the inputs of one layer's frozen
    projections without an adapter: QKV and MLP inputs (2 each), the attention output's
    input (2 heads v / h) and the down projection's (2 width / h; the top-k and shared
    experts' for MoE)."""
    h = spec.hidden_size
    if mlp == "moe":
        width = (spec.num_experts_per_token + spec.num_shared_experts) * spec.expert_ffn_hidden_size
    else:
        width = spec.ffn_hidden_size
    adapted = set(targets)
    replicated = 2.0 * (not adapted & {"q", "k", "v", "qkv"}) + 2.0 * (not adapted & {"gate", "up"})
    attention_out = 2.0 * spec.num_heads * spec.value_head_dim / h
    split = attention_out * ("o" not in adapted) + 2.0 * width / h * ("down" not in adapted)
    return replicated, split


def memory_per_chip(
    spec: TransformerSpec,
    plan: ParallelPlan,
    seq_len: int,
    num_microbatches: int,
    capacity_bytes: float,
    precision: Precision | None = None,
    stages: tuple[StageWeights, ...] | None = None,
    dropout: bool = False,
) -> MemoryBreakdown:
    """Memory of one chip of the fullest pipeline stage under `plan` (with an even split
    of alike layers, the first stage: the most micro-batches in flight); `stages`: the
    plan's `stage_weights`, if the caller has them."""
    precision = precision or Precision()
    terms = activation_terms(spec, dropout)
    fullest: MemoryBreakdown | None = None
    for weights in stages or stage_weights(spec, plan):
        found = stage_memory(
            spec, plan, seq_len, num_microbatches, capacity_bytes, precision, weights, terms
        )
        if fullest is None or found.total_bytes > fullest.total_bytes:
            fullest = found
    assert fullest is not None
    return fullest


def activation_terms(spec: TransformerSpec, dropout: bool) -> tuple[tuple[float, float], ...]:
    """`layer_activation_terms` of each layer kind (`spec.layer_kinds()` order), then of
    a dense layer (the one a full recomputation holds), kept with the spec."""

    def build(spec: TransformerSpec) -> tuple[tuple[float, float], ...]:
        kinds = [kind.mlp for kind, _ in spec.layer_kinds()]
        return tuple(layer_activation_terms(spec, mlp, dropout=dropout) for mlp in kinds) + (
            layer_activation_terms(spec, dropout=dropout),
        )

    return spec.derived(f"activation_terms_{dropout}", build)


def stage_memory(
    spec: TransformerSpec,
    plan: ParallelPlan,
    seq_len: int,
    num_microbatches: int,
    capacity_bytes: float,
    precision: Precision,
    weights: StageWeights,
    terms: tuple[tuple[float, float], ...],
) -> MemoryBreakdown:
    """Memory of one chip of pipeline stage `weights.stage`, which holds its group's
    layers; `terms`: `activation_terms` (the dropout masks kept when trained with them)."""
    group, stage, params = weights.group, weights.stage, weights.params
    weight_b = dtype_bytes("bf16")  # weights kept in bf16 (fp8 GEMMs cast on the fly)
    grad_b = dtype_bytes(precision.grad_dtype)
    state_b = dtype_bytes(precision.master_dtype) + 2 * dtype_bytes(precision.optimizer_state_dtype)
    dp = plan.dp
    lora = weights.lora
    trained = weights.trained
    frozen_weights = 0.0 if lora is None else params * weight_b
    weights_bytes = (frozen_weights + trained * weight_b) / (dp if plan.zero >= 3 else 1)
    grads = trained * grad_b / (dp if plan.zero >= 2 else 1)
    optimizer = trained * state_b / (dp if plan.zero >= 1 else 1)
    if plan.zero >= 3:  # the shard is the master copy, no 16-bit copy (module docstring)
        master = trained * dtype_bytes(precision.master_dtype) / dp
        weights_bytes += master - trained * weight_b / dp
        optimizer -= master
    local_seq = seq_len // plan.cp
    stage_layers = 0.0  # the activations of one micro-batch through the stage's layers
    for count, kind_terms in zip(group.kinds, terms, strict=False):  # last: full recompute's
        stage_layers += count * _layer_activations(spec, plan, local_seq, kind_terms)
    if lora is not None and plan.recompute != "full":
        stage_layers -= frozen_inputs_bytes(spec, plan, group, local_seq, lora)
    in_flight = microbatches_in_flight(
        plan.pp, num_microbatches, plan.virtual_stages, stage, plan.pp_schedule
    )
    activations = stage_layers * in_flight
    tokens = float(local_seq) * plan.micro_batch
    if plan.recompute == "full":  # one layer's full activations live while it recomputes
        activations += _layer_activations(spec, plan, local_seq, terms[-1], recompute="none")
    if plan.pp == 1:  # logits in fp32 for the loss (Korthikanti: 4 s b V / t)
        activations += 4 * tokens * spec.vocab_size / plan.tp
    buffers = 0.0
    if plan.zero >= 3:
        buffers += 2 * weights.largest * weight_b  # gathered layer + prefetch
    if plan.tp > 1 and plan.sequence_parallel:
        buffers += 2 * tokens * spec.hidden_size * 2  # all-gathered sequence for the GEMMs
    if plan.pp > 1:
        buffers += 2 * tokens * spec.hidden_size * 2 / plan.tp  # send and receive
    return MemoryBreakdown(weights_bytes, grads, optimizer, activations, buffers, capacity_bytes)


def _layer_activations(
    spec: TransformerSpec,
    plan: ParallelPlan,
    local_seq: int,
    terms: tuple[float, float],
    recompute: str | None = None,
) -> float:
    """`activation_bytes_per_layer` of one layer of `terms` on a chip of `plan`
    (FlashAttention; the plan's recomputation unless `recompute` is given)."""
    return activation_bytes_per_layer(
        local_seq,
        plan.micro_batch,
        spec.hidden_size,
        spec.num_heads,
        plan.tp,
        sequence_parallel=plan.sequence_parallel,
        recompute=plan.recompute if recompute is None else recompute,
        flash_attention=True,
        terms=terms,
    )
