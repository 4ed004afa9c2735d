"""TransformerSpec: parameter counts by hand, validation, and the Hugging Face reader."""

from __future__ import annotations

import pytest

from tigris.errors import SpecError
from tigris.workload import TransformerSpec, from_hf_config, load_model

LLAMA_TINY = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 3,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 512,
    "hidden_act": "silu",
}

GPT2_SMALL = {
    "model_type": "gpt2",
    "n_embd": 768,
    "n_layer": 12,
    "n_head": 12,
    "n_positions": 1024,
    "vocab_size": 50257,
    "activation_function": "gelu_new",
    "n_inner": None,
}

# EleutherAI/pythia-70m config.json (GPT-NeoX architecture).
PYTHIA_70M = {
    "model_type": "gpt_neox",
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "vocab_size": 50304,
    "max_position_embeddings": 2048,
    "hidden_act": "gelu",
    "rotary_pct": 0.25,
    "use_parallel_residual": True,
    "tie_word_embeddings": False,
}


def test_llama_tiny_param_count_by_hand() -> None:
    spec = from_hf_config(LLAMA_TINY, "tiny")
    h, f, layers, v, kv = 64, 160, 3, 1000, 2 * 8  # kv width: 2 heads of 8
    attention = h * h + 2 * h * kv + h * h
    mlp = 3 * h * f
    norms = 2 * h
    expected = v * h + layers * (attention + mlp + norms) + h + v * h
    assert spec.num_params == expected
    assert spec.head_dim == 8 and spec.num_kv_heads == 2
    assert spec.activation == "swiglu" and spec.gated_mlp and spec.position == "rope"
    assert spec.num_matmul_params() == layers * (attention + mlp) + v * h


def test_tied_embeddings_counted_once_but_multiplied() -> None:
    tied = from_hf_config({**LLAMA_TINY, "tie_word_embeddings": True}, "tied")
    untied = from_hf_config(LLAMA_TINY, "untied")
    assert untied.num_params - tied.num_params == 1000 * 64
    assert tied.num_matmul_params() == untied.num_matmul_params()


def test_gpt2_small_is_124m() -> None:
    # 124,439,808: the parameter count of Hugging Face `gpt2` (Radford et al. 2019 "117M").
    spec = from_hf_config(GPT2_SMALL, "gpt2")
    assert spec.num_params == 124_439_808
    assert spec.ffn_hidden_size == 4 * 768
    assert spec.norm == "layernorm" and spec.position == "learned" and spec.tie_word_embeddings


def test_pythia_70m_param_count() -> None:
    # 70,426,624 total parameters: EleutherAI Pythia README, model table (Biderman et al. 2023).
    spec = from_hf_config(PYTHIA_70M, "pythia-70m")
    assert spec.num_params == 70_426_624
    assert spec.parallel_residual and spec.rotary_fraction == 0.25


def test_qwen2_has_qkv_bias_only() -> None:
    base = {**LLAMA_TINY, "model_type": "qwen2"}
    qwen = from_hf_config(base, "q")
    llama = from_hf_config(LLAMA_TINY, "l")
    assert qwen.qkv_bias and not qwen.attention_out_bias
    bias = 64 + 2 * 16  # q + k + v biases
    assert qwen.num_params - llama.num_params == 3 * bias


def test_mixtral_active_params() -> None:
    config = {
        **LLAMA_TINY,
        "model_type": "mixtral",
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
    }
    spec = from_hf_config(config, "moe")
    dense = from_hf_config(LLAMA_TINY, "dense")
    expert = 3 * 64 * 160
    router = 64 * 4
    assert spec.num_params == dense.num_params + 3 * (3 * expert + router)
    assert spec.num_active_params == dense.num_params + 3 * (expert + router)
    assert spec.num_matmul_params(active=False) - spec.num_matmul_params() == 3 * 2 * expert


def test_ignores_underscore_keys() -> None:
    spec = from_hf_config({**LLAMA_TINY, "_source": "https://example.org"}, "x")
    assert spec.hidden_size == 64


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({**LLAMA_TINY, "model_type": "t5"}, "model_type"),
        ({k: v for k, v in LLAMA_TINY.items() if k != "model_type"}, "model_type"),
        ({k: v for k, v in LLAMA_TINY.items() if k != "intermediate_size"}, "intermediate_size"),
        ({k: v for k, v in GPT2_SMALL.items() if k != "n_embd"}, "n_embd"),
        ({**LLAMA_TINY, "hidden_act": "tanh"}, "hidden_act"),
    ],
)
def test_reader_errors_name_file_and_key(config: dict, key: str) -> None:
    with pytest.raises(SpecError) as error:
        from_hf_config(config, "bad", file="bad/config.json")
    assert error.value.file == "bad/config.json"
    assert error.value.key_path == key


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({**LLAMA_TINY, "num_hidden_layers": 0}, "num_hidden_layers"),
        ({**LLAMA_TINY, "intermediate_size": -4}, "intermediate_size"),
        ({**GPT2_SMALL, "n_layer": "many"}, "n_layer"),
        ({**PYTHIA_70M, "rotary_pct": 1.5}, "rotary_pct"),
    ],
)
def test_bad_values_name_the_config_key(config: dict, key: str) -> None:
    with pytest.raises(SpecError) as error:
        from_hf_config(config, "bad", file="config.json")
    assert (error.value.file, error.value.key_path) == ("config.json", key)


def test_spec_rejects_inconsistent_heads() -> None:
    with pytest.raises(SpecError, match="multiple of"):
        from_hf_config({**LLAMA_TINY, "num_key_value_heads": 3}, "bad", file="f.json")


def test_spec_is_frozen_and_strict() -> None:
    spec = load_model("llama3-8b")
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        spec.hidden_size = 1  # type: ignore[misc]
    with pytest.raises(Exception):  # noqa: B017
        TransformerSpec(**spec.model_dump(), unknown=1)


def test_decode_flop_closed_form() -> None:
    spec = load_model("llama3-8b")
    n = spec.num_matmul_params()
    assert spec.decode_flop_per_token(1000) == 2 * n + 4 * 32 * 32 * 128 * 1000


def test_mistral_window_caps_decode_attention() -> None:
    spec = load_model("mistral-7b")
    assert spec.sliding_window == 4096
    assert spec.decode_flop_per_token(10_000) == spec.decode_flop_per_token(4096)
