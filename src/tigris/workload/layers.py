"""The operators of the model's parts (embedding, decoder layer, head), forward and backward.

Each part is a list of `Step`s: a forward op and the ops of its backward. GEMM backward is
derived (data gradient dX = dY W^T and weight gradient dW = X^T dY, each as many flop as the
forward); attention backward is `Attention(phase='bwd')`; each memory-bound stream states its
own backward. Reversing the steps and taking their backward ops gives the backward pass.

Assumptions:
- Minimum bytes follow ops.py: every input read once, every output written once. Biases are
  added in the GEMM epilogue (only the bias vector is read). RoPE tables are computed on the
  fly.
- Vector flop per element are counted operations, a convention (they do not enter the
  closed-form checks): RMSNorm 4 (square, sum, scale, weight), LayerNorm 7, SwiGLU 5 (SiLU 4
  + product), GeGLU 9, GELU (tanh form) 8, squared ReLU 2, RoPE 3 (two products, one add),
  softmax 5 (also per attention-sink logit, in the attention op).
- Layers may differ (spec.layer_sequence()): each builder takes the layer's LayerKind, its
  attention window (sliding or chunked) and its MLP (dense, or MoE).
- MLA (DeepSeek-V2 section 2.1) runs expanded (kv_b over every key) for training and
  prefill, absorbed (attention over the cached latent) where that is cheaper: decode.
- MoE: tokens are spread evenly over the experts, so tokens * top_k routed rows give each
  expert floor or ceil of their share; an expert with no rows reads no weights (a decode
  step of one sequence touches only top_k experts). Dispatch and combine are streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from tigris.hardware.quantities import dtype_bytes
from tigris.workload.ops import (
    Gemm,
    Op,
    copy_op,
    make_attention,
    make_gemm,
    make_stream,
    window_pairs,
)
from tigris.workload.precision import Precision
from tigris.workload.spec import LayerKind, TransformerSpec

NORM_FLOP_PER_ELEMENT = {"rmsnorm": 4.0, "layernorm": 7.0}
ACTIVATION_FLOP_PER_ELEMENT = {
    "swiglu": 5.0,
    "geglu": 9.0,
    "gelu": 8.0,
    "relu": 1.0,
    "silu": 4.0,
    "relu2": 2.0,  # squared ReLU (Nemotron-4): max, then square
}
ROPE_FLOP_PER_ELEMENT = 3.0
SOFTMAX_FLOP_PER_ELEMENT = 5.0
CROSS_ENTROPY_BWD_FLOP_PER_ELEMENT = 3.0  # exp(x - max) / sum - onehot
LOSS_IMPLEMENTATIONS = ("fused", "fp32")
COMBINE_FLOP_PER_ELEMENT = 2.0  # weight times expert output, plus the sum


class Step(NamedTuple):
    """A forward op and the ops of its backward, in backward order (a named tuple: one
    is made per op of every graph built, and a tuple is the cheapest to make)."""

    forward: Op
    backward: tuple[Op, ...]


@dataclass(frozen=True)
class Shape:
    """What one pass sees: batch sequences, q_len new tokens each, attending to kv_len keys."""

    spec: TransformerSpec
    precision: Precision
    batch: int
    q_len: int
    kv_len: int
    kv_cache: bool  # inference: append K, V to the cache; attention reads the cache dtype
    # build each Step's backward ops (inference graphs read only the forward ones)
    backward: bool = field(default=True, compare=False)
    # derived once (read for every op built): batch * q_len, and the bytes of an
    # activation and of a gradient element
    tokens: int = field(init=False, repr=False, compare=False)
    act_bytes: float = field(init=False, repr=False, compare=False)
    grad_bytes: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        derived = self.__dict__
        derived["tokens"] = self.batch * self.q_len
        derived["act_bytes"] = dtype_bytes(self.precision.compute_dtype)
        derived["grad_bytes"] = dtype_bytes(self.precision.grad_dtype)


# ---- generic steps ---------------------------------------------------------------------


def gemm_backward(op: Gemm, precision: Precision) -> tuple[Gemm, Gemm]:
    """dX[m, k] = dY[m, n] @ W^T and dW[k, n] = X^T[k, m] @ dY (accumulated in grad dtype)."""
    dgrad = make_gemm(
        f"{op.name}.dgrad", op.m, op.k, op.n, op.batch, op.dtype, None, op.weight_dtype
    )
    wgrad = make_gemm(
        f"{op.name}.wgrad", op.k, op.n, op.m, op.batch, op.dtype, precision.grad_dtype, None
    )
    return dgrad, wgrad


def weight_gemm(shape: Shape, name: str, rows: int, n: int, k: int, batch: int = 1) -> Step:
    """rows x k activations times a k x n weight (batch = independent weights, MoE)."""
    precision = shape.precision
    op = make_gemm(name, rows, n, k, batch, precision.compute_dtype, None, precision.weights)
    if not shape.backward:
        return Step(op, ())
    return Step(op, gemm_backward(op, precision))


def elementwise(
    shape: Shape,
    name: str,
    elements: int,
    *,
    inputs: int,
    flop_per_element: float,
    weight_elements: int = 0,
) -> Step:
    """`inputs` same-size tensors in, one out; backward reads inputs and dY, writes dX each
    (and the weight gradient, reduced over tokens), at twice the forward flop."""
    a, g = shape.act_bytes, shape.grad_bytes
    forward = make_stream(
        name,
        elements,
        (inputs * elements + weight_elements) * a,
        elements * a,
        flop_per_element,
    )
    if not shape.backward:
        return Step(forward, ())
    backward = make_stream(
        f"{name}.bwd",
        elements,
        ((inputs + 1) * elements + weight_elements) * a,
        inputs * elements * a + weight_elements * g,
        2 * flop_per_element,
    )
    return Step(forward, (backward,))


def residual_add(shape: Shape, name: str) -> Step:
    """x + branch. Backward sums the gradients of the two paths: the same traffic."""
    elements = shape.tokens * shape.spec.hidden_size
    a = shape.act_bytes
    forward = make_stream(name, elements, 2 * elements * a, elements * a)
    if not shape.backward:
        return Step(forward, ())
    return Step(forward, (copy_op(forward, name=f"{name}.bwd"),))


def bias_add(shape: Shape, name: str, rows: int, width: int) -> Step:
    """Bias added in the GEMM epilogue: reads the bias vector; backward reduces dY over rows."""
    forward = make_stream(name, rows * width, width * shape.act_bytes, 0.0)
    if not shape.backward:
        return Step(forward, ())
    backward = make_stream(
        f"{name}.bwd", rows * width, rows * width * shape.act_bytes, width * shape.grad_bytes
    )
    return Step(forward, (backward,))


def norm(
    shape: Shape, name: str, rows: int, width: int | None = None, kind: str | None = None
) -> Step:
    """LayerNorm / RMSNorm (the model's, or `kind`) over rows of `width` (None: the hidden
    size; a head for qk_norm, a latent for MLA). Backward runs as two kernels in PyTorch
    (native layer_norm_backward: the input-gradient kernel, then GammaBetaBackward) and in
    apex/Megatron's fused norms (cuComputePartGradGammaBeta, then cuComputeGradInput): each
    reads x and dY, so the backward reads them twice and writes dX and the weight grads."""
    kind = kind or shape.spec.norm
    width = width or shape.spec.hidden_size
    elements = rows * width
    step = elementwise(
        shape,
        name,
        elements,
        inputs=1,
        flop_per_element=NORM_FLOP_PER_ELEMENT[kind],
        weight_elements=width * (2 if kind == "layernorm" else 1),  # scale (and bias)
    )
    if not shape.backward:
        return step
    (backward,) = step.backward
    extra = 2 * elements * shape.act_bytes  # x and dY once more, for the weight gradients
    return Step(step.forward, (copy_op(backward, bytes_read=backward.bytes_read + extra),))


# ---- embedding ---------------------------------------------------------------------------


def embedding_steps(shape: Shape) -> list[Step]:
    """Token rows gathered from the table (and learned positions added). Backward
    scatter-adds the token gradients into the table's gradient."""
    spec = shape.spec
    elements = shape.tokens * spec.hidden_size
    a, g = shape.act_bytes, shape.grad_bytes
    scatter = make_stream("embed.tokens.bwd", elements, elements * (a + g), elements * g)
    gather = make_stream("embed.tokens", elements, elements * a, elements * a, 0.0)
    backward = shape.backward
    steps = [Step(gather, (scatter,) if backward else ())]
    if spec.position == "learned":
        add = make_stream("embed.positions", elements, 2 * elements * a, elements * a)
        add_bwd = (copy_op(scatter, name="embed.positions.bwd"),) if backward else ()
        steps.append(Step(add, add_bwd))
    return steps


# ---- decoder layer -----------------------------------------------------------------------


def layer_kind(shape: Shape, kind: LayerKind | None) -> LayerKind:
    """The kind asked for, or the model's first layer's (every layer alike, as before)."""
    return shape.spec.layer_sequence()[0] if kind is None else kind


def attention_steps(shape: Shape, kind: LayerKind | None = None) -> list[Step]:
    """norm, the attention of a layer of `kind` (None: the first layer's): GQA/MHA or MLA,
    output projection (+ bias), residual add."""
    kind = layer_kind(shape, kind)
    spec, tokens = shape.spec, shape.tokens
    h = spec.hidden_size
    steps = [norm(shape, "attn.norm", tokens)]
    steps.extend(mla_steps(shape, kind) if spec.is_mla else gqa_steps(shape, kind))
    value_width = spec.value_head_dim if spec.is_mla else spec.head_dim
    steps.append(weight_gemm(shape, "attn.out", tokens, h, spec.num_heads * value_width))
    if spec.attention_out_bias:
        steps.append(bias_add(shape, "attn.out.bias", tokens, h))
    steps.append(residual_add(shape, "attn.residual"))
    return steps


def gqa_steps(shape: Shape, kind: LayerKind) -> list[Step]:
    """QKV projection (+ bias), per-head query and key norms (qk_norm), RoPE, KV-cache
    append, attention (V heads as wide as the K heads)."""
    spec, tokens = shape.spec, shape.tokens
    h, qkv_width = spec.hidden_size, spec.q_size + 2 * spec.kv_size
    steps = [weight_gemm(shape, "attn.qkv", tokens, qkv_width, h)]
    if spec.qkv_bias:
        steps.append(bias_add(shape, "attn.qkv.bias", tokens, qkv_width))
    if spec.qk_norm:
        steps.extend(head_norms(shape))
    if spec.position == "rope":
        steps.append(
            rope(shape, round(tokens * (spec.q_size + spec.kv_size) * spec.rotary_fraction))
        )
    if shape.kv_cache:
        steps.append(kv_append(shape, 2 * spec.kv_size))
    steps.append(core_attention(shape, kind, spec.num_kv_heads, spec.head_dim, reads_cache=True))
    return steps


def head_norms(shape: Shape) -> list[Step]:
    """qk_norm (Qwen3, Gemma 3): an RMSNorm over each query head and each key head, before
    RoPE, with one head_dim scale for the queries and one for the keys."""
    spec, tokens = shape.spec, shape.tokens
    return [
        norm(shape, "attn.q_norm", tokens * spec.num_heads, spec.head_dim, "rmsnorm"),
        norm(shape, "attn.k_norm", tokens * spec.num_kv_heads, spec.head_dim, "rmsnorm"),
    ]


def rope(shape: Shape, elements: int) -> Step:
    """Rotary embedding of `elements` query and key values (tables computed on the fly)."""
    return elementwise(
        shape, "attn.rope", elements, inputs=1, flop_per_element=ROPE_FLOP_PER_ELEMENT
    )


def core_attention(
    shape: Shape,
    kind: LayerKind,
    kv_heads: int,
    head_dim: int,
    v_head_dim: int | None = None,
    *,
    reads_cache: bool,
    kv_shared: bool = False,
) -> Step:
    """The attention op of a layer of `kind`: its window (sliding or chunked) and the
    model's sinks. K and V are read in the cache dtype when some keys come from the cache
    and `reads_cache` (MLA's expanded path reads keys the kv_b projection just computed)."""
    spec, precision = shape.spec, shape.precision
    cached = reads_cache and shape.kv_cache and shape.kv_len > shape.q_len
    core = make_attention(  # every field in order (see ops.Attention)
        "attn.core",
        shape.batch,
        spec.num_heads,
        kv_heads,
        head_dim,
        shape.q_len,
        shape.kv_len,
        True,  # causal
        precision.compute_dtype,
        precision.kv_cache if cached else None,
        "fwd",
        kind.window,
        "flash2",
        False,  # dropout
        "chunked" if kind.attention == "chunked" else "sliding",
        v_head_dim,
        kv_shared,
        spec.attention_sinks,
    )
    core_bwd = (copy_op(core, name="attn.core.bwd", phase="bwd"),) if shape.backward else ()
    return Step(core, core_bwd)


def kv_append(shape: Shape, width: int) -> Step:
    """The new tokens' cache rows written (cast to the cache dtype), `width` values per
    token: K and V (2 kv_size), or MLA's latent and rotary key. Inference only."""
    elements = shape.tokens * width
    written = elements * dtype_bytes(shape.precision.kv_cache)
    op = make_stream("attn.kv_append", elements, elements * shape.act_bytes, written, 0.0)
    return Step(op, ())


# ---- multi-head latent attention (DeepSeek-V2, arXiv:2405.04434, section 2.1) -------------


def mla_steps(shape: Shape, kind: LayerKind) -> list[Step]:
    """MLA (DeepSeek-V2 section 2.1; DeepSeek-V3, Kimi K2): the query through its low-rank
    pair (q_a, RMSNorm, q_b) or one full-rank q projection; kv_a_proj_with_mqa projects the
    hidden state to the KV latent (kv_lora_rank) and the decoupled rotary key
    (qk_rope_head_dim, one for all heads: section 2.1.3); the latent's RMSNorm; RoPE on the
    rotary parts of the queries and that key; the cache keeps latent + rotary key. Then
    either the expanded attention (prefill, training) or the absorbed one (decode)."""
    spec, tokens = shape.spec, shape.tokens
    latent, rotary = spec.kv_lora_rank or 0, spec.qk_rope_head_dim
    steps = mla_query_steps(shape)
    steps.append(weight_gemm(shape, "attn.kv_a", tokens, latent + rotary, spec.hidden_size))
    steps.append(norm(shape, "attn.kv_a_norm", tokens, latent, "rmsnorm"))
    if rotary:
        steps.append(rope(shape, tokens * (spec.num_heads + 1) * rotary))
    if shape.kv_cache:
        steps.append(kv_append(shape, latent + rotary))
    if mla_absorbs(shape, kind):
        steps.extend(mla_absorbed_steps(shape, kind))
    else:
        steps.extend(mla_expanded_steps(shape, kind))
    return steps


def mla_query_steps(shape: Shape) -> list[Step]:
    """Queries of heads x head_dim (head_dim = qk_nope + qk_rope): q_a down-projection, its
    RMSNorm and the q_b up-projection (q_lora_rank set), else one q projection."""
    spec, tokens = shape.spec, shape.tokens
    h, width, rank = spec.hidden_size, spec.q_size, spec.q_lora_rank
    if rank is None:
        return [weight_gemm(shape, "attn.q", tokens, width, h)]
    return [
        weight_gemm(shape, "attn.q_a", tokens, rank, h),
        norm(shape, "attn.q_a_norm", tokens, rank, "rmsnorm"),
        weight_gemm(shape, "attn.q_b", tokens, width, rank),
    ]


def mla_expanded_steps(shape: Shape, kind: LayerKind) -> list[Step]:
    """kv_b_proj up-projects the latent of every key into per-head non-rotary keys and
    values (the cached latents too when some keys are cached: chunked prefill, a prefix
    hit), then attention with QK width head_dim and AV width v_head_dim, the rotary key
    shared by the heads (counted per head, as the kernels read it)."""
    spec = shape.spec
    latent, value = spec.kv_lora_rank or 0, spec.value_head_dim
    nope = spec.head_dim - spec.qk_rope_head_dim
    keys = shape.batch * shape.kv_len
    heads = spec.num_heads
    return [
        weight_gemm(shape, "attn.kv_b", keys, heads * (nope + value), latent),
        core_attention(shape, kind, heads, spec.head_dim, value, reads_cache=False),
    ]


def mla_absorbed_steps(shape: Shape, kind: LayerKind) -> list[Step]:
    """Weight absorption as DeepSeek runs decode (section 2.1.2: W^UK absorbed into the
    query side, W^UV into the output side): each head's non-rotary query times its W^UK
    slice (qk_nope x kv_lora_rank) lands in the latent space; attention over the cached
    latent as one shared KV head (QK width kv_lora_rank + qk_rope_head_dim, AV width
    kv_lora_rank, V being the latent itself: the cache is read once); each head's output
    times its W^UV slice (kv_lora_rank x v_head_dim) before o_proj."""
    spec, tokens = shape.spec, shape.tokens
    latent, rotary, heads = spec.kv_lora_rank or 0, spec.qk_rope_head_dim, spec.num_heads
    nope = spec.head_dim - rotary
    return [
        weight_gemm(shape, "attn.uk", tokens, latent, nope, heads),
        core_attention(shape, kind, 1, latent + rotary, latent, reads_cache=True, kv_shared=True),
        weight_gemm(shape, "attn.uv", tokens, spec.value_head_dim, latent, heads),
    ]


def mla_absorbs(shape: Shape, kind: LayerKind) -> bool:
    """Whether MLA runs absorbed: at inference, when that costs fewer flop than expanding
    every key's latent (per head and sequence, factor 2 left out on both sides):
    absorbed q_len * r * (nope + v) + pairs * (2 r + rope) against expanded
    kv_len * r * (nope + v) + pairs * (head_dim + v). So every decode step (q_len 1) and a
    short pass over a long cache (speculative verification) absorb, as vLLM and SGLang
    run them; a prompt's prefill (q_len = kv_len) and training expand."""
    if not shape.kv_cache:
        return False
    spec = shape.spec
    r, rotary, value = spec.kv_lora_rank or 0, spec.qk_rope_head_dim, spec.value_head_dim
    mode = "chunked" if kind.attention == "chunked" else "sliding"
    pairs = window_pairs(shape.q_len, shape.kv_len, kind.window, mode)
    up = r * (spec.head_dim - rotary + value)
    absorbed = shape.q_len * up + pairs * (2 * r + rotary)
    expanded = shape.kv_len * up + pairs * (spec.head_dim + value)
    return absorbed < expanded


def dense_mlp_steps(shape: Shape, prefix: str, rows: int, width: int, batch: int = 1) -> list[Step]:
    """Up (and gate) projection, activation, down projection, for `batch` weight sets each
    seeing `rows` tokens (batch > 1 for MoE experts)."""
    spec = shape.spec
    h = spec.hidden_size
    up_width = 2 * width if spec.gated_mlp else width
    up_name = f"{prefix}.gate_up" if spec.gated_mlp else f"{prefix}.up"
    steps = [weight_gemm(shape, up_name, rows, up_width, h, batch)]
    if spec.mlp_bias:
        steps.append(bias_add(shape, f"{up_name}.bias", batch * rows, up_width))
    steps.append(
        elementwise(
            shape,
            f"{prefix}.act",
            batch * rows * width,
            inputs=2 if spec.gated_mlp else 1,
            flop_per_element=ACTIVATION_FLOP_PER_ELEMENT[spec.activation],
        )
    )
    steps.append(weight_gemm(shape, f"{prefix}.down", rows, h, width, batch))
    if spec.mlp_bias:
        steps.append(bias_add(shape, f"{prefix}.down.bias", batch * rows, h))
    return steps


def expert_row_split(rows: int, num_experts: int) -> list[tuple[int, int]]:
    """Rows spread evenly over experts: [(num experts, rows each)], empty experts left out."""
    each, extra = divmod(rows, num_experts)
    split = [(extra, each + 1), (num_experts - extra, each)]
    return [(count, size) for count, size in split if count > 0 and size > 0]


def moe_steps(shape: Shape) -> list[Step]:
    """Router GEMM and softmax/top-k, dispatch of tokens * top_k rows, the experts (evenly
    loaded), combine weighted by the router, and the shared experts (one dense MLP as wide
    as all of them, as DeepSeek-MoE implements them)."""
    spec, tokens = shape.spec, shape.tokens
    h, experts, top_k = spec.hidden_size, spec.num_experts, spec.num_experts_per_token
    a = shape.act_bytes
    routed = tokens * top_k
    steps = [weight_gemm(shape, "moe.router", tokens, experts, h)]
    steps.append(
        elementwise(
            shape, "moe.topk", tokens * experts, inputs=1, flop_per_element=SOFTMAX_FLOP_PER_ELEMENT
        )
    )
    dispatch = make_stream("moe.dispatch", routed * h, tokens * h * a, routed * h * a, 0.0)
    combine = make_stream(
        "moe.combine", routed * h, routed * h * a, tokens * h * a, COMBINE_FLOP_PER_ELEMENT
    )
    backward = shape.backward
    dispatch_bwd = (copy_op(combine, name="moe.dispatch.bwd"),) if backward else ()
    steps.append(Step(dispatch, dispatch_bwd))
    for count, rows in expert_row_split(routed, experts):
        steps.extend(dense_mlp_steps(shape, "moe.expert", rows, spec.expert_ffn_hidden_size, count))
    combine_bwd = (copy_op(dispatch, name="moe.combine.bwd"),) if backward else ()
    steps.append(Step(combine, combine_bwd))
    if spec.num_shared_experts:
        width = spec.num_shared_experts * spec.expert_ffn_hidden_size
        steps.extend(dense_mlp_steps(shape, "moe.shared", tokens, width))
    return steps


def mlp_steps(shape: Shape, kind: LayerKind | None = None) -> list[Step]:
    """norm, dense MLP (ffn_hidden_size wide, also in the 'dense' layers of an MoE model)
    or MoE, residual add, for a layer of `kind` (None: the first layer's)."""
    spec = shape.spec
    steps = [norm(shape, "mlp.norm", shape.tokens)]
    if layer_kind(shape, kind).mlp == "moe":
        steps.extend(moe_steps(shape))
    else:
        steps.extend(dense_mlp_steps(shape, "mlp", shape.tokens, spec.ffn_hidden_size))
    steps.append(residual_add(shape, "mlp.residual"))
    return steps


def layer_steps(shape: Shape, kind: LayerKind | None = None) -> list[Step]:
    """One decoder layer of `kind` (None: the first layer's; pre-norm, a parallel residual
    has the same operators)."""
    kind = layer_kind(shape, kind)
    return attention_steps(shape, kind) + mlp_steps(shape, kind)


# ---- head --------------------------------------------------------------------------------


def head_steps(
    shape: Shape, logit_rows: int, *, loss: bool, loss_impl: str = "fused"
) -> list[Step]:
    """Final norm and LM head on `logit_rows` rows; then cross-entropy loss (training) or
    the softmax of sampling (inference).

    `loss_impl` says how the loss kernel runs over the [rows, vocab] logits:
    - 'fused': one kernel reads the compute-dtype logits (fp32 inside) and writes the loss
      per row; backward reads the logits once and writes their gradient (flash-attn's
      cross-entropy, Megatron-core's fused loss, XLA).
    - 'fp32': the logits cast to fp32 and the softmax cross-entropy run as separate eager
      kernels (Megatron-LM 2021: vocab_parallel_cross_entropy(output.float())): forward
      cast (read a, write 4), max (read 4), subtract in place (4 + 4), exp (4 + 4), sum
      (4), divide in place (4 + 4), the softmax saved for backward; backward scales the
      saved softmax by the loss gradient in place (4 + 4) and casts it back (read 4,
      write a).
    """
    if loss_impl not in LOSS_IMPLEMENTATIONS:
        raise ValueError(f"unknown loss implementation {loss_impl!r}")
    spec = shape.spec
    vocab, a = spec.vocab_size, shape.act_bytes
    steps = [
        norm(shape, "head.norm", logit_rows),
        weight_gemm(shape, "head.logits", logit_rows, vocab, spec.hidden_size),
    ]
    elements = logit_rows * vocab
    if loss and loss_impl == "fp32":
        forward = make_stream(
            "head.loss",
            elements,
            elements * (a + 5 * 4.0),
            elements * 4 * 4.0,
            SOFTMAX_FLOP_PER_ELEMENT,
        )
        backward = make_stream(
            "head.loss.bwd",
            elements,
            elements * 2 * 4.0,
            elements * (4.0 + a),
            CROSS_ENTROPY_BWD_FLOP_PER_ELEMENT,
        )
        steps.append(Step(forward, (backward,)))
    elif loss:
        forward = make_stream(
            "head.loss", elements, elements * a, logit_rows * 4.0, SOFTMAX_FLOP_PER_ELEMENT
        )
        backward = make_stream(
            "head.loss.bwd",
            elements,
            elements * a,
            elements * a,
            CROSS_ENTROPY_BWD_FLOP_PER_ELEMENT,
        )
        steps.append(Step(forward, (backward,)))
    else:
        sample = make_stream(
            "head.sample", elements, elements * a, logit_rows * 4.0, SOFTMAX_FLOP_PER_ELEMENT
        )
        steps.append(Step(sample, ()))
    return steps


def forward_ops(steps: list[Step]) -> tuple[Op, ...]:
    return tuple(step.forward for step in steps)


def backward_ops(steps: list[Step]) -> tuple[Op, ...]:
    return tuple(op for step in reversed(steps) for op in step.backward)
