"""The newer model families: parameter counts against the published figures, the closed
forms on tiny specs checked by hand, and bad configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tigris.errors import SpecError
from tigris.workload import load_model
from tigris.workload.hf_config import from_hf_config
from tigris.workload.spec import LayerKind, TransformerSpec, chunked_pairs


def _half_unit(figure: float, digits: int) -> float:
    """The relative tolerance of a figure rounded to `digits` significant digits."""
    from math import floor, log10

    unit = 10 ** (floor(log10(figure)) - digits + 1)
    return 0.5 * unit / figure


# (model id, published total, significant digits, source). Totals are num_params: the
# decoder as stored, MTP modules and vision encoders excluded.
TOTALS = [
    # DeepSeek-V3 README_WEIGHTS.md: main model 671B (685B with the 14B MTP module).
    ("deepseek-v3", 671e9, 3, "github.com/deepseek-ai/DeepSeek-V3 README_WEIGHTS.md"),
    ("deepseek-r1", 671e9, 3, "huggingface.co/deepseek-ai/DeepSeek-R1 model card: 671B"),
    # Kimi K2 model card: "1T total parameters" (1 digit; see test_kimi_k2_report_figure).
    ("kimi-k2", 1e12, 1, "huggingface.co/moonshotai/Kimi-K2-Instruct model card"),
    # Qwen3 model cards: Number of Parameters.
    ("qwen3-8b", 8.2e9, 2, "huggingface.co/Qwen/Qwen3-8B: 8.2B"),
    ("qwen3-14b", 14.8e9, 3, "huggingface.co/Qwen/Qwen3-14B: 14.8B"),
    ("qwen3-32b", 32.8e9, 3, "huggingface.co/Qwen/Qwen3-32B: 32.8B"),
    ("qwen3-30b-a3b", 30.5e9, 3, "huggingface.co/Qwen/Qwen3-30B-A3B: 30.5B"),
    ("qwen3-235b-a22b", 235e9, 3, "huggingface.co/Qwen/Qwen3-235B-A22B: 235B"),
    # OpenAI, gpt-oss-120b & gpt-oss-20b model card (Aug 2025), Table 1: total parameters.
    ("gpt-oss-120b", 116.83e9, 5, "gpt-oss model card Table 1: 116.83B"),
    ("gpt-oss-20b", 20.91e9, 4, "gpt-oss model card Table 1: 20.91B"),
    # Nemotron-4 340B Technical Report (arXiv 2406.11704): "340B" read as 2 digits.
    ("nemotron-4-340b", 340e9, 2, "arXiv 2406.11704: 340B"),
    # GPT-J model card (EleutherAI/gpt-j-6b): n_parameters 6,053,381,344. The HF checkpoint
    # holds 2.5M (0.04 %) fewer: the count is checked to 3 digits (6.05B).
    ("gpt-j-6b", 6.05e9, 3, "huggingface.co/EleutherAI/gpt-j-6b: 6,053,381,344"),
    # Hugging Face model pages (safetensors count).
    ("falcon-180b", 180e9, 3, "huggingface.co/tiiuae/falcon-180B: 180B"),
    ("mpt-7b", 6.65e9, 3, "huggingface.co/mosaicml/mpt-7b: 6.65B"),
    ("mpt-30b", 30e9, 2, "huggingface.co/mosaicml/mpt-30b: 30B"),
]


@pytest.mark.parametrize(("model_id", "figure", "digits", "source"), TOTALS)
def test_total_matches_published(model_id: str, figure: float, digits: int, source: str) -> None:
    assert load_model(model_id).num_params == pytest.approx(figure, rel=_half_unit(figure, digits))


def test_qwen3_non_embedding_counts() -> None:
    # Qwen3 model cards give "Non-Embedding" counts (embedding and LM head both left out).
    for model_id, figure in (
        ("qwen3-8b", 6.95e9),
        ("qwen3-14b", 13.2e9),
        ("qwen3-32b", 31.2e9),
        ("qwen3-30b-a3b", 29.9e9),
        ("qwen3-235b-a22b", 234e9),
    ):
        spec = load_model(model_id)
        counts = spec.param_count()
        rest = spec.num_params - counts.embedding - counts.lm_head
        assert rest == pytest.approx(figure, rel=_half_unit(figure, 3)), model_id


def test_gemma3_against_technical_report() -> None:
    # Gemma 3 Technical Report (arXiv 2503.19786), Table 1: non-embedding parameters 10,759M
    # (12B) and 25,600M (27B); the 417M SigLIP encoder is not modelled.
    for model_id, figure in (("gemma3-12b", 10_759e6), ("gemma3-27b", 25_600e6)):
        spec = load_model(model_id)
        rest = spec.num_params - spec.param_count().embedding
        assert rest == pytest.approx(figure, rel=_half_unit(figure, 5)), model_id


def _llama4_vision_params(model_id: str) -> float:
    """The vision encoder the card's total includes: ViT layers of the config's width (4 d^2
    attention + 2 d * ffn) and the projector to the text width; biases and norms left out."""
    path = Path(__file__).parents[2] / "src/tigris/workload/catalog/models" / f"{model_id}.json"
    vision = json.loads(path.read_text())["vision_config"]
    d, ffn = vision["hidden_size"], vision["intermediate_size"]
    return (
        vision["num_hidden_layers"] * (4 * d * d + 2 * d * ffn) + vision["vision_output_dim"] * 5120
    )


@pytest.mark.parametrize(
    ("model_id", "total", "digits"),
    # Meta Llama 4 model card: Scout 109B total, Maverick 400B total (text and vision).
    [("llama4-scout", 109e9, 3), ("llama4-maverick", 400e9, 2)],
)
def test_llama4_total_with_vision(model_id: str, total: float, digits: int) -> None:
    counted = load_model(model_id).num_params + _llama4_vision_params(model_id)
    assert counted == pytest.approx(total, rel=_half_unit(total, digits))


# Active parameters; `embedding` says whether the source counts the input embedding.
ACTIVE = [
    # Llama 4 card: 17B activated (embedding included).
    ("llama4-scout", 17e9, 2, True),
    ("llama4-maverick", 17e9, 2, True),
    # Qwen3 cards: 22B and 3.3B activated.
    ("qwen3-235b-a22b", 22e9, 2, True),
    # gpt-oss model card Table 1: 5.13B and 3.61B active, "excluding the embedding".
    ("gpt-oss-120b", 5.13e9, 3, False),
    ("gpt-oss-20b", 3.61e9, 3, False),
    # DeepSeek-V3 paper (arXiv 2412.19437): 37B activated; it matches without the embedding
    # gather: 36.63B (with it 37.55B). README_WEIGHTS.md's 36.7B is 0.2 % above.
    ("deepseek-v3", 37e9, 2, False),
    # Kimi K2 card: 32B activated (without the embedding; with it 32.9B).
    ("kimi-k2", 32e9, 2, False),
]


@pytest.mark.parametrize(("model_id", "figure", "digits", "embedding"), ACTIVE)
def test_active_matches_published(
    model_id: str, figure: float, digits: int, embedding: bool
) -> None:
    spec = load_model(model_id)
    active = spec.num_active_params - (0 if embedding else spec.param_count().embedding)
    assert active == pytest.approx(figure, rel=_half_unit(figure, digits))


def test_qwen3_30b_a3b_active() -> None:
    # Qwen3-30B-A3B card: 3.3B activated; the count with embedding and head is 3.35B, so the
    # card truncates rather than rounds: 3.3 <= active < 3.4.
    assert 3.3e9 <= load_model("qwen3-30b-a3b").num_active_params < 3.4e9


def test_deepseek_mtp_module() -> None:
    # README_WEIGHTS.md: the MTP module holds 11.5B unique parameters (embedding and head
    # shared); counted here from the layer shapes: 11.61B, within 1 % (3 digits given).
    spec = load_model("deepseek-v3")
    assert spec.num_mtp_layers == 1
    assert spec.num_mtp_params == pytest.approx(11.5e9, rel=0.01)
    assert load_model("kimi-k2").num_mtp_params == 0


def test_kimi_k2_report_figure() -> None:
    """Kimi K2 report (arXiv 2507.20534) gives 1.04T total; the config's shapes sum to 1.026T
    (1.3 % less), documented here rather than hidden by a wide tolerance."""
    assert load_model("kimi-k2").num_params == pytest.approx(1.026e12, rel=_half_unit(1.026e12, 4))


def test_layer_patterns_of_the_presets() -> None:
    v3 = load_model("deepseek-v3")
    assert [kind.mlp for kind, _ in v3.layer_kinds()] == ["dense", "moe"]
    assert [count for _, count in v3.layer_kinds()] == [3, 58]
    assert v3.kv_cache_bytes_per_token(1.0) == 61 * (512 + 64)
    maverick = load_model("llama4-maverick")
    kinds = dict(maverick.layer_kinds())
    # MoE on odd layers, NoPE (full attention) on every 4th: layers 3, 7, ... are both
    assert kinds[LayerKind("chunked", 8192, "moe")] == 12
    assert kinds[LayerKind("full", None, "moe")] == 12
    assert kinds[LayerKind("chunked", 8192, "dense")] == 24
    oss = load_model("gpt-oss-120b")
    assert dict(oss.layer_kinds()) == {
        LayerKind("sliding", 128, "moe"): 18,
        LayerKind("full", None, "moe"): 18,
    }
    gemma = load_model("gemma3-27b")
    assert sum(n for k, n in gemma.layer_kinds() if k.attention == "full") == 10  # 62 // 6
    assert gemma.tie_word_embeddings and gemma.qk_norm and gemma.activation == "geglu"
    assert load_model("nemotron-4-340b").activation == "relu2"
    assert load_model("mpt-30b").position == "alibi"


# ---- closed forms on tiny specs ---------------------------------------------------------


def _tiny(**fields: object) -> TransformerSpec:
    base = dict(
        name="tiny",
        hidden_size=8,
        num_layers=2,
        num_heads=2,
        num_kv_heads=2,
        head_dim=4,
        ffn_hidden_size=16,
        vocab_size=10,
        max_position_embeddings=64,
        activation="swiglu",
        gated_mlp=True,
        norm="rmsnorm",
        position="rope",
        tie_word_embeddings=False,
    )
    return TransformerSpec(**{**base, **fields})


def test_chunked_pairs_by_hand() -> None:
    # chunk 4, 10 positions: keys seen 1,2,3,4, 1,2,3,4, 1,2 -> 23 pairs
    assert chunked_pairs(10, 10, 4) == 23
    # the last 3 queries of 10 (positions 7, 8, 9): 4 + 1 + 2
    assert chunked_pairs(3, 10, 4) == 7


def test_sliding_and_chunked_attention_flop() -> None:
    spec = _tiny(attention_pattern=("sliding", "chunked"), sliding_window=3, attention_chunk_size=4)
    # 10 tokens: sliding 3 keys -> 1+2+3*8 = 27 pairs; chunked 23 pairs.
    # per layer 2 * heads * (head_dim + v_head_dim) = 2*2*8 = 32 flop per pair
    assert spec.attention_flop_per_token(10) == pytest.approx(32 * (27 + 23) / 10)
    # decode at kv_len 10: sliding sees 3 keys, chunked sees (10-1) % 4 + 1 = 2
    assert spec.decode_flop_per_token(10) - spec.forward_matmul_flop_per_token() == 32 * (3 + 2)


def test_mla_params_cache_and_absorbed_decode() -> None:
    spec = _tiny(kv_lora_rank=3, q_lora_rank=5, qk_rope_head_dim=2, head_dim=6, v_head_dim=4)
    # q_a 8*5 + q_b 5*2*6 + kv_a 8*(3+2) + kv_b 3*2*(4+4) + o 2*4*8; norms 5 + 3
    assert spec.param_count().layer_attention == 40 + 60 + 40 + 48 + 64 + 8
    assert spec.kv_cache_bytes_per_token(2.0) == 2 * (3 + 2) * 2.0
    # absorbed decode: per head QK over 3+2, AV over 3 -> 2 * 2 heads * 8 = 32 per key
    attention = spec.decode_flop_per_token(5) - spec.forward_matmul_flop_per_token()
    assert attention == 2 * 32 * 5
    # prefill unabsorbed: QK over head_dim 6, AV over v_head_dim 4
    assert spec.attention_flop_per_token(4) == pytest.approx(2 * 2 * 2 * (6 + 4) * 10 / 4)


def test_extras_and_dense_layers_of_moe() -> None:
    plain = _tiny()
    extras = _tiny(qk_norm=True, attention_sinks=True)
    assert extras.num_params - plain.num_params == 2 * (2 * 4 + 2)
    moe = _tiny(
        num_experts=4,
        num_experts_per_token=1,
        moe_ffn_hidden_size=2,
        mlp_pattern=("dense", "moe"),
        router_bias=True,
    )
    dense_mlp = 3 * 8 * 16
    moe_mlp = 8 * 4 + 4 + 4 * 3 * 8 * 2
    assert moe.num_params - plain.num_params == moe_mlp - dense_mlp
    assert moe.num_matmul_params(active=False) == plain.num_matmul_params() - dense_mlp + (
        moe_mlp - 4
    )


# ---- bad configs ----------------------------------------------------------------------


def test_unknown_model_type_lists_supported() -> None:
    with pytest.raises(SpecError) as error:
        from_hf_config({"model_type": "mamba2"}, "x")
    for name in ("deepseek_v3", "gpt_oss", "llama4", "qwen3_moe"):
        assert name in (error.value.hint or "")


def test_cli_names_missing_kv_lora_rank(tmp_path: Path) -> None:
    config = json.loads(
        (
            Path(__file__).parents[2] / "src/tigris/workload/catalog/models/deepseek-v3.json"
        ).read_text()
    )
    del config["kv_lora_rank"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    before = sorted(tmp_path.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "infer", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "kv_lora_rank" in result.stderr and str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert sorted(tmp_path.iterdir()) == before


def test_gemma_7b_counts_the_published_split():
    """Gemma Team 2024 (arXiv:2403.08295), Table 2: 786,432,000 embedding and
    7,751,248,896 non-embedding parameters (exact figures, so compared exactly)."""
    gemma = load_model("gemma-7b")
    embedding = gemma.vocab_size * gemma.hidden_size
    assert embedding == 786_432_000
    assert gemma.num_params - embedding == 7_751_248_896
