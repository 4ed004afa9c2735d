"""WHAT the model is: `TransformerSpec`, a decoder-only transformer, and its parameter count.

One spec covers the Llama family (GQA, SwiGLU, RoPE, RMSNorm), Mistral, Mixtral (top-k
mixture of experts), Qwen2 (QKV bias), GPT-2/GPT-3 (learned positions, LayerNorm, GELU MLP
of 4x width, biases everywhere), GPT-NeoX/GPT-J/Falcon (partial RoPE, parallel residual),
MPT (ALiBi), Qwen3 (qk_norm), DeepSeek-V3/Kimi K2 (MLA, shared and routed experts, dense
first layers, MTP), Llama 4 (interleaved MoE, chunked attention), gpt-oss (sliding and full
layers, sinks), Gemma 2/3 (local/global layers, four norms per layer), Nemotron (relu2).

Assumptions, stated once:
- Pre-norm decoder layers: norm, attention, residual add, norm, MLP, residual add (parallel
  residual has the same operators, only their wiring differs; `norms_per_layer` counts the
  norms a layer stores: 1 for GPT-J, 4 for Gemma's pre and post norms).
- Layers differ only by their LayerKind (attention window, dense or MoE MLP).
- Parameters are counted as stored in the checkpoint: RMSNorm has a scale (h), LayerNorm a
  scale and a bias (2h; h when norm_bias is false, MPT); RoPE, ALiBi and the router softmax
  have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from tigris.hardware.quantities import Spec, cached_figure
from tigris.workload.ops import causal_pairs


def chunked_pairs(q_len: int, kv_len: int, chunk: int) -> float:
    """Query-key pairs of chunked causal attention (Llama 4's local layers): the query at
    position p sees the keys of its own chunk up to itself, (p mod chunk) + 1 of them;
    queries are the last q_len of kv_len positions."""

    def prefix(n: int) -> int:  # pairs of the first n positions
        full, rest = divmod(n, chunk)
        return full * chunk * (chunk + 1) // 2 + rest * (rest + 1) // 2

    return float(prefix(kv_len) - prefix(kv_len - q_len))


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
    """Parameters by where they live. Per-layer figures are for one layer: the mean over the
    layers when they differ (an MoE model's dense layers), so num_layers * layer is exact."""

    embedding: int
    position_embedding: int
    layer_attention: int
    layer_mlp: int | float
    layer_norm: int
    final_norm: int
    lm_head: int  # 0 when tied to the embedding
    num_layers: int

    @property
    def layer(self) -> int | float:
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
    position: Literal["rope", "learned", "alibi"] = Field(
        description="position encoding ('alibi': a per-head linear bias, MPT; no weights)"
    )
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
    # ---- what a checkpoint stores beyond the common layout (defaults: as before) ---------
    norms_per_layer: int = Field(
        2, ge=1, le=8, description="norms one layer stores (GPT-J 1, Gemma 2/3 4)"
    )
    norm_bias: bool = Field(True, description="LayerNorm has a bias (MPT's has none)")
    lm_head_bias: bool = Field(False, description="bias on the LM head (GPT-J)")
    router_bias: bool = Field(
        False, description="one bias per routed expert (gpt-oss; DeepSeek's score correction)"
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
        return self.hidden_size * (2 if self.norm == "layernorm" and self.norm_bias else 1)

    def kv_cache_bytes_per_token(self, kv_dtype_bytes: float) -> float:
        """KV-cache bytes one token holds over all layers: K and V, or with MLA the one
        latent of kv_lora_rank + qk_rope_head_dim values (DeepSeek-V2, Sec. 2.1). Sliding
        layers hold every token too: evicting old ones is a serving decision."""
        if self.kv_lora_rank is not None:
            return float(self.num_layers * (self.kv_lora_rank + self.qk_rope_head_dim)) * (
                kv_dtype_bytes
            )
        if self.value_head_dim != self.head_dim:
            values = self.num_kv_heads * self.value_head_dim
            return float(self.num_layers * (self.kv_size + values)) * kv_dtype_bytes
        return 2.0 * self.num_layers * self.kv_size * kv_dtype_bytes

    # ---- parameters ----------------------------------------------------------------------

    def _attention_matmul_params(self) -> int:
        """Weights of one layer's attention projections. MLA (DeepSeek-V2/V3): q_a_proj and
        q_b_proj (or q_proj), kv_a_proj_with_mqa, kv_b_proj, and o_proj from heads *
        v_head_dim; otherwise Q, K, V (values kv_heads * v_head_dim wide) and O."""
        h, heads, values = self.hidden_size, self.num_heads, self.value_head_dim
        out = heads * values * h
        if self.kv_lora_rank is None:
            return h * (self.q_size + self.kv_size + self.num_kv_heads * values) + out
        q_rank = self.q_lora_rank
        query = h * self.q_size if q_rank is None else (h + self.q_size) * q_rank
        nope = self.head_dim - self.qk_rope_head_dim
        kv_a = h * (self.kv_lora_rank + self.qk_rope_head_dim)
        kv_b = self.kv_lora_rank * heads * (nope + values)
        return query + kv_a + kv_b + out

    def _attention_params(self) -> int:
        """One layer's attention: projections, biases, MLA's latent norms, per-head q/k
        norms (qk_norm: one head_dim scale each) and sink logits (one per head)."""
        h = self.hidden_size
        extras = h * self.attention_out_bias
        if self.kv_lora_rank is None:
            extras += (self.q_size + self.kv_size + self.num_kv_heads * self.value_head_dim) * (
                self.qkv_bias
            )
        else:
            extras += self.kv_lora_rank + (self.q_lora_rank or 0)
        extras += 2 * self.head_dim * self.qk_norm + self.num_heads * self.attention_sinks
        return self._attention_matmul_params() + extras

    def _mlp_params(self, width: int) -> int:
        """One dense MLP (or expert) of inner width `width`."""
        h = self.hidden_size
        up_width = 2 * width if self.gated_mlp else width
        weights = h * up_width + width * h
        return weights + (up_width + h) * self.mlp_bias

    def _kind_mlp_params(self, mlp: MlpKind, *, active: bool, matmul_only: bool = False) -> int:
        """One layer's MLP of kind `mlp`: a dense MLP ffn_hidden_size wide, or the router,
        the routed experts (top-k when `active`) and the shared ones."""
        h = self.hidden_size
        if mlp == "dense":
            width = self.ffn_hidden_size
            return self.mlp_matrices * h * width if matmul_only else self._mlp_params(width)
        experts = self.num_experts_per_token if active else self.num_experts
        router = h * self.num_experts + self.num_experts * self.router_bias * (not matmul_only)
        width = self.expert_ffn_hidden_size
        expert = self.mlp_matrices * h * width if matmul_only else self._mlp_params(width)
        return router + (experts + self.num_shared_experts) * expert

    def _layer_mlp_params(self, *, active: bool) -> int:
        """The MLP of the model's main layer kind (MoE when it has experts), as before."""
        return self._kind_mlp_params("moe" if self.is_moe else "dense", active=active)

    def layer_params_of(self, kind: LayerKind, *, active: bool = False) -> int:
        """Stored (or, `active`, used) parameters of one layer of `kind`: attention, its
        norms and the kind's MLP."""
        mlp = self._kind_mlp_params(kind.mlp, active=active)
        return self._attention_params() + self.norms_per_layer * self.norm_params + mlp

    def _mlp_total(self, *, active: bool, matmul_only: bool = False) -> int:
        return sum(
            count * self._kind_mlp_params(kind.mlp, active=active, matmul_only=matmul_only)
            for kind, count in self.layer_kinds()
        )

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
        mlp, layers = divmod(self._mlp_total(active=active), self.num_layers)
        return ParamCount(
            embedding=embedding,
            position_embedding=(
                self.max_position_embeddings * self.hidden_size if self.position == "learned" else 0
            ),
            layer_attention=self._attention_params(),
            layer_mlp=mlp if not layers else self._mlp_total(active=active) / self.num_layers,
            layer_norm=self.norms_per_layer * self.norm_params,
            final_norm=self.norm_params,
            lm_head=0
            if self.tie_word_embeddings
            else embedding + self.vocab_size * self.lm_head_bias,
            num_layers=self.num_layers,
        )

    @property
    def num_params(self) -> int:
        """Every stored parameter (all experts), MTP modules excluded (`num_mtp_params`)."""
        return round(self.param_count().total)

    @property
    def num_active_params(self) -> int:
        """Parameters one token uses: MoE counts the top-k routed and the shared experts."""
        return round(self.param_count(active=True).total)

    @property
    def num_mtp_params(self) -> int:
        """Parameters of the multi-token-prediction modules (DeepSeek-V3 README_WEIGHTS.md):
        per module the enorm and hnorm, eh_proj (2h -> h), one decoder layer like the last
        one and shared_head's norm; the embedding and head are shared with the main model
        and not counted again."""
        if not self.num_mtp_layers:
            return 0
        h = self.hidden_size
        last = self.layer_sequence()[-1].mlp
        layer = self._attention_params() + self.norms_per_layer * self.norm_params
        layer += self._kind_mlp_params(last, active=False)
        return self.num_mtp_layers * (3 * self.norm_params + 2 * h * h + layer)

    def num_matmul_params(self, *, active: bool = True) -> int:
        """Weights that multiply activations in a forward pass: every layer's projection
        matrices (and MoE router), plus the LM head (counted even when tied to the
        embedding: the tied matrix is still multiplied). Excludes embeddings (a gather),
        norms and biases. `active` keeps only the experts one token goes to."""
        attention = self.num_layers * self._attention_matmul_params()
        mlp = self._mlp_total(active=active, matmul_only=True)
        return attention + mlp + self.vocab_size * self.hidden_size

    # ---- flop per token (closed forms; the op graph must agree) ---------------------------

    def attention_pairs(self, q_len: int, kv_len: int) -> float:
        """Causal query-key pairs per head for q_len queries at the end of kv_len keys,
        each query seeing at most `sliding_window` keys when the model has one."""
        return causal_pairs(q_len, kv_len, self.sliding_window)

    @staticmethod
    def layer_pairs(kind: LayerKind, q_len: int, kv_len: int) -> float:
        """Query-key pairs per head of one layer of `kind` (full, sliding or chunked)."""
        if kind.attention == "chunked":
            return chunked_pairs(q_len, kv_len, kind.window or kv_len)
        return causal_pairs(q_len, kv_len, kind.window)

    def attention_flop_per_token(self, seq_len: int) -> float:
        """Forward attention flop (QK^T and AV) per token of a causal sequence of seq_len,
        summed over the layer kinds: 2 * heads * (head_dim + v_head_dim) * pairs / seq_len
        per layer (4 * heads * head_dim * pairs / seq_len when the widths are equal). MLA
        in prefill runs unabsorbed: QK over qk_nope + qk_rope, AV over v_head_dim."""
        width = 2 * self.num_heads * (self.head_dim + self.value_head_dim)
        return sum(
            float(count * width) * self.layer_pairs(kind, seq_len, seq_len) / seq_len
            for kind, count in self.layer_kinds()
        )

    def forward_matmul_flop_per_token(self) -> float:
        """2 flop per multiply-add per active matmul weight (Kaplan et al. 2020, C_fwd ~ 2N)."""
        return 2.0 * self.num_matmul_params(active=True)

    def train_flop_per_token(self, seq_len: int) -> float:
        """Matmuls 6N (forward 2N, backward 4N: data and weight gradients) plus attention:
        forward 1x and backward 2.5x (FlashAttention-2, Dao 2023, recomputes QK^T)."""
        return 3.0 * self.forward_matmul_flop_per_token() + 3.5 * self.attention_flop_per_token(
            seq_len
        )

    @staticmethod
    def decode_keys(kind: LayerKind, kv_len: int) -> int:
        """Keys the newest of kv_len tokens sees in a layer of `kind`."""
        if kind.attention == "chunked" and kind.window:
            return (kv_len - 1) % kind.window + 1
        return min(kv_len, kind.window or kv_len)

    def decode_flop_per_token(self, kv_len: int) -> float:
        """One generated token attending to kv_len keys (its own included): 2 * N_matmul
        plus, per layer, 2 * heads * (QK width + AV width) * keys, keys as its kind allows
        (a sliding window, the own chunk). MLA decodes absorbed (DeepSeek-V2 Sec. 2.1.2):
        every head scores the cached latent, QK over kv_lora_rank + qk_rope_head_dim and AV
        over kv_lora_rank; kv_b_proj's weights then multiply the query and the output
        instead of the cache, which leaves 2 * N_matmul as it is. Sink logits add one
        exponential per head, no matmul flop."""
        if self.kv_lora_rank is None:
            widths = self.head_dim + self.value_head_dim
        else:
            widths = 2 * self.kv_lora_rank + self.qk_rope_head_dim
        width = 2 * self.num_heads * widths
        attention = sum(
            float(count * width) * self.decode_keys(kind, kv_len)
            for kind, count in self.layer_kinds()
        )
        return self.forward_matmul_flop_per_token() + attention
