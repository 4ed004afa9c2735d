"""Decoder front ends: a `TransformerSpec` (GPT-2 style or Llama style) with weights
drawn from a seed, as a compiler graph of a prefill over given sequence lengths.

GPT-2 style: learned positions, LayerNorm, fused QKV with bias, tanh-GELU MLP with biases,
residual adds fused into the projections' epilogues, final LayerNorm, tied LM head.
Llama style: RMSNorm, fused QKV (GQA), RoPE (rotate-half, base 10000) on Q and K, fused
[gate | up] projection, SiLU-gated MLP, final RMSNorm, LM head.
Weights: N(0, 0.02^2) (GPT-2's initialisation), norm gains 1 + N(0, 0.1^2), biases
N(0, 0.02^2), or given by name (`weights=`, from a checkpoint: `tigris.toolchain.frontends.hf` maps a
Hugging Face checkpoint's tensors onto these names). What the spec asks for and this front end cannot express (mixture of experts,
sliding windows, partial rotary, parallel residual) becomes an `Unsupported` operator,
which the compiler refuses by name.
"""

from __future__ import annotations

import numpy as np

from tigris.errors import SpecError
from tigris.toolchain.compiler.graph import (
    Attention,
    Embedding,
    GatedActivation,
    Graph,
    LayerNorm,
    Linear,
    Node,
    RMSNorm,
    Rope,
    Unsupported,
)
from tigris.workload.spec import TransformerSpec

ROPE_BASE = 10000.0


def rope_tables(
    seq_lengths: tuple[int, ...], head_dim: int, base: float = ROPE_BASE
) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [tokens, head_dim] for each token's position in its sequence."""
    positions = np.concatenate([np.arange(n) for n in seq_lengths]).astype(np.float64)
    inv = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = positions[:, None] * inv[None, :]
    angles = np.concatenate([angles, angles], axis=1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def _unsupported(spec: TransformerSpec) -> list[tuple[str, str]]:
    found = []
    if spec.is_moe:
        found.append(("mlp.moe", "mixture of experts"))
    if spec.sliding_window is not None:
        found.append(("attn.sliding_window", "sliding-window attention"))
    if spec.rotary_fraction < 1:
        found.append(("attn.partial_rope", "partial rotary embedding"))
    if spec.parallel_residual:
        found.append(("layer.parallel_residual", "parallel residual"))
    return found


def decoder_graph(
    spec: TransformerSpec,
    seq_lengths: tuple[int, ...],
    *,
    seed: int = 0,
    lm_head: bool = True,
    weights: dict[str, np.ndarray] | None = None,
    norm_eps: float = 1e-5,
    rope_base: float = ROPE_BASE,
    activation: str | None = None,
) -> Graph:
    """The prefill graph of `spec` over sequences of `seq_lengths` tokens: random weights
    from `seed`, or `weights` by graph name (every name the graph uses, at its shape).
    `activation` overrides the MLP activation's lowering (gelu, gelu_tanh, silu, relu)."""
    rng = np.random.default_rng(seed)
    h, d = spec.hidden_size, spec.head_dim
    heads, kv = spec.num_heads, spec.num_kv_heads
    qkv_width = (heads + 2 * kv) * d
    gpt = spec.norm == "layernorm"
    c: dict[str, np.ndarray] = {}

    def weight(name: str, *shape: int, scale: float = 0.02, offset: float = 0.0) -> str:
        if weights is None:
            c[name] = (offset + scale * rng.standard_normal(shape)).astype(np.float32)
            return name
        if name not in weights:
            raise SpecError(f"no weight {name!r} given", key_path="weights")
        value = np.ascontiguousarray(weights[name], dtype=np.float32)
        if value.shape != shape:
            raise SpecError(
                f"weight {name!r} has shape {list(value.shape)}, expected {list(shape)}",
                key_path="weights",
            )
        c[name] = value
        return name

    nodes: list[Node | Unsupported] = []
    table = weight("embed.tokens", spec.vocab_size, h)
    positions = (
        weight("embed.positions", spec.max_position_embeddings, h)
        if spec.position == "learned"
        else None
    )
    nodes.append(Embedding("embed", "x0", "ids", table, positions))
    if spec.position == "rope":
        c["rope.cos"], c["rope.sin"] = rope_tables(seq_lengths, d, rope_base)
    for kind_name, kind in _unsupported(spec):
        nodes.append(Unsupported(kind_name, f"{kind_name}.out", "x0", kind))
    x = "x0"
    act = activation or ("gelu_tanh" if spec.activation == "gelu" else spec.activation)
    for layer in range(spec.num_layers):
        p = f"l{layer}"

        def norm(name: str, src: str, p: str = p) -> str:
            out = f"{p}.{name}"
            gamma = weight(f"{out}.g", h, scale=0.1, offset=1.0)
            if gpt:
                nodes.append(LayerNorm(out, out, src, gamma, weight(f"{out}.b", h), norm_eps))
            else:
                nodes.append(RMSNorm(out, out, src, gamma, norm_eps))
            return out

        def bias(name: str, width: int, on: bool) -> str | None:
            return weight(name, width) if on else None

        n1 = norm("attn_norm", x)
        qkv = f"{p}.qkv"
        nodes.append(
            Linear(
                qkv,
                qkv,
                n1,
                weight(f"{qkv}.w", h, qkv_width),
                bias(f"{qkv}.b", qkv_width, spec.qkv_bias),
            )
        )
        if spec.position == "rope":
            nodes.append(
                Rope(f"{p}.rope", f"{p}.qkv_rope", qkv, "rope.cos", "rope.sin", d, heads + kv)
            )
            qkv = f"{p}.qkv_rope"
        nodes.append(Attention(f"{p}.attn", f"{p}.attn", qkv, heads, kv, d, causal=True))
        o = f"{p}.attn_out"
        nodes.append(
            Linear(
                o,
                o,
                f"{p}.attn",
                weight(f"{o}.w", heads * d, h),
                bias(f"{o}.b", h, spec.attention_out_bias),
                residual=x,
            )
        )
        n2 = norm("mlp_norm", o)
        f = spec.ffn_hidden_size
        if spec.gated_mlp:
            gu = f"{p}.gate_up"
            nodes.append(
                Linear(
                    gu,
                    gu,
                    n2,
                    weight(f"{gu}.w", h, 2 * f),
                    bias(f"{gu}.b", 2 * f, spec.mlp_bias),
                )
            )
            gated = activation or ("silu" if spec.activation == "swiglu" else "gelu_tanh")
            nodes.append(GatedActivation(f"{p}.act", f"{p}.act", gu, gated))
            inner = f"{p}.act"
        else:
            up = f"{p}.up"
            nodes.append(
                Linear(
                    up,
                    up,
                    n2,
                    weight(f"{up}.w", h, f),
                    bias(f"{up}.b", f, spec.mlp_bias),
                    activation=act,
                )
            )
            inner = up
        down = f"{p}.down"
        nodes.append(
            Linear(
                down,
                down,
                inner,
                weight(f"{down}.w", f, h),
                bias(f"{down}.b", h, spec.mlp_bias),
                residual=o,
            )
        )
        x = down
    final = "final_norm"
    gamma = weight("final_norm.g", h, scale=0.1, offset=1.0)
    if gpt:
        nodes.append(LayerNorm(final, final, x, gamma, weight("final_norm.b", h), norm_eps))
    else:
        nodes.append(RMSNorm(final, final, x, gamma, norm_eps))
    output = final
    if lm_head:
        if spec.tie_word_embeddings:
            c["lm_head.w"] = np.ascontiguousarray(c[table].T)
        else:
            weight("lm_head.w", h, spec.vocab_size)
        nodes.append(Linear("lm_head", "logits", final, "lm_head.w"))
        output = "logits"
    return Graph(spec.name, tuple(nodes), c, tuple(seq_lengths), output=output)


def tiny_spec(style: str, **overrides: object) -> TransformerSpec:
    """A small GPT-2-style or Llama-style spec for tests and examples."""
    base: dict[str, object] = {
        "hidden_size": 128,
        "num_layers": 2,
        "num_heads": 4,
        "head_dim": 32,
        "vocab_size": 512,
        "max_position_embeddings": 256,
    }
    if style == "gpt2":
        base |= dict(
            name="gpt2-tiny",
            num_kv_heads=4,
            ffn_hidden_size=512,
            activation="gelu",
            gated_mlp=False,
            norm="layernorm",
            position="learned",
            tie_word_embeddings=True,
            qkv_bias=True,
            attention_out_bias=True,
            mlp_bias=True,
        )
    elif style == "llama":
        base |= dict(
            name="llama-tiny",
            num_kv_heads=2,
            ffn_hidden_size=384,
            activation="swiglu",
            gated_mlp=True,
            norm="rmsnorm",
            position="rope",
            tie_word_embeddings=False,
        )
    else:
        raise ValueError(f"unknown style {style!r}")
    base |= overrides
    return TransformerSpec(**base)  # type: ignore[arg-type]
