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
  + product), GeGLU 9, GELU (tanh form) 8, RoPE 3 (two products, one add), softmax 5.
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
)
from tigris.workload.precision import Precision
from tigris.workload.spec import LayerKind, TransformerSpec

NORM_FLOP_PER_ELEMENT = {"rmsnorm": 4.0, "layernorm": 7.0}
ACTIVATION_FLOP_PER_ELEMENT = {"swiglu": 5.0, "geglu": 9.0, "gelu": 8.0, "relu": 1.0, "silu": 4.0}
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


def norm(shape: Shape, name: str, rows: int) -> Step:
    """LayerNorm / RMSNorm over the hidden size. Backward runs as two kernels in PyTorch
    (native layer_norm_backward: the input-gradient kernel, then GammaBetaBackward) and in
    apex/Megatron's fused norms (cuComputePartGradGammaBeta, then cuComputeGradInput): each
    reads x and dY, so the backward reads them twice and writes dX and the weight grads."""
    spec = shape.spec
    step = elementwise(
        shape,
        name,
        rows * spec.hidden_size,
        inputs=1,
        flop_per_element=NORM_FLOP_PER_ELEMENT[spec.norm],
        weight_elements=spec.norm_params,
    )
    if not shape.backward:
        return step
    (backward,) = step.backward
    elements = rows * spec.hidden_size
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
    """norm, QKV projection (+ bias), RoPE, KV-cache append, attention, output projection
    (+ bias), residual add, for a layer of `kind` (None: the first layer's)."""
    kind = layer_kind(shape, kind)
    spec, precision, tokens = shape.spec, shape.precision, shape.tokens
    h, qkv_width = spec.hidden_size, spec.q_size + 2 * spec.kv_size
    steps = [norm(shape, "attn.norm", tokens), weight_gemm(shape, "attn.qkv", tokens, qkv_width, h)]
    if spec.qkv_bias:
        steps.append(bias_add(shape, "attn.qkv.bias", tokens, qkv_width))
    if spec.position == "rope":
        rotated = round(tokens * (spec.q_size + spec.kv_size) * spec.rotary_fraction)
        steps.append(
            elementwise(
                shape, "attn.rope", rotated, inputs=1, flop_per_element=ROPE_FLOP_PER_ELEMENT
            )
        )
    if shape.kv_cache:
        steps.append(kv_append(shape))
    core = make_attention(  # name, batch, heads, KV heads, head dim, q_len, kv_len, causal
        "attn.core",
        shape.batch,
        spec.num_heads,
        spec.num_kv_heads,
        spec.head_dim,
        shape.q_len,
        shape.kv_len,
        True,
        precision.compute_dtype,  # dtype
        precision.kv_cache if shape.kv_cache and shape.kv_len > shape.q_len else None,
        "fwd",
        kind.window,  # window
    )
    core_bwd = (copy_op(core, name="attn.core.bwd", phase="bwd"),) if shape.backward else ()
    steps.append(Step(core, core_bwd))
    steps.append(weight_gemm(shape, "attn.out", tokens, h, spec.q_size))
    if spec.attention_out_bias:
        steps.append(bias_add(shape, "attn.out.bias", tokens, h))
    steps.append(residual_add(shape, "attn.residual"))
    return steps


def kv_append(shape: Shape) -> Step:
    """The new tokens' K and V written to the cache (cast to the cache dtype). Inference only."""
    spec = shape.spec
    elements = 2 * shape.tokens * spec.kv_size
    written = elements * dtype_bytes(shape.precision.kv_cache)
    op = make_stream("attn.kv_append", elements, elements * shape.act_bytes, written, 0.0)
    return Step(op, ())


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
