"""Read a Hugging Face `config.json` mapping into a `TransformerSpec`.

One reader per `model_type`, each naming the keys its architecture uses in transformers:
- llama, mistral, mixtral, qwen2: `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
  `num_key_value_heads`, `intermediate_size`, ...; SwiGLU, RoPE, RMSNorm. Mixtral adds
  `num_local_experts` and `num_experts_per_tok`; Qwen2 has bias on Q, K and V.
- gpt2: `n_embd`, `n_layer`, `n_head`, `n_positions`, `n_inner` (null = 4 * n_embd), GELU,
  learned positions, LayerNorm, biases everywhere, tied embeddings. GPT-3 (Brown et al. 2020)
  is this architecture at another size (its alternating sparse attention is not modeled).
- gpt_neox: `hidden_size`, `intermediate_size`, `rotary_pct`, `use_parallel_residual`.
- deepseek_v3/kimi_k2, qwen3, qwen3_moe, llama4, gpt_oss, nemotron, gemma2/gemma3, gptj,
  falcon, mpt: in `hf_families` (the shared key checks are in `hf_reading`).

Keys starting with '_' (such as `_source`) are comments and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tigris.errors import SpecError, given
from tigris.io.loader import validate_spec
from tigris.workload.hf_families import FAMILY_KEYS, FAMILY_READERS
from tigris.workload.hf_reading import (
    Config,
    Reader,
    activation,
    head_dim,
    opt_in_sliding_window,
    read_llama_like,
)
from tigris.workload.spec import TransformerSpec


def _read_llama(config: Config) -> dict[str, Any]:
    return read_llama_like(config)


def _read_mistral(config: Config) -> dict[str, Any]:
    fields = read_llama_like(config)
    fields["sliding_window"] = config.whole("sliding_window", None)
    return fields


def _read_mixtral(config: Config) -> dict[str, Any]:
    fields = _read_mistral(config)
    experts = config.whole("num_local_experts")
    top_k = config.whole("num_experts_per_tok")
    if top_k > experts:
        raise SpecError(
            f"{top_k} experts per token exceed the {experts} experts (num_local_experts)",
            file=config.file,
            key_path="num_experts_per_tok",
        )
    fields["num_experts"] = experts
    fields["num_experts_per_token"] = top_k
    return fields


def _read_qwen2(config: Config) -> dict[str, Any]:
    """Qwen2: bias on Q, K, V only; the sliding window applies only if use_sliding_window."""
    fields = read_llama_like(config)
    fields["qkv_bias"] = True
    fields["attention_out_bias"] = False
    fields["sliding_window"] = opt_in_sliding_window(config)
    return fields


def _read_gpt2(config: Config) -> dict[str, Any]:
    """GPT-2 (Radford et al. 2019) and GPT-3 (Brown et al. 2020): d_ff = 4 * d_model."""
    hidden = config.whole("n_embd")
    heads = config.whole("n_head")
    positions = config.whole("n_positions", None) or config.whole("n_ctx")
    return {
        "hidden_size": hidden,
        "num_layers": config.whole("n_layer"),
        "num_heads": heads,
        "num_kv_heads": heads,
        "head_dim": head_dim(config, hidden, heads, "n_head"),
        "ffn_hidden_size": config.whole("n_inner", 4 * hidden),
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": positions,
        "activation": activation(config, "activation_function", gated=False),
        "gated_mlp": False,
        "norm": "layernorm",
        "position": "learned",
        "tie_word_embeddings": config.flag("tie_word_embeddings", True),
        "qkv_bias": True,
        "attention_out_bias": True,
        "mlp_bias": True,
    }


def _read_gpt_neox(config: Config) -> dict[str, Any]:
    """GPT-NeoX (Black et al. 2022) and Pythia: partial RoPE, parallel residual, biases."""
    hidden = config.whole("hidden_size")
    heads = config.whole("num_attention_heads")
    bias = config.flag("attention_bias", True)
    return {
        "hidden_size": hidden,
        "num_layers": config.whole("num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": heads,
        "head_dim": head_dim(config, hidden, heads, "num_attention_heads"),
        "ffn_hidden_size": config.whole("intermediate_size"),
        "vocab_size": config.whole("vocab_size"),
        "max_position_embeddings": config.whole("max_position_embeddings"),
        "activation": activation(config, "hidden_act", gated=False),
        "gated_mlp": False,
        "norm": "layernorm",
        "position": "rope",
        "rotary_fraction": config.fraction("rotary_pct", 0.25),
        "tie_word_embeddings": config.flag("tie_word_embeddings", False),
        "qkv_bias": bias,
        "attention_out_bias": bias,
        "mlp_bias": True,
        "parallel_residual": config.flag("use_parallel_residual", True),
    }


_LLAMA_KEYS = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads",
    "ffn_hidden_size": "intermediate_size",
    "num_experts": "num_local_experts",
    "num_experts_per_token": "num_experts_per_tok",
}
_GPT2_KEYS = {
    "hidden_size": "n_embd",
    "num_layers": "n_layer",
    "num_heads": "n_head",
    "num_kv_heads": "n_head",
    "ffn_hidden_size": "n_inner",
    "max_position_embeddings": "n_positions",
}
_NEOX_KEYS = {**_LLAMA_KEYS, "rotary_fraction": "rotary_pct"}
KEY_OF_FIELD: dict[str, dict[str, str]] = {
    "llama": _LLAMA_KEYS,
    "mistral": _LLAMA_KEYS,
    "mixtral": _LLAMA_KEYS,
    "qwen2": _LLAMA_KEYS,
    "gpt2": _GPT2_KEYS,
    "gpt_neox": _NEOX_KEYS,
    **FAMILY_KEYS,
}
"""TransformerSpec field -> the config.json key it is read from, where the names differ."""

READERS: dict[str, Reader] = {
    "llama": _read_llama,
    "mistral": _read_mistral,
    "mixtral": _read_mixtral,
    "qwen2": _read_qwen2,
    "gpt2": _read_gpt2,
    "gpt_neox": _read_gpt_neox,
    **FAMILY_READERS,
}


def supported_model_types() -> list[str]:
    return sorted(READERS)


def from_hf_config(
    config: Mapping[str, Any], name: str, *, file: str | None = None
) -> TransformerSpec:
    """A TransformerSpec from a Hugging Face config.json mapping (keys '_*' ignored).

    Raises SpecError naming `file` and the key for an unknown model_type, a missing
    required key or a value out of range.
    """
    wrapped = Config(config, file)
    model_type = wrapped.require("model_type")
    reader = READERS.get(model_type) if isinstance(model_type, str) else None
    if reader is None:
        raise SpecError(
            f"unsupported model_type {given(model_type)}",
            file=file,
            key_path="model_type",
            hint=f"supported: {', '.join(supported_model_types())}",
        )
    fields = reader(wrapped)
    try:
        return validate_spec(TransformerSpec, {"name": name, **fields}, file=file)
    except SpecError as error:
        keys = KEY_OF_FIELD[str(model_type)]
        key = keys.get(error.key_path or "", error.key_path)
        raise SpecError(error.message, file=file, key_path=key, hint=error.hint) from None
