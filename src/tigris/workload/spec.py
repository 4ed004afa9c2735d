"""WHAT the model is: `TransformerSpec`, a decoder-only transformer, and its parameter count.

One spec covers the Llama family (GQA, SwiGLU, RoPE, RMSNorm), Mistral, Mixtral (top-k
mixture of experts), Qwen2 (QKV bias), GPT-2/GPT-3 (learned positions, LayerNorm, GELU MLP
of 4x width, biases everywhere) and GPT-NeoX (partial RoPE, parallel residual).

Assumptions, stated once:
- Pre-norm decoder layers: norm, attention, residual add, norm, MLP, residual add (GPT-NeoX's
  parallel residual has the same operators, only their wiring differs).
- Every layer is identical (the same MLP kind in every layer; MoE in every layer).
- Parameters are counted as stored in the checkpoint: RMSNorm has a scale (h), LayerNorm a
  scale and a bias (2h); RoPE and the router softmax have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from tigris.hardware.quantities import Spec, cached_figure
from tigris.workload.ops import causal_pairs

Activation = Literal["swiglu", "geglu", "gelu", "relu", "silu", "relu2"]
GATED_ACTIVATIONS = ("swiglu", "geglu")
AttentionKind = Literal["full", "sliding", "chunked"]
MlpKind = Literal["dense", "moe"]


@dataclass(frozen=True)
class LayerKind:
    """What sets one decoder layer apart from another of the same model.

    `attention`: 'full' causal attention; 'sliding': each query sees at most `window` keys
    (Mistral v0.1, Gemma 2/3 local layers, gpt-oss); 'chunked': each query sees only the
    keys of its own `window`-token chunk (Llama 4's local layers). `window` is None for
    'full'. `mlp`: 'dense' (ffn_hidden_size wide) or 'moe' (routed experts of
    expert_ffn_hidden_size, plus the shared experts)."""

    attention: AttentionKind
    window: int | None
    mlp: MlpKind


@dataclass(frozen=True)
class ParamCount:
    """Parameters by where they live. Per-layer figures are for one layer."""

    embedding: int
    position_embedding: int
    layer_attention: int
    layer_mlp: int
    layer_norm: int
    final_norm: int
    lm_head: int  # 0 when tied to the embedding
    num_layers: int

    @property
    def layer(self) -> int:
        return self.layer_attention + self.layer_mlp + self.layer_norm

    @property
    def total(self) -> int:
        return (
            self.embedding
            + self.position_embedding
            + self.num_layers * self.layer
            + self.final_norm
            + self.lm_head
        )


class TransformerSpec(Spec):
    """A decoder-only transformer LLM, as a Hugging Face config.json describes it (frozen,
    unknown fields rejected; its parameter counts computed once).

    Each size has an upper bound far beyond any published model (width 2^20, 2^16 layers
    or heads, a vocabulary of 2^26, a context of 2^34 tokens), so that a mistyped config
    is an error rather than a model of 1e30 parameters."""

    name: str = Field(description="model id, e.g. 'llama3-70b'")
    hidden_size: int = Field(gt=0, le=2**20, description="model width h (d_model)")
    num_layers: int = Field(gt=0, le=2**16, description="decoder layers l")
    num_heads: int = Field(gt=0, le=2**16, description="query heads")
    num_kv_heads: int = Field(
        gt=0, le=2**16, description="key/value heads (GQA); = num_heads for MHA"
    )
    head_dim: int = Field(gt=0, le=2**16, description="width of one head")
    ffn_hidden_size: int = Field(gt=0, le=2**24, description="MLP inner width (per expert for MoE)")
    vocab_size: int = Field(gt=0, le=2**26, description="tokens in the vocabulary V")
    max_position_embeddings: int = Field(
        gt=0, le=2**34, description="longest supported context, tokens"
    )
    activation: Activation = Field(description="MLP activation; swiglu/geglu are gated")
    gated_mlp: bool = Field(description="gated MLP: up and gate projections, then down")
    norm: Literal["rmsnorm", "layernorm"] = Field(description="normalization kind")
    position: Literal["rope", "learned"] = Field(description="position encoding")
    rotary_fraction: float = Field(
        1.0, gt=0, le=1, description="share of each head's width rotated by RoPE (NeoX rotary_pct)"
    )
    tie_word_embeddings: bool = Field(description="LM head shares the embedding matrix")
    qkv_bias: bool = Field(False, description="bias on the Q, K, V projections (Qwen2, GPT)")
    attention_out_bias: bool = Field(False, description="bias on the attention output projection")
    mlp_bias: bool = Field(False, description="biases on the MLP projections (GPT)")
    parallel_residual: bool = Field(
        False, description="attention and MLP read the same input (GPT-NeoX, GPT-J)"
    )
    sliding_window: int | None = Field(
        None,
        gt=0,
        le=2**34,
        description="each query attends to at most this many keys (Mistral v0.1)",
    )
    num_experts: int = Field(
        0, ge=0, le=2**16, description="routed experts per layer; 0 = dense MLP"
    )
    num_experts_per_token: int = Field(
        0, ge=0, le=2**16, description="top-k experts each token goes to"
    )
    moe_ffn_hidden_size: int | None = Field(
        None, gt=0, le=2**24, description="inner width of one expert; defaults to ffn_hidden_size"
    )
    num_shared_experts: int = Field(
        0,
        ge=0,
        le=2**16,
        description="experts every token goes to (DeepSeek style), each of expert width",
    )
    # ---- layers that differ (None = every layer alike, as before) ----------------------
    attention_pattern: tuple[AttentionKind, ...] | None = Field(
        None,
        description="attention kind of each layer (num_layers entries); None: every layer "
        "'sliding' when sliding_window is set, else 'full'",
    )
    attention_chunk_size: int | None = Field(
        None, gt=0, le=2**34, description="tokens per chunk of 'chunked' layers (Llama 4)"
    )
    mlp_pattern: tuple[MlpKind, ...] | None = Field(
        None,
        description="MLP kind of each layer (num_layers entries); None: every layer 'moe' "
        "when num_experts > 0, else 'dense'. Dense layers of an MoE model are "
        "ffn_hidden_size wide (DeepSeek-V3's first three, Llama 4's interleaved ones)",
    )
    # ---- multi-head latent attention (DeepSeek-V2/V3, Kimi K2) ------------------------
    kv_lora_rank: int | None = Field(
        None,
        gt=0,
        le=2**20,
        description="MLA: width of the compressed KV latent (set = MLA attention); the KV "
        "cache holds kv_lora_rank + qk_rope_head_dim values per token and layer",
    )
    q_lora_rank: int | None = Field(
        None, gt=0, le=2**20, description="MLA: query low-rank width; None = full-rank query"
    )
    qk_rope_head_dim: int = Field(
        0, ge=0, le=2**16, description="MLA: rotary part of each query/key head (decoupled)"
    )
    v_head_dim: int | None = Field(
        None, gt=0, le=2**16, description="width of one value head; None = head_dim"
    )
    # ---- small per-layer extras --------------------------------------------------------
    qk_norm: bool = Field(False, description="RMSNorm on each query and key head (Qwen3, Gemma 3)")
    attention_sinks: bool = Field(
        False, description="one learned sink logit per head and layer (gpt-oss)"
    )
    num_mtp_layers: int = Field(
        0,
        ge=0,
        le=2**8,
        description="multi-token-prediction modules (DeepSeek-V3); stored, not in num_params",
    )

    @model_validator(mode="after")
    def _check(self) -> TransformerSpec:
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of "
                f"num_kv_heads ({self.num_kv_heads})"
            )
        if self.gated_mlp != (self.activation in GATED_ACTIVATIONS):
            raise ValueError(f"gated_mlp={self.gated_mlp} contradicts activation={self.activation}")
        if (self.num_experts > 0) != (self.num_experts_per_token > 0):
            raise ValueError("num_experts and num_experts_per_token are set together")
        if self.num_experts_per_token > self.num_experts:
            raise ValueError("num_experts_per_token exceeds num_experts")
        self._check_patterns()
        return self

    def _check_patterns(self) -> None:
        for name, pattern in (
            ("attention_pattern", self.attention_pattern),
            ("mlp_pattern", self.mlp_pattern),
        ):
            if pattern is not None and len(pattern) != self.num_layers:
                raise ValueError(f"{name} has {len(pattern)} entries for {self.num_layers} layers")
        kinds = set(self.attention_pattern or ())
        if "sliding" in kinds and self.sliding_window is None:
            raise ValueError("attention_pattern has 'sliding' layers but no sliding_window")
        if "chunked" in kinds and self.attention_chunk_size is None:
            raise ValueError("attention_pattern has 'chunked' layers but no attention_chunk_size")
        if "moe" in (self.mlp_pattern or ()) and not self.num_experts:
            raise ValueError("mlp_pattern has 'moe' layers but num_experts is 0")

    # ---- layers -----------------------------------------------------------------------------

    def layer_sequence(self) -> tuple[LayerKind, ...]:
        """The kind of every layer, first to last (for assigning layers to stages)."""
        return self._layer_sequence

    def layer_kinds(self) -> tuple[tuple[LayerKind, int], ...]:
        """Each distinct layer kind with how many layers have it, in first-seen order."""
        return self._layer_kinds

    @cached_figure
    def _layer_sequence(self) -> tuple[LayerKind, ...]:
        default_attention = "full" if self.sliding_window is None else "sliding"
        attention = self.attention_pattern or (default_attention,) * self.num_layers
        mlp = self.mlp_pattern or (("moe" if self.is_moe else "dense"),) * self.num_layers
        windows = {
            "full": None,
            "sliding": self.sliding_window,
            "chunked": self.attention_chunk_size,
        }
        return tuple(
            LayerKind(kind, windows[kind], mlp_kind)
            for kind, mlp_kind in zip(attention, mlp, strict=True)
        )

    @cached_figure
    def _layer_kinds(self) -> tuple[tuple[LayerKind, int], ...]:
        counts: dict[LayerKind, int] = {}
        for kind in self._layer_sequence:
            counts[kind] = counts.get(kind, 0) + 1
        return tuple(counts.items())

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim or self.head_dim

    # ---- shape helpers -------------------------------------------------------------------

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def q_size(self) -> int:
        """Width of the query projection output: heads * head_dim."""
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        """Width of the key (or value) projection output: kv_heads * head_dim."""
        return self.num_kv_heads * self.head_dim

    @property
    def expert_ffn_hidden_size(self) -> int:
        return self.moe_ffn_hidden_size or self.ffn_hidden_size

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices in one MLP (or expert): 3 when gated (gate, up, down), else 2."""
        return 3 if self.gated_mlp else 2

    @property
    def norm_params(self) -> int:
        """Parameters of one norm: scale (RMSNorm) or scale and bias (LayerNorm)."""
        return self.hidden_size * (2 if self.norm == "layernorm" else 1)

    def kv_cache_bytes_per_token(self, kv_dtype_bytes: float) -> float:
        """KV-cache bytes one token holds over all layers (K and V)."""
        return 2.0 * self.num_layers * self.kv_size * kv_dtype_bytes

    # ---- parameters ----------------------------------------------------------------------

    def _attention_params(self) -> int:
        h = self.hidden_size
        weights = h * (self.q_size + 2 * self.kv_size) + self.q_size * h
        biases = (self.q_size + 2 * self.kv_size) * self.qkv_bias
        return weights + biases + h * self.attention_out_bias

    def _mlp_params(self, width: int) -> int:
        """One dense MLP (or expert) of inner width `width`."""
        h = self.hidden_size
        up_width = 2 * width if self.gated_mlp else width
        weights = h * up_width + width * h
        return weights + (up_width + h) * self.mlp_bias

    def _layer_mlp_params(self, *, active: bool) -> int:
        if not self.is_moe:
            return self._mlp_params(self.ffn_hidden_size)
        experts = self.num_experts_per_token if active else self.num_experts
        router = self.hidden_size * self.num_experts
        expert = self._mlp_params(self.expert_ffn_hidden_size)
        return router + (experts + self.num_shared_experts) * expert

    def param_count(self, *, active: bool = False) -> ParamCount:
        """Parameters by place; `active` counts only the top-k (and shared) experts of MoE."""
        return self._active_params if active else self._stored_params

    @cached_figure
    def _stored_params(self) -> ParamCount:
        return self._count_params(active=False)

    @cached_figure
    def _active_params(self) -> ParamCount:
        return self._count_params(active=True)

    def _count_params(self, *, active: bool) -> ParamCount:
        embedding = self.vocab_size * self.hidden_size
        return ParamCount(
            embedding=embedding,
            position_embedding=(
                self.max_position_embeddings * self.hidden_size if self.position == "learned" else 0
            ),
            layer_attention=self._attention_params(),
            layer_mlp=self._layer_mlp_params(active=active),
            layer_norm=2 * self.norm_params,
            final_norm=self.norm_params,
            lm_head=0 if self.tie_word_embeddings else embedding,
            num_layers=self.num_layers,
        )

    @property
    def num_params(self) -> int:
        """Every stored parameter (all experts)."""
        return self.param_count().total

    @property
    def num_active_params(self) -> int:
        """Parameters one token uses: MoE counts the top-k routed and the shared experts."""
        return self.param_count(active=True).total

    def num_matmul_params(self, *, active: bool = True) -> int:
        """Weights that multiply activations in a forward pass: every layer's projection
        matrices (and MoE router), plus the LM head (counted even when tied to the
        embedding: the tied matrix is still multiplied). Excludes embeddings (a gather),
        norms and biases. `active` keeps only the experts one token goes to."""
        h = self.hidden_size
        attention = h * (self.q_size + 2 * self.kv_size) + self.q_size * h
        width = self.expert_ffn_hidden_size if self.is_moe else self.ffn_hidden_size
        one_mlp = (3 if self.gated_mlp else 2) * h * width
        if self.is_moe:
            experts = self.num_experts_per_token if active else self.num_experts
            mlp = h * self.num_experts + (experts + self.num_shared_experts) * one_mlp
        else:
            mlp = one_mlp
        return self.num_layers * (attention + mlp) + self.vocab_size * h

    # ---- flop per token (closed forms; the op graph must agree) ---------------------------

    def attention_pairs(self, q_len: int, kv_len: int) -> float:
        """Causal query-key pairs per head for q_len queries at the end of kv_len keys,
        each query seeing at most `sliding_window` keys when the model has one."""
        return causal_pairs(q_len, kv_len, self.sliding_window)

    def attention_flop_per_token(self, seq_len: int) -> float:
        """Forward attention flop (QK^T and AV) per token of a causal sequence of seq_len:
        4 * layers * heads * head_dim * pairs / seq_len."""
        pairs = self.attention_pairs(seq_len, seq_len)
        return 4.0 * self.num_layers * self.q_size * pairs / seq_len

    def forward_matmul_flop_per_token(self) -> float:
        """2 flop per multiply-add per active matmul weight (Kaplan et al. 2020, C_fwd ~ 2N)."""
        return 2.0 * self.num_matmul_params(active=True)

    def train_flop_per_token(self, seq_len: int) -> float:
        """Matmuls 6N (forward 2N, backward 4N: data and weight gradients) plus attention:
        forward 1x and backward 2.5x (FlashAttention-2, Dao 2023, recomputes QK^T)."""
        return 3.0 * self.forward_matmul_flop_per_token() + 3.5 * self.attention_flop_per_token(
            seq_len
        )

    def decode_flop_per_token(self, kv_len: int) -> float:
        """One generated token attending to kv_len keys (its own included):
        2 * N_matmul + 4 * layers * heads * head_dim * min(kv_len, window)."""
        keys = min(kv_len, self.sliding_window or kv_len)
        return self.forward_matmul_flop_per_token() + 4.0 * self.num_layers * self.q_size * keys
