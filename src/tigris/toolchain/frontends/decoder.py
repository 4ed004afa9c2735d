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
    build = _DecoderBuilder(spec, np.random.default_rng(seed), weights, norm_eps, activation)
    table = build.embedding(seq_lengths, rope_base)
    x = "x0"
    for layer in range(spec.num_layers):
        x = build.layer(f"l{layer}", x)
    output = build.norm("final_norm", x)
    if lm_head:
        output = build.lm_head(output, table)
    return Graph(spec.name, tuple(build.nodes), build.constants, tuple(seq_lengths), output=output)


class _DecoderBuilder:
    """Appends the graph's nodes and their weights. Random weights are drawn in the order
    the nodes ask for them, so a seed always gives the same weights: keep that order."""

    def __init__(
        self,
        spec: TransformerSpec,
        rng: np.random.Generator,
        weights: dict[str, np.ndarray] | None,
        norm_eps: float,
        activation: str | None,
    ) -> None:
        self.spec = spec
        self.rng = rng
        self.given = weights
        self.norm_eps = norm_eps
        self.activation = activation
        self.constants: dict[str, np.ndarray] = {}
        self.nodes: list[Node | Unsupported] = []

    def weight(self, name: str, *shape: int, scale: float = 0.02, offset: float = 0.0) -> str:
        """Put the constant `name`: drawn at random, or the given weight checked for shape."""
        if self.given is None:
            values = offset + scale * self.rng.standard_normal(shape)
            self.constants[name] = values.astype(np.float32)
            return name
        if name not in self.given:
            raise SpecError(f"no weight {name!r} given", key_path="weights")
        value = np.ascontiguousarray(self.given[name], dtype=np.float32)
        if value.shape != shape:
            raise SpecError(
                f"weight {name!r} has shape {list(value.shape)}, expected {list(shape)}",
                key_path="weights",
            )
        self.constants[name] = value
        return name

    def bias(self, name: str, width: int, on: bool) -> str | None:
        return self.weight(name, width) if on else None

    def embedding(self, seq_lengths: tuple[int, ...], rope_base: float) -> str:
        """Token (and learned position) embeddings, the RoPE tables, and an Unsupported
        node for each feature this front end cannot express. Returns the token table's
        name (a tied LM head reuses it)."""
        spec = self.spec
        h = spec.hidden_size
        table = self.weight("embed.tokens", spec.vocab_size, h)
        positions = (
            self.weight("embed.positions", spec.max_position_embeddings, h)
            if spec.position == "learned"
            else None
        )
        self.nodes.append(Embedding("embed", "x0", "ids", table, positions))
        if spec.position == "rope":
            cos, sin = rope_tables(seq_lengths, spec.head_dim, rope_base)
            self.constants["rope.cos"], self.constants["rope.sin"] = cos, sin
        for kind_name, kind in _unsupported(spec):
            self.nodes.append(Unsupported(kind_name, f"{kind_name}.out", "x0", kind))
        return table

    def norm(self, out: str, src: str) -> str:
        """LayerNorm (GPT-2 style) or RMSNorm (Llama style) of `src`, named `out`."""
        h = self.spec.hidden_size
        gamma = self.weight(f"{out}.g", h, scale=0.1, offset=1.0)
        if self.spec.norm == "layernorm":
            beta = self.weight(f"{out}.b", h)
            self.nodes.append(LayerNorm(out, out, src, gamma, beta, self.norm_eps))
        else:
            self.nodes.append(RMSNorm(out, out, src, gamma, self.norm_eps))
        return out

    def layer(self, p: str, x: str) -> str:
        """One pre-norm decoder layer on `x`; returns its output's name."""
        o = self.attention(p, self.norm(f"{p}.attn_norm", x), residual=x)
        return self.mlp(p, self.norm(f"{p}.mlp_norm", o), residual=o)

    def attention(self, p: str, src: str, residual: str) -> str:
        """Fused QKV projection, RoPE, causal attention and the output projection, with
        the residual add in its epilogue."""
        spec = self.spec
        h, d = spec.hidden_size, spec.head_dim
        heads, kv = spec.num_heads, spec.num_kv_heads
        qkv_width = (heads + 2 * kv) * d
        qkv = f"{p}.qkv"
        w = self.weight(f"{qkv}.w", h, qkv_width)
        b = self.bias(f"{qkv}.b", qkv_width, spec.qkv_bias)
        self.nodes.append(Linear(qkv, qkv, src, w, b))
        if spec.position == "rope":
            self.nodes.append(
                Rope(f"{p}.rope", f"{p}.qkv_rope", qkv, "rope.cos", "rope.sin", d, heads + kv)
            )
            qkv = f"{p}.qkv_rope"
        self.nodes.append(Attention(f"{p}.attn", f"{p}.attn", qkv, heads, kv, d, causal=True))
        o = f"{p}.attn_out"
        w = self.weight(f"{o}.w", heads * d, h)
        b = self.bias(f"{o}.b", h, spec.attention_out_bias)
        self.nodes.append(Linear(o, o, f"{p}.attn", w, b, residual=residual))
        return o

    def mlp(self, p: str, src: str, residual: str) -> str:
        """Gated ([gate | up] then the gated activation) or plain (activation in the up
        projection's epilogue) MLP; the residual add goes into the down projection."""
        spec = self.spec
        h, f = spec.hidden_size, spec.ffn_hidden_size
        if spec.gated_mlp:
            gu = f"{p}.gate_up"
            w = self.weight(f"{gu}.w", h, 2 * f)
            b = self.bias(f"{gu}.b", 2 * f, spec.mlp_bias)
            self.nodes.append(Linear(gu, gu, src, w, b))
            gated = self.activation or ("silu" if spec.activation == "swiglu" else "gelu_tanh")
            self.nodes.append(GatedActivation(f"{p}.act", f"{p}.act", gu, gated))
            inner = f"{p}.act"
        else:
            # GPT-2's "gelu" is the tanh approximation
            act = self.activation or ("gelu_tanh" if spec.activation == "gelu" else spec.activation)
            up = f"{p}.up"
            w = self.weight(f"{up}.w", h, f)
            b = self.bias(f"{up}.b", f, spec.mlp_bias)
            self.nodes.append(Linear(up, up, src, w, b, activation=act))
            inner = up
        down = f"{p}.down"
        w = self.weight(f"{down}.w", f, h)
        b = self.bias(f"{down}.b", h, spec.mlp_bias)
        self.nodes.append(Linear(down, down, inner, w, b, residual=residual))
        return down

    def lm_head(self, src: str, table: str) -> str:
        """Logits over the vocabulary; a tied head is the token table transposed."""
        spec = self.spec
        if spec.tie_word_embeddings:
            self.constants["lm_head.w"] = np.ascontiguousarray(self.constants[table].T)
        else:
            self.weight("lm_head.w", spec.hidden_size, spec.vocab_size)
        self.nodes.append(Linear("lm_head", "logits", src, "lm_head.w"))
        return "logits"


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
