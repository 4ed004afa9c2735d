"""Op graphs against closed forms: 6N per token plus attention, Megatron's Eq. 3, decode."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.errors import SpecError
from tigris.workload import (
    Attention,
    Gemm,
    Precision,
    Stream,
    decode_graph,
    from_hf_config,
    load_model,
    prefill_graph,
    train_step_graph,
)
from tigris.workload.ops import causal_pairs

MODELS = ["llama3-8b", "mixtral-8x7b", "qwen2-72b", "gpt3-175b", "mistral-7b"]


def gemm_flop(graph) -> float:
    return graph.flop_of(Gemm)


def attention_flop(graph) -> float:
    return graph.flop_of(Attention)


# ---- training ---------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", MODELS)
def test_train_gemm_flop_is_6n_per_token(model_id: str) -> None:
    spec = load_model(model_id)
    graph = train_step_graph(spec, batch=2, seq_len=2048)
    tokens = 2 * 2048
    assert gemm_flop(graph) == 6 * spec.num_matmul_params() * tokens
    assert graph.flop_of(Gemm, phase="fwd") == 2 * spec.num_matmul_params() * tokens


@pytest.mark.parametrize("model_id", MODELS)
def test_train_attention_flop_closed_form(model_id: str) -> None:
    spec = load_model(model_id)
    batch, seq = 3, 1024
    graph = train_step_graph(spec, batch, seq)
    pairs = seq * (seq + 1) / 2  # causal pairs (window 4096 > seq for Mistral)
    forward = 4 * spec.num_layers * spec.num_heads * spec.head_dim * batch * pairs
    assert attention_flop(graph) == pytest.approx(3.5 * forward, rel=1e-12)
    total = gemm_flop(graph) + attention_flop(graph)
    assert total == pytest.approx(batch * seq * spec.train_flop_per_token(seq), rel=1e-12)


def test_forward_gemm_flop_is_twice_non_embedding_params() -> None:
    # Untied model with RMSNorm, no biases: matmul params = all params - embedding - norms.
    spec = load_model("llama2-7b")
    count = spec.param_count()
    non_embedding = spec.num_params - count.embedding
    norms = spec.num_layers * count.layer_norm + count.final_norm
    graph = train_step_graph(spec, 1, 512)
    assert graph.flop_of(Gemm, phase="fwd") == 2 * (non_embedding - norms) * 512


def test_sliding_window_limits_training_attention() -> None:
    spec = load_model("mistral-7b")  # window 4096
    seq = 8192
    graph = train_step_graph(spec, 1, seq)
    pairs = (4096 * 4097) / 2 + (seq - 4096) * 4096
    assert causal_pairs(seq, seq, 4096) == pairs
    assert attention_flop(graph) == 3.5 * 4 * spec.num_layers * spec.q_size * pairs


def test_megatron_eq3_with_full_recomputation() -> None:
    """Narayanan et al. 2021 (Efficient Large-Scale Language Model Training on GPU Clusters
    Using Megatron-LM), Eq. 3: F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) for a GPT with a
    4h MLP, full activation recomputation, and attention counted without causal halving.
    Within those assumptions the graph's GEMM + attention flop equals F, plus FlashAttention-2's
    recomputation of QK^T in attention backward (2.5x forward where Megatron counts 2x):
    0.5 * 4 B s^2 h per layer."""
    spec = load_model("gpt3-175b")
    b, s = 4, 2048
    h, layers, vocab = spec.hidden_size, spec.num_layers, spec.vocab_size
    graph = train_step_graph(spec, b, s, recompute="full")
    non_causal_attention = sum(
        count * dataclasses.replace(op, causal=False).flop
        for op, count in graph.iter_ops()
        if isinstance(op, Attention)
    )
    megatron = 96 * b * s * layers * h**2 * (1 + s / (6 * h) + vocab / (16 * layers * h))
    flash_recompute = 0.5 * 4 * b * s**2 * h * layers
    assert gemm_flop(graph) + non_causal_attention == pytest.approx(
        megatron + flash_recompute, rel=1e-12
    )


def test_full_recompute_adds_one_layer_forward() -> None:
    spec = load_model("llama3-8b")
    plain = train_step_graph(spec, 1, 1024)
    full = train_step_graph(spec, 1, 1024, recompute="full")
    layer_fwd = next(g for g in plain.groups if g.name == "layer" and g.phase == "fwd")
    assert full.flop == pytest.approx(plain.flop + layer_fwd.flop, rel=1e-12)


def test_every_forward_gemm_has_dgrad_and_wgrad() -> None:
    graph = train_step_graph(load_model("mixtral-8x7b"), 1, 256)
    names = {op.name for op, _ in graph.iter_ops()}
    forward = [op for g in graph.groups_of("fwd") for op in g.ops if isinstance(op, Gemm)]
    for op in forward:
        assert f"{op.name}.dgrad" in names and f"{op.name}.wgrad" in names


def test_optimizer_touches_every_parameter() -> None:
    spec = load_model("mixtral-8x7b")
    graph = train_step_graph(spec, 1, 128)
    elements = sum(g.count * op.num_elements for g in graph.groups_of("optimizer") for op in g.ops)
    assert elements == spec.num_params
    # fp32 grad, master, m, v read (16 B); master, m, v and the bf16 copy written (14 B)
    optimizer_bytes = sum(g.min_bytes for g in graph.groups_of("optimizer"))
    assert optimizer_bytes == 30 * spec.num_params


# ---- inference --------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", MODELS)
def test_decode_flop_closed_form(model_id: str) -> None:
    spec = load_model(model_id)
    batch, kv_len = 8, 3000
    graph = decode_graph(spec, batch, kv_len)
    keys = min(kv_len, spec.sliding_window or kv_len)
    assert gemm_flop(graph) == 2 * spec.num_matmul_params() * batch
    assert attention_flop(graph) == 4 * spec.num_layers * spec.q_size * keys * batch
    assert gemm_flop(graph) + attention_flop(graph) == batch * spec.decode_flop_per_token(kv_len)
    assert graph.num_tokens == batch


def test_prefill_logits_only_for_last_token() -> None:
    spec = load_model("llama3-70b")
    b, s = 2, 1000
    vh = spec.vocab_size * spec.hidden_size
    graph = prefill_graph(spec, b, s)
    assert gemm_flop(graph) == 2 * (spec.num_matmul_params() - vh) * b * s + 2 * vh * b
    every = prefill_graph(spec, b, s, all_logits=True)
    assert gemm_flop(every) == 2 * spec.num_matmul_params() * b * s
    pairs = s * (s + 1) / 2
    assert attention_flop(graph) == 4 * spec.num_layers * spec.q_size * pairs * b


def test_chunked_prefill_attends_to_the_past() -> None:
    spec = load_model("llama3-8b")
    whole = prefill_graph(spec, 1, 2048)
    first = prefill_graph(spec, 1, 1024)
    second = prefill_graph(spec, 1, 1024, past_len=1024)
    # the two chunks' attention adds up to the whole prompt's causal pairs
    assert attention_flop(first) + attention_flop(second) == attention_flop(whole)
    # and a decode step is a prefill of one token after kv_len - 1 cached ones
    one = prefill_graph(spec, 3, 1, past_len=499)
    assert one.flop_of(Gemm) + attention_flop(one) == pytest.approx(
        3 * spec.decode_flop_per_token(500), rel=1e-12
    )


def test_decode_bytes_are_weights_plus_kv_cache() -> None:
    """Decode at batch 1 reads each active weight once and the whole KV cache once."""
    spec = load_model("llama2-7b")
    kv_len = 4096
    graph = decode_graph(spec, 1, kv_len)
    weights = sum(count * op.b_bytes for op, count in graph.iter_ops() if isinstance(op, Gemm))
    assert weights == 2 * spec.num_matmul_params()
    attention = [op for op, _ in graph.iter_ops() if isinstance(op, Attention)]
    cache_read = spec.num_layers * sum(op.min_bytes for op in attention)
    assert cache_read == pytest.approx(spec.kv_cache_bytes_per_token(2) * kv_len, rel=1e-3)
    # fp8 cache halves the cache read
    fp8 = decode_graph(spec, 1, kv_len, Precision(kv_cache_dtype="fp8"))
    assert fp8.min_bytes < graph.min_bytes
    int4 = decode_graph(spec, 1, kv_len, Precision(weight_dtype="int4"))
    int4_weights = sum(count * op.b_bytes for op, count in int4.iter_ops() if isinstance(op, Gemm))
    assert int4_weights == 0.5 * spec.num_matmul_params()


def test_moe_decode_of_one_sequence_touches_top_k_experts() -> None:
    spec = load_model("mixtral-8x7b")
    graph = decode_graph(spec, 1, 100)
    experts = [op for op, _ in graph.iter_ops() if isinstance(op, Gemm) and "expert" in op.name]
    assert {op.batch for op in experts} == {2}
    assert all(op.m == 1 for op in experts)
    big = decode_graph(spec, 64, 100)
    rows = sum(op.batch * op.m for op in big.layer_ops() if "expert.down" in op.name)
    assert rows == 64 * 2


def test_bad_sizes_are_spec_errors() -> None:
    spec = load_model("llama3-8b")
    with pytest.raises(SpecError):
        decode_graph(spec, 0, 10)
    with pytest.raises(SpecError):
        train_step_graph(spec, 1, -5)


# ---- properties ---------------------------------------------------------------------------

TINY = from_hf_config(
    {
        "model_type": "mixtral",
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 500,
        "max_position_embeddings": 4096,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "sliding_window": 48,
    },
    "tiny-moe",
)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 16), seq=st.integers(1, 300))
def test_gemm_and_attention_flop_linear_in_batch(batch: int, seq: int) -> None:
    one = train_step_graph(TINY, 1, seq)
    many = train_step_graph(TINY, batch, seq)
    assert gemm_flop(many) == batch * gemm_flop(one)
    assert attention_flop(many) == pytest.approx(batch * attention_flop(one), rel=1e-12)
    decode_one, decode_many = decode_graph(TINY, 1, seq), decode_graph(TINY, batch, seq)
    assert gemm_flop(decode_many) == batch * gemm_flop(decode_one)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 8), seq=st.integers(1, 200))
def test_totals_are_sums_over_groups_and_ops(batch: int, seq: int) -> None:
    for graph in (
        train_step_graph(TINY, batch, seq),
        prefill_graph(TINY, batch, seq),
        decode_graph(TINY, batch, seq),
    ):
        assert graph.flop == pytest.approx(sum(c * op.flop for op, c in graph.iter_ops()))
        assert graph.min_bytes == pytest.approx(sum(c * op.min_bytes for op, c in graph.iter_ops()))
        layer = [g for g in graph.groups if g.name == "layer" and g.phase == "fwd"]
        assert layer[0].count == TINY.num_layers
        by_kind = graph.flop_by_kind()
        assert sum(by_kind.values()) == pytest.approx(graph.flop)
        assert all(op.flop >= 0 and op.min_bytes >= 0 for op, _ in graph.iter_ops())


@settings(max_examples=200, deadline=None)
@given(
    kv_len=st.integers(1, 200),
    data=st.data(),
    window=st.one_of(st.none(), st.integers(1, 250)),
)
def test_causal_pairs_match_enumeration(kv_len: int, data, window: int | None) -> None:
    q_len = data.draw(st.integers(1, kv_len))
    expected = sum(
        1
        for query in range(kv_len - q_len, kv_len)
        for key in range(kv_len)
        if key <= query and (window is None or query - key < window)
    )
    assert causal_pairs(q_len, kv_len, window) == expected


@settings(max_examples=30, deadline=None)
@given(tokens=st.integers(1, 500))
def test_moe_expert_rows_sum_to_tokens_times_top_k(tokens: int) -> None:
    graph = prefill_graph(TINY, 1, tokens)
    rows = sum(op.batch * op.m for op in graph.layer_ops() if op.name == "moe.expert.down")
    assert rows == tokens * TINY.num_experts_per_token
    assert all(
        op.batch <= TINY.num_experts
        for op in graph.layer_ops()
        if isinstance(op, Gemm) and "expert" in op.name
    )


def test_streams_present_for_each_layer_part() -> None:
    graph = train_step_graph(load_model("gpt3-175b"), 1, 64)
    names = {op.name for op, _ in graph.iter_ops() if isinstance(op, Stream)}
    for expected in (
        "embed.tokens",
        "embed.positions",
        "attn.norm",
        "attn.qkv.bias",
        "attn.residual",
        "mlp.act",
        "mlp.up.bias",
        "head.loss",
        "adamw",
    ):
        assert expected in names


def test_shared_experts_count_in_6n() -> None:
    shared = TINY.model_copy(update={"num_shared_experts": 2, "moe_ffn_hidden_size": 32})
    graph = train_step_graph(shared, 2, 64)
    assert gemm_flop(graph) == 6 * shared.num_matmul_params() * 128
    expert = 3 * 64 * 32
    assert shared.num_params - shared.num_active_params == 3 * (4 - 2) * expert


def _stream(graph, name: str) -> Stream:
    return next(op for op, _ in graph.iter_ops() if isinstance(op, Stream) and op.name == name)


def test_norm_backward_reads_input_and_gradient_twice() -> None:
    """PyTorch's and apex's norm backward: the input-gradient kernel and the weight-gradient
    kernel each read x and dY (bf16); dX written once."""
    spec = load_model("gpt3-175b")
    graph = train_step_graph(spec, 2, 64)
    elements = 2 * 64 * spec.hidden_size
    backward = _stream(graph, "attn.norm.bwd")
    weights = spec.norm_params
    assert backward.bytes_read == 4 * elements * 2 + weights * 2
    assert backward.bytes_written == elements * 2 + weights * 4


def test_fp32_loss_runs_the_eager_softmax_passes() -> None:
    """fused: bf16 logits read once forward, read and their gradient written backward.
    fp32 (Megatron-LM 2021): cast, max, subtract, exp, sum, divide forward (22 B read and
    16 B written per logit); scale and cast back backward (8 B read, 6 B written)."""
    spec = load_model("gpt3-175b")
    logits = 2 * 64 * spec.vocab_size
    fused = train_step_graph(spec, 2, 64)
    fp32 = train_step_graph(spec, 2, 64, loss="fp32")
    assert _stream(fused, "head.loss").min_bytes == logits * 2 + 2 * 64 * 4
    assert _stream(fused, "head.loss.bwd").min_bytes == logits * 4
    assert _stream(fp32, "head.loss").min_bytes == logits * 38
    assert _stream(fp32, "head.loss.bwd").min_bytes == logits * 14
    assert gemm_flop(fp32) == gemm_flop(fused)
    with pytest.raises(ValueError, match="loss"):
        train_step_graph(spec, 2, 64, loss="bogus")
