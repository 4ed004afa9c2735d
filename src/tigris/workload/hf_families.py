"""Readers of the newer `config.json` families, one per `model_type`, each naming the keys
its architecture uses in transformers (the configuration_*.py of that model):

- qwen3 / qwen3_moe: Llama keys plus per-head q/k RMSNorm; MoE adds `num_experts`,
  `moe_intermediate_size`, `decoder_sparse_step` and `mlp_only_layers` (dense layers).
- deepseek_v3 (DeepSeek-V3, R1; Kimi K2's "kimi_k2"): multi-head latent attention
  (`kv_lora_rank`, `q_lora_rank`, `qk_nope_head_dim`, `qk_rope_head_dim`, `v_head_dim`),
  `n_routed_experts` + `n_shared_experts` of `moe_intermediate_size`, the first
  `first_k_dense_replace` layers dense, `num_nextn_predict_layers` MTP modules.
- llama4 (its `text_config`): MoE every `interleave_moe_layer_step`-th layer with a shared
  expert (`intermediate_size` per expert, `intermediate_size_mlp` for dense layers); RoPE
  layers attend in `attention_chunk_size` chunks, the NoPE ones (`no_rope_layers` 0) fully.
- gpt_oss: `layer_types` sliding/full (`sliding_window`), a sink logit per head, experts and
  router with biases, attention biases.
- nemotron: squared-ReLU MLP (not gated), LayerNorm1P (scale and bias), partial RoPE.
- gemma2 / gemma3 (`text_config`, gemma3_text): local/global layers (`layer_types`, or
  `sliding_window_pattern`), four norms per layer, q/k norms in Gemma 3, tied embeddings,
  GeGLU with tanh GELU. Keys a published config leaves out take transformers' defaults.
- gptj, falcon, mpt: parallel attention and MLP (GPT-J, Falcon), multi-query/grouped KV
  (Falcon), ALiBi without biases (MPT). PaLM's block is the falcon/gptj layout.
"""

from __future__ import annotations

from typing import Any

from tigris.errors import SpecError
from tigris.workload.hf_reading import (
    Config,
    Reader,
    activation,
    head_dim,
    opt_in_sliding_window,
    read_llama_like,
)


def _top_k(config: Config, experts: int, key: str = "num_experts_per_tok") -> int:
    top_k = config.whole(key)
    if top_k > experts:
        raise SpecError(
            f"{top_k} experts per token exceed the {experts} experts",
            file=config.file,
            key_path=config.prefix + key,
        )
    return top_k


def _pattern(kinds: list[str], uniform: str) -> tuple[str, ...] | None:
    """The per-layer pattern, or None when every layer is `uniform` (the spec's default)."""
    return None if all(kind == uniform for kind in kinds) else tuple(kinds)


def _read_qwen3(config: Config) -> dict[str, Any]:
    fields = read_llama_like(config)
    fields["qk_norm"] = True
    fields["attention_out_bias"] = False
    fields["sliding_window"] = opt_in_sliding_window(config)
    return fields


def _read_qwen3_moe(config: Config) -> dict[str, Any]:
    """Layer i is MoE unless listed in mlp_only_layers or off the decoder_sparse_step."""
    fields = _read_qwen3(config)
    experts = config.whole("num_experts")
    layers = fields["num_layers"]
    step = config.whole("decoder_sparse_step", 1)
    dense = set(config.get("mlp_only_layers", []))
    kinds = ["moe" if i not in dense and (i + 1) % step == 0 else "dense" for i in range(layers)]
    fields.update(
        num_experts=experts,
        num_experts_per_token=_top_k(config, experts),
        moe_ffn_hidden_size=config.whole("moe_intermediate_size"),
        mlp_pattern=_pattern(kinds, "moe"),
    )
    return fields


def _read_deepseek_v3(config: Config) -> dict[str, Any]:
    """MLA: every head's query/key is qk_nope + qk_rope wide (head_dim), values v_head_dim;
    the KV heads equal the query heads once kv_b_proj expands the latent."""
    hidden = config.whole("hidden_size")
    heads = config.whole("num_attention_heads")
    layers = config.whole("num_hidden_layers")
    rope = config.whole("qk_rope_head_dim")
    qk_head = config.whole("qk_nope_head_dim") + rope
    experts = config.whole("n_routed_experts")
    first_dense = config.count("first_k_dense_replace")
    every = config.whole("moe_layer_freq", 1)
    kinds = ["moe" if i >= first_dense and i % every == 0 else "dense" for i in range(layers)]
    return {
        "hidden_size": hidden,
        "num_layers": layers,
        "num_heads": heads,
        "num_kv_heads": heads,
        "head_dim": qk_head,
        "v_head_dim": config.whole("v_head_dim"),
        "kv_lora_rank": config.whole("kv_lora_rank"),
        "q_lora_rank": config.whole("q_lora_rank", None),
        "qk_rope_head_dim": rope,
        "rotary_fraction": rope / qk_head,
        "ffn_hidden_size": config.whole("intermediate_size"),
        "moe_ffn_hidden_size": config.whole("moe_intermediate_size"),
        "num_experts": experts,
        "num_experts_per_token": _top_k(config, experts),
        "num_shared_experts": config.count("n_shared_experts"),
        "mlp_pattern": _pattern(kinds, "moe"),
        "router_bias": config.get("topk_method", "") == "noaux_tc",
        "num_mtp_layers": config.count("num_nextn_predict_layers"),
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": config.whole("max_position_embeddings"),
        "activation": activation(config, "hidden_act", gated=True),
        "gated_mlp": True,
        "norm": "rmsnorm",
        "position": "rope",
        "tie_word_embeddings": config.flag("tie_word_embeddings", False),
        "qkv_bias": config.flag("attention_bias", False),
        "attention_out_bias": config.flag("attention_bias", False),
    }


def _read_llama4(config: Config) -> dict[str, Any]:
    """Llama 4's text model: MoE layers (moe_layers, else every interleave_moe_layer_step-th)
    hold 1 shared + num_local_experts routed experts; no_rope_layers[i] = 0 marks a NoPE
    layer (full attention), the RoPE layers attend within attention_chunk_size chunks. The
    weightless L2 q/k norm stores nothing (qk_norm stays false)."""
    text = config.sub("text_config")
    fields = read_llama_like(text)
    layers = fields["num_layers"]
    experts = text.whole("num_local_experts")
    step = text.whole("interleave_moe_layer_step", 1)
    moe = set(text.get("moe_layers", []) or range(step - 1, layers, step))
    rope = text.kinds("no_rope_layers", (0, 1), layers)
    rope = rope or [
        int((i + 1) % text.whole("no_rope_layer_interval", 4) != 0) for i in range(layers)
    ]
    chunk = text.whole("attention_chunk_size", None)
    attention = ["chunked" if chunk and uses_rope else "full" for uses_rope in rope]
    fields.update(
        ffn_hidden_size=text.whole("intermediate_size_mlp"),
        moe_ffn_hidden_size=text.whole("intermediate_size"),
        num_experts=experts,
        num_experts_per_token=_top_k(text, experts),
        num_shared_experts=1,
        mlp_pattern=_pattern(["moe" if i in moe else "dense" for i in range(layers)], "moe"),
        attention_pattern=_pattern(attention, "full"),
        attention_chunk_size=chunk,
    )
    return fields


def _sliding_full(config: Config, layers: int, default: list[str]) -> tuple[str, ...] | None:
    """Attention kinds from layer_types (sliding_attention / full_attention) or `default`."""
    names = {"sliding_attention": "sliding", "full_attention": "full"}
    given_types = config.kinds("layer_types", tuple(names), layers)
    return _pattern([names[kind] for kind in given_types] if given_types else default, "full")


def _read_gpt_oss(config: Config) -> dict[str, Any]:
    """Layer i slides over sliding_window keys when i is even (layer_types when given)."""
    fields = read_llama_like(config)
    layers = fields["num_layers"]
    experts = config.whole("num_local_experts")
    top_key = "num_experts_per_tok" if "num_experts_per_tok" in config.data else "experts_per_token"
    default = ["sliding" if i % 2 == 0 else "full" for i in range(layers)]
    fields.update(
        num_experts=experts,
        num_experts_per_token=_top_k(config, experts, top_key),
        sliding_window=config.whole("sliding_window"),
        attention_pattern=_sliding_full(config, layers, default),
        attention_sinks=True,
        mlp_bias=True,
        router_bias=True,
    )
    return fields


def _read_nemotron(config: Config) -> dict[str, Any]:
    """Nemotron-4 (transformers NemotronConfig): relu2 MLP, LayerNorm1P, partial RoPE."""
    fields = read_llama_like(config, gated=False)
    fields.update(
        norm="layernorm",
        rotary_fraction=config.fraction("partial_rotary_factor", 0.5),
    )
    return fields


_GEMMA_DEFAULTS = {
    # transformers GemmaConfig / Gemma2Config / Gemma3TextConfig defaults, for keys a
    # published config omits
    "gemma": {"vocab_size": 256000, "head_dim": 256},
    "gemma2": {"vocab_size": 256000, "head_dim": 256, "sliding_window": 4096},
    "gemma3_text": {"vocab_size": 262208, "head_dim": 256, "sliding_window": 4096},
}


def _read_gemma(config: Config, *, version: str) -> dict[str, Any]:
    """Gemma (1): every layer global, two norms. Gemma 2: layers alternate sliding (even)
    and global; Gemma 3: every sliding_window_pattern-th layer is global (default 6), q/k
    norms. Gemma 2 and 3: four norms per layer."""
    text = config.sub("text_config")
    defaults = _GEMMA_DEFAULTS[version]
    text.data = {**defaults, **{k: v for k, v in text.data.items() if v is not None}}
    text.data.setdefault("max_position_embeddings", 131072 if version == "gemma3_text" else 8192)
    text.data.setdefault("hidden_act", text.data.get("hidden_activation", "gelu_pytorch_tanh"))
    fields = read_llama_like(text)
    layers = fields["num_layers"]
    if version == "gemma":
        fields["tie_word_embeddings"] = config.flag("tie_word_embeddings", True)
        return fields
    if version == "gemma2":
        default = ["sliding" if i % 2 == 0 else "full" for i in range(layers)]
    else:
        every = text.whole("sliding_window_pattern", 6)
        default = ["full" if (i + 1) % every == 0 else "sliding" for i in range(layers)]
    fields.update(
        sliding_window=text.whole("sliding_window"),
        attention_pattern=_sliding_full(text, layers, default),
        norms_per_layer=4,
        qk_norm=version == "gemma3_text",
        tie_word_embeddings=config.flag("tie_word_embeddings", True),
    )
    return fields


def _read_gptj(config: Config) -> dict[str, Any]:
    """GPT-J (Wang & Komatsuzaki 2021): one LayerNorm feeding attention and MLP in
    parallel, rotary on rotary_dim of each head, biases on the MLP and the LM head only."""
    hidden = config.whole("n_embd")
    heads = config.whole("n_head")
    width = head_dim(config, hidden, heads, "n_head")
    return {
        "hidden_size": hidden,
        "num_layers": config.whole("n_layer"),
        "num_heads": heads,
        "num_kv_heads": heads,
        "head_dim": width,
        "ffn_hidden_size": config.whole("n_inner", 4 * hidden),
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": config.whole("n_positions"),
        "activation": activation(config, "activation_function", gated=False),
        "gated_mlp": False,
        "norm": "layernorm",
        "position": "rope",
        "rotary_fraction": min(config.whole("rotary_dim", width), width) / width,
        "tie_word_embeddings": config.flag("tie_word_embeddings", False),
        "mlp_bias": True,
        "lm_head_bias": True,
        "parallel_residual": True,
        "norms_per_layer": 1,
    }


def _read_falcon(config: Config) -> dict[str, Any]:
    """Falcon (Almazrouei et al. 2023): parallel attention and MLP (4h, GELU); the new
    decoder architecture has num_kv_heads KV heads and two norms a layer, the old one
    multi_query (one KV head) and one norm; `bias` on every projection or none."""
    hidden = config.whole("hidden_size")
    heads = config.whole("num_attention_heads")
    new = config.flag("new_decoder_architecture", False)
    if new:
        kv = config.whole("num_kv_heads", heads)
    else:
        kv = 1 if config.flag("multi_query", True) else heads
    if heads % kv:
        raise SpecError(
            f"{kv} KV heads do not divide the {heads} attention heads",
            file=config.file,
            key_path="num_kv_heads",
        )
    bias = config.flag("bias", False)
    alibi = config.flag("alibi", False)
    return {
        "hidden_size": hidden,
        "num_layers": config.whole("num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": kv,
        "head_dim": head_dim(config, hidden, heads, "num_attention_heads"),
        "ffn_hidden_size": config.whole("ffn_hidden_size", 4 * hidden),
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": config.whole("max_position_embeddings", 2048),
        "activation": "gelu",
        "gated_mlp": False,
        "norm": "layernorm",
        "position": "alibi" if alibi else "rope",
        # the checkpoints store lm_head.weight apart (falcon-7b's 7.22B only adds up untied)
        "tie_word_embeddings": config.flag("tie_word_embeddings", False),
        "qkv_bias": bias,
        "attention_out_bias": bias,
        "mlp_bias": bias,
        "parallel_residual": config.flag("parallel_attn", True),
        "norms_per_layer": 2 if new and config.whole("num_ln_in_parallel_attn", 2) == 2 else 1,
    }


def _read_mpt(config: Config) -> dict[str, Any]:
    """MPT (MosaicML 2023): d_model, n_heads, n_layers, expansion_ratio; ALiBi (no position
    weights), and with no_bias neither projections nor LayerNorms carry a bias."""
    hidden = config.whole("d_model")
    heads = config.whole("n_heads")
    attn = config.sub("attn_config")
    no_bias = config.flag("no_bias", True)
    kv = (
        attn.whole("kv_n_heads", heads)
        if attn.get("attn_type", "") == "grouped_query_attention"
        else heads
    )
    return {
        "hidden_size": hidden,
        "num_layers": config.whole("n_layers"),
        "num_heads": heads,
        "num_kv_heads": kv,
        "head_dim": head_dim(config, hidden, heads, "n_heads"),
        "ffn_hidden_size": config.whole("expansion_ratio", 4) * hidden,
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": config.whole("max_seq_len"),
        "activation": "gelu",
        "gated_mlp": False,
        "norm": "layernorm",
        "norm_bias": not no_bias,
        "position": "alibi" if attn.flag("alibi", False) else "learned",
        "tie_word_embeddings": config.flag("tie_word_embeddings", True),
        "qkv_bias": not no_bias,
        "attention_out_bias": not no_bias,
        "mlp_bias": not no_bias,
    }


def _read_gemma1(config: Config) -> dict[str, Any]:
    return _read_gemma(config, version="gemma")


def _read_gemma2(config: Config) -> dict[str, Any]:
    return _read_gemma(config, version="gemma2")


def _read_gemma3(config: Config) -> dict[str, Any]:
    return _read_gemma(config, version="gemma3_text")


FAMILY_READERS: dict[str, Reader] = {
    "qwen3": _read_qwen3,
    "qwen3_moe": _read_qwen3_moe,
    "deepseek_v3": _read_deepseek_v3,
    "kimi_k2": _read_deepseek_v3,
    "llama4": _read_llama4,
    "llama4_text": _read_llama4,
    "gpt_oss": _read_gpt_oss,
    "nemotron": _read_nemotron,
    "gemma": _read_gemma1,
    "gemma2": _read_gemma2,
    "gemma3": _read_gemma3,
    "gemma3_text": _read_gemma3,
    "gptj": _read_gptj,
    "falcon": _read_falcon,
    "mpt": _read_mpt,
}

_LLAMA = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads",
    "ffn_hidden_size": "intermediate_size",
}
_DEEPSEEK = {
    **_LLAMA,
    "num_experts": "n_routed_experts",
    "num_experts_per_token": "num_experts_per_tok",
    "moe_ffn_hidden_size": "moe_intermediate_size",
    "num_shared_experts": "n_shared_experts",
    "num_mtp_layers": "num_nextn_predict_layers",
}
_GPTJ = {"hidden_size": "n_embd", "num_layers": "n_layer", "num_heads": "n_head"}
_MPT = {"hidden_size": "d_model", "num_layers": "n_layers", "num_heads": "n_heads"}
FAMILY_KEYS: dict[str, dict[str, str]] = {
    **{name: _LLAMA for name in FAMILY_READERS},
    "deepseek_v3": _DEEPSEEK,
    "kimi_k2": _DEEPSEEK,
    "gptj": _GPTJ,
    "mpt": _MPT,
}
"""TransformerSpec field -> the config.json key it is read from, where the names differ."""
