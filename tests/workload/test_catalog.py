"""The shipped model catalog: every file loads, carries its source, and matches published
parameter totals within 1%."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from tigris.errors import SpecError
from tigris.io.loader import load_mapping
from tigris.workload import list_model_ids, load_model

EXPECTED_IDS = {
    "gpt3-175b",
    "llama2-7b",
    "llama2-13b",
    "llama2-70b",
    "llama3-8b",
    "llama3-70b",
    "llama3.1-70b",
    "llama3.1-405b",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "mistral-7b",
    "qwen2-72b",
    # the newer families (totals checked in test_new_families.py)
    "deepseek-v3",
    "deepseek-r1",
    "kimi-k2",
    "qwen3-8b",
    "qwen3-14b",
    "qwen3-32b",
    "qwen3-30b-a3b",
    "qwen3-235b-a22b",
    "llama4-scout",
    "llama4-maverick",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "nemotron-4-340b",
    "gemma-7b",
    "gemma3-12b",
    "gemma3-27b",
    "gpt-j-6b",
    "falcon-180b",
    "mpt-7b",
    "mpt-30b",
}

# Published totals, and where each comes from.
PUBLISHED_PARAMS = {
    # Hugging Face model page, "Model size" (safetensors count): meta-llama/Llama-2-7b-hf.
    "llama2-7b": 6.74e9,
    # Touvron et al. 2023, "Llama 2", Table 1: 13B; HF meta-llama/Llama-2-13b-hf 13.0B.
    "llama2-13b": 13.0e9,
    # Hugging Face model page, meta-llama/Llama-2-70b-hf: 68.98B (safetensors count).
    "llama2-70b": 68.98e9,
    # Hugging Face model page, meta-llama/Meta-Llama-3-8B: 8.03B (safetensors count).
    "llama3-8b": 8.03e9,
    # Hugging Face model page, meta-llama/Meta-Llama-3-70B: 70.55B (safetensors count).
    "llama3-70b": 70.55e9,
    # Hugging Face model page, meta-llama/Llama-3.1-70B: 70.6B (safetensors count; the same
    # layers as Llama 3 70B, with a 128k context by RoPE scaling).
    "llama3.1-70b": 70.6e9,
    # Hugging Face model page, meta-llama/Llama-3.1-405B: 405.8B (safetensors count; Dubey
    # et al. 2024, "The Llama 3 Herd of Models", Table 3: 405B).
    "llama3.1-405b": 405.8e9,
    # Mistral AI, "Mixtral of experts" (mistral.ai/news/mixtral-of-experts, Dec 2023):
    # 46.7B total parameters.
    "mixtral-8x7b": 46.7e9,
    # Mistral AI, "Cheaper, Better, Faster, Stronger" (mistral.ai/news/mixtral-8x22b, Apr
    # 2024): 141B total parameters.
    "mixtral-8x22b": 141e9,
    # Hugging Face model page, mistralai/Mistral-7B-v0.1: 7.24B (safetensors count).
    "mistral-7b": 7.24e9,
    # Hugging Face model page, Qwen/Qwen2-72B: 72.7B (safetensors count).
    "qwen2-72b": 72.7e9,
    # Brown et al. 2020, "Language Models are Few-Shot Learners", Table 2.1: 175.0B.
    "gpt3-175b": 175.0e9,
}

PUBLISHED_ACTIVE_PARAMS = {
    # Mistral AI, "Mixtral of experts": 12.9B parameters used per token.
    "mixtral-8x7b": 12.9e9,
    # Mistral AI, "Cheaper, Better, Faster, Stronger": 39B active parameters.
    "mixtral-8x22b": 39e9,
}


def _catalog_file(model_id: str) -> Path:
    return Path(str(resources.files("tigris.workload") / "catalog" / "models" / f"{model_id}.json"))


def test_catalog_ids() -> None:
    assert set(list_model_ids()) == EXPECTED_IDS


@pytest.mark.parametrize("model_id", sorted(EXPECTED_IDS))
def test_every_model_loads_and_names_its_source(model_id: str) -> None:
    spec = load_model(model_id)
    assert spec.name == model_id
    source = load_mapping(_catalog_file(model_id))["_source"]
    assert source.startswith("https://")


@pytest.mark.parametrize(("model_id", "published"), sorted(PUBLISHED_PARAMS.items()))
def test_param_count_matches_published_total(model_id: str, published: float) -> None:
    assert load_model(model_id).num_params == pytest.approx(published, rel=0.01)


@pytest.mark.parametrize(("model_id", "published"), sorted(PUBLISHED_ACTIVE_PARAMS.items()))
def test_active_params_match_published(model_id: str, published: float) -> None:
    assert load_model(model_id).num_active_params == pytest.approx(published, rel=0.01)


def test_exact_counts_of_two_dense_models() -> None:
    # Summed from the published config.json shapes (embedding + 32 layers + norm + head).
    assert load_model("llama2-7b").num_params == 6_738_415_616
    assert load_model("llama3-8b").num_params == 8_030_261_248


def test_architecture_facts() -> None:
    assert load_model("llama3-70b").num_kv_heads == 8
    assert load_model("qwen2-72b").qkv_bias
    assert load_model("qwen2-72b").sliding_window is None  # use_sliding_window is false
    mixtral = load_model("mixtral-8x7b")
    assert (mixtral.num_experts, mixtral.num_experts_per_token) == (8, 2)
    gpt3 = load_model("gpt3-175b")
    assert (gpt3.hidden_size, gpt3.num_layers, gpt3.head_dim, gpt3.ffn_hidden_size) == (
        12288,
        96,
        128,
        4 * 12288,
    )


def test_unknown_id_suggests_nearest() -> None:
    with pytest.raises(SpecError) as error:
        load_model("llama3-7b")
    assert "llama3-8b" in (error.value.hint or "")


def test_load_from_path(tmp_path: Path) -> None:
    folder = tmp_path / "my-gpt"
    folder.mkdir()
    config = {
        "model_type": "gpt2",
        "n_embd": 2048,
        "n_layer": 24,
        "n_head": 16,
        "n_positions": 2048,
        "vocab_size": 50257,
    }
    (folder / "config.json").write_text(json.dumps(config))
    spec = load_model(folder / "config.json")
    assert spec.name == "my-gpt"
    assert spec.ffn_hidden_size == 8192


def test_missing_file_is_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_model(str(tmp_path / "nope.json"))


def test_duplicate_key_is_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"model_type": "llama", "hidden_size": 64, "hidden_size": 128}')
    with pytest.raises(SpecError, match="duplicate key") as error:
        load_model(str(path))
    assert error.value.file == str(path)


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(SpecError) as error:
        load_model(str(path))
    assert error.value.file == str(path)
    assert error.value.key_path == "num_attention_heads"
