"""Memory of one chip of a replica: weights, activations, and the paged KV cache.

Assumptions (the paged KV cache of vLLM, Kwon et al. 2023):
- Weights and the activation workspace of the largest step come first; the KV cache gets
  a share of the rest, cut into blocks of `block_size` tokens. A sequence holds
  ceil(tokens / block_size) blocks. How large a share is the engine's rule
  (`Deployment.memory_utilization_of`, set by the engine profiles in data/engines.yaml):
  vLLM's `gpu_memory_utilization` (default 0.9) is a share of the device's TOTAL memory
  that weights, activations and KV cache together may use (vllm/worker/worker.py
  determine_num_available_blocks: total x utilization - peak memory of the profiling
  run); TensorRT-LLM's `free_gpu_memory_fraction` (default 0.9) is a share of the memory
  still FREE once the engine's weights and activation buffers are allocated (TensorRT-LLM
  docs, "How to change KV cache behavior": "allocate 90% of free GPU memory for KV
  cache"). The CUDA context and library workspaces are not counted: no public figure
  per chip was found.
- Weights: every layer's matmul weights in the weight dtype (plus one fp16 scale per 128
  weights when the weights are narrower than 8 bits: group-wise int4, as AWQ/GPTQ
  store them); embedding, LM head and norms in the activation dtype (bf16 under fp8
  compute: Deployment.activation_dtype). tp splits every matrix
  (the vocabulary too), pp splits the layers; the first stage holds the embedding and the
  last the LM head. ep spreads the routed experts over ep chips (each expert split tp
  ways); attention, router and shared experts are replicated over ep.
- KV cache: K and V of the stage's layers for the chip's KV heads; when tp exceeds the KV
  heads (MQA/GQA) each chip keeps a replica of one head (Megatron/vLLM behaviour).
  Sliding-window and chunked layers are counted for every cached token, as a paged
  engine without per-layer-kind pools allocates them (vLLM before its hybrid KV-cache
  manager): an upper bound for engines that keep only the window.
- Layers that differ (DeepSeek-V3's dense first layers, Llama 4's interleaved MoE):
  the fullest stage's weights, layers assigned in order.
- Activation workspace: the largest step's tokens times the widest live tensors of a
  layer (input, residual and the widest projection output on this chip), plus fp32
  logits of every sequence of the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor

from tigris.hardware.quantities import dtype_bytes
from tigris.serving.deployment import Deployment
from tigris.workload.tasks import layer_params

QUANT_GROUP_SIZE = 128  # weights per scale in group-wise quantization (AWQ, GPTQ)
QUANT_SCALE_BYTES = 2.0  # one fp16 scale per group


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes on one chip (the fullest pipeline stage) and what the KV cache gets."""

    capacity_bytes: float
    usable_bytes: float
    weights_bytes: float
    activations_bytes: float
    kv_cache_bytes: float  # given to the KV cache (0 when weights do not fit)
    kv_bytes_per_token: float  # on this chip
    block_size: int
    num_blocks: int

    @property
    def fits(self) -> bool:
        """Weights and workspace fit, with room for at least one KV block."""
        return self.num_blocks > 0

    @property
    def kv_capacity_tokens(self) -> int:
        return self.num_blocks * self.block_size

    def blocks_for(self, num_tokens: int) -> int:
        return ceil(num_tokens / self.block_size)

    def max_batch(self, seq_len: int) -> int:
        """Most sequences of seq_len tokens whose KV cache fits at once on this chip (0 if
        none); a replica holds ep times as many (each ep rank keeps its own sequences)."""
        if not self.fits:
            return 0
        return self.num_blocks // self.blocks_for(max(seq_len, 1))

    def used_bytes(self, num_tokens_cached: int) -> float:
        """Weights + workspace + the blocks that num_tokens_cached tokens occupy."""
        blocks = self.blocks_for(num_tokens_cached)
        return (
            self.weights_bytes
            + self.activations_bytes
            + blocks * self.block_size * self.kv_bytes_per_token
        )


def weights_bytes_per_chip(deployment: Deployment) -> float:
    spec, precision = deployment.model, deployment.precision
    tp, pp = deployment.tp, deployment.pp
    weight_bytes = dtype_bytes(precision.weights)
    if weight_bytes < 1.0:
        weight_bytes += QUANT_SCALE_BYTES / QUANT_GROUP_SIZE
    act_bytes = dtype_bytes(deployment.activation_dtype)
    params = spec.param_count()
    layer_matmul = (spec.num_matmul_params(active=False) - spec.vocab_size * spec.hidden_size) / (
        spec.num_layers
    )
    layer_other = params.layer - layer_matmul  # norms, biases
    layers_per_stage = ceil(spec.num_layers / pp)
    expert_matmul = 0.0
    if spec.is_moe:
        expert_matmul = spec.num_experts * spec.mlp_matrices * spec.hidden_size
        expert_matmul *= spec.expert_ffn_hidden_size
    dense_matmul = layer_matmul - expert_matmul
    layer_bytes = (dense_matmul + expert_matmul / deployment.ep) * weight_bytes
    layer_bytes += layer_other * act_bytes
    embedding = (params.embedding + params.position_embedding) * act_bytes
    head = (params.lm_head + params.final_norm) * act_bytes
    ends = embedding + head if pp == 1 else max(embedding, head)
    if len(spec.layer_kinds()) > 1:
        return (_fullest_stage_bytes(deployment, weight_bytes, act_bytes) + ends) / tp
    return (layers_per_stage * layer_bytes + ends) / tp


def _fullest_stage_bytes(deployment: Deployment, weight_bytes: float, act_bytes: float) -> float:
    """Layer bytes of the fullest stage of a model whose layers differ: the layers split
    as evenly as they go (the first stages one more), in order, each kind's weights
    (its MLP dense or MoE; norms in the activation dtype, biases counted as weights)."""
    spec, pp = deployment.model, deployment.pp
    norms = spec.param_count().layer_norm
    kinds = {kind: k for k, (kind, _) in enumerate(spec.layer_kinds())}
    expert = spec.num_experts * spec.mlp_matrices * spec.hidden_size * spec.expert_ffn_hidden_size
    sizes = []
    for kind in kinds:
        routed = expert if kind.mlp == "moe" else 0
        matmul = layer_params(spec, kind) - norms - routed
        sizes.append((matmul + routed / deployment.ep) * weight_bytes + norms * act_bytes)
    each, extra = divmod(spec.num_layers, pp)
    sequence = spec.layer_sequence()
    fullest, start = 0.0, 0
    for stage in range(pp):
        count = each + (1 if stage < extra else 0)
        stage_bytes = sum(sizes[kinds[kind]] for kind in sequence[start : start + count])
        fullest, start = max(fullest, stage_bytes), start + count
    return fullest


def kv_bytes_per_token_per_chip(deployment: Deployment) -> float:
    """KV bytes one token holds on one chip: K and V of the chip's KV heads (a head per
    chip at least), or under multi-head latent attention the one latent of kv_lora_rank +
    qk_rope_head_dim values, which every tensor-parallel rank keeps whole (its heads all
    read it, as vLLM and SGLang without DP attention run DeepSeek)."""
    spec = deployment.model
    layers = ceil(spec.num_layers / deployment.pp)
    value_bytes = dtype_bytes(deployment.precision.kv_cache)
    if spec.is_mla:
        return float(layers * (spec.kv_lora_rank + spec.qk_rope_head_dim)) * value_bytes
    kv_heads = ceil(spec.num_kv_heads / deployment.tp)
    return layers * kv_heads * (spec.head_dim + spec.value_head_dim) * value_bytes


def activation_bytes_per_chip(deployment: Deployment, max_step_tokens: int) -> float:
    spec, tp = deployment.model, deployment.tp
    act = dtype_bytes(deployment.activation_dtype)
    width = spec.expert_ffn_hidden_size if spec.is_moe else spec.ffn_hidden_size
    up = (2 if spec.gated_mlp else 1) * width
    if spec.is_moe:
        up *= spec.num_experts_per_token
    widest = max(spec.q_size + 2 * spec.kv_size, up) / tp
    per_token = (2 * spec.hidden_size + widest) * act
    logits = min(max_step_tokens, deployment.max_num_seqs) * spec.vocab_size / tp * 4.0
    return max_step_tokens * per_token + logits


def _engine_share(deployment: Deployment, filled: float) -> float:
    """The bytes the engine may use: its share of device memory under vLLM's rule; under
    TensorRT-LLM's, what it `filled` (weights, activations and KV cache), or the whole
    device when the weights and activations leave nothing free."""
    capacity = deployment.chip.dram_capacity_bytes
    if deployment.memory_utilization_of == "free":
        return min(capacity, filled)
    return capacity * deployment.memory_utilization


def kv_cache_budget(deployment: Deployment, capacity: float, used: float) -> float:
    """Bytes the KV cache gets on a chip of `capacity` bytes whose weights and
    activations take `used`: vLLM's rule, utilization x capacity - used; TensorRT-LLM's,
    utilization x (capacity - used) (see the module docstring)."""
    share = deployment.memory_utilization
    if deployment.memory_utilization_of == "free":
        return max(0.0, share * (capacity - used))
    return max(0.0, share * capacity - used)


def plan_memory(deployment: Deployment, max_step_tokens: int | None = None) -> MemoryPlan:
    """The memory plan of one chip for steps of at most max_step_tokens tokens."""
    tokens = max_step_tokens or deployment.token_budget
    capacity = deployment.chip.dram_capacity_bytes
    weights = weights_bytes_per_chip(deployment)
    activations = activation_bytes_per_chip(deployment, tokens)
    per_token = kv_bytes_per_token_per_chip(deployment)
    kv_bytes = kv_cache_budget(deployment, capacity, weights + activations)
    usable = _engine_share(deployment, weights + activations + kv_bytes)
    num_blocks = floor(kv_bytes / (per_token * deployment.block_size))
    return MemoryPlan(
        capacity_bytes=capacity,
        usable_bytes=usable,
        weights_bytes=weights,
        activations_bytes=activations,
        kv_cache_bytes=kv_bytes,
        kv_bytes_per_token=per_token,
        block_size=deployment.block_size,
        num_blocks=num_blocks,
    )
