"""Operators of the layer kinds (issue 16): chunked attention, MLA (expanded and absorbed),
qk_norm, attention sinks, squared ReLU, dense layers of an MoE model. Each layer's forward
flop is checked against a closed form written out by hand for a tiny spec."""

from __future__ import annotations

from typing import Any

import pytest

from tigris.workload.layers import Shape, forward_ops, layer_steps, mla_absorbs
from tigris.workload.ops import (
    Attention,
    causal_pairs,
    chunked_pairs,
    make_attention,
    window_pairs,
)
from tigris.workload.precision import Precision
from tigris.workload.spec import LayerKind, TransformerSpec

BASE: dict[str, Any] = {
    "name": "tiny",
    "hidden_size": 8,
    "num_layers": 2,
    "num_heads": 2,
    "num_kv_heads": 1,
    "head_dim": 4,
    "ffn_hidden_size": 16,
    "vocab_size": 32,
    "max_position_embeddings": 64,
    "activation": "swiglu",
    "gated_mlp": True,
    "norm": "rmsnorm",
    "position": "rope",
    "tie_word_embeddings": True,
}


def tiny(**changes: Any) -> TransformerSpec:
    return TransformerSpec(**{**BASE, **changes})


def train_shape(spec: TransformerSpec, batch: int, seq: int) -> Shape:
    return Shape(spec, Precision(), batch, seq, seq, kv_cache=False)


def layer_ops(shape: Shape, kind: LayerKind | None = None) -> dict[str, Any]:
    return {op.name: op for op in forward_ops(layer_steps(shape, kind))}


def layer_flop(shape: Shape, kind: LayerKind | None = None) -> float:
    return sum(op.flop for op in layer_ops(shape, kind).values())


# ---- chunked attention ----------------------------------------------------------------


def brute_pairs(q_len: int, kv_len: int, chunk: int) -> int:
    return sum(
        1
        for query in range(kv_len - q_len, kv_len)
        for key in range(kv_len)
        if key <= query and key // chunk == query // chunk
    )


def test_chunked_pairs_match_enumeration() -> None:
    for kv_len in range(1, 23):
        for q_len in range(1, kv_len + 1):
            for chunk in range(1, 9):
                expected = brute_pairs(q_len, kv_len, chunk)
                assert chunked_pairs(q_len, kv_len, chunk) == expected, (q_len, kv_len, chunk)
                assert window_pairs(q_len, kv_len, chunk, "chunked") == expected


def test_chunked_attention_op_pairs_and_span() -> None:
    for kv_len, q_len, chunk in ((10, 10, 4), (9, 1, 4), (8, 1, 4), (13, 3, 5), (5, 5, 8)):
        op = Attention("a", 1, 2, 1, 4, q_len, kv_len, window=chunk, window_mode="chunked")
        assert op.num_pairs == brute_pairs(q_len, kv_len, chunk)
        first = min(key for key in range(kv_len) if key // chunk == (kv_len - q_len) // chunk)
        assert op.kv_span == kv_len - first
    # the same window as a sliding one is another count (keys of the previous chunk seen)
    sliding = Attention("a", 1, 2, 1, 4, 10, 10, window=4)
    assert sliding.num_pairs == causal_pairs(10, 10, 4) == 1 + 2 + 3 + 4 * 7
    assert Attention("a", 1, 2, 1, 4, 1, 9, window=4, window_mode="chunked").kv_span == 1


def test_new_attention_fields_build_fast_and_checked() -> None:
    args = ("a", 2, 8, 1, 576, 1, 32, True, "bf16", "fp8", "fwd", 4, "flash2", False)
    extra = ("chunked", 512, True, True)
    assert make_attention(*args, *extra) == Attention(*args, *extra)
    with pytest.raises(ValueError, match="window mode"):
        make_attention("a", 1, 2, 2, 4, 5, 6, window_mode="blocky")


# ---- GQA layer kinds: chunked + qk_norm + sinks; relu2; dense layers of MoE -------------


def test_chunked_qk_norm_sinks_layer_flop_by_hand() -> None:
    spec = tiny(
        attention_pattern=("chunked", "full"),
        attention_chunk_size=4,
        qk_norm=True,
        attention_sinks=True,
    )
    shape = train_shape(spec, 1, 10)
    tokens, h, heads, kv_heads, d, f = 10, 8, 2, 1, 4, 16
    pairs = 10 + 10 + 3  # chunks of 4, 4 and 2 tokens: 4*5/2, 4*5/2, 2*3/2
    attention = (
        tokens * h * 4  # attn.norm (RMSNorm 4 flop per element)
        + 2 * tokens * (heads + 2 * kv_heads) * d * h  # qkv
        + tokens * (heads + kv_heads) * d * 4  # q_norm and k_norm
        + tokens * (heads + kv_heads) * d * 3  # rope
        + 4 * heads * d * pairs  # QK^T and AV
        + 5 * heads * tokens  # one sink logit per head and row through the softmax
        + 2 * tokens * h * heads * d  # out
        + tokens * h  # residual
    )
    mlp = tokens * h * 4 + 2 * tokens * 2 * f * h + tokens * f * 5 + 2 * tokens * h * f + tokens * h
    chunked, full = spec.layer_sequence()
    assert layer_flop(shape, chunked) == attention + mlp
    assert layer_flop(shape) == attention + mlp  # None: the first layer's kind
    full_pairs = 10 * 11 / 2
    assert layer_flop(shape, full) == attention + mlp + 4 * heads * d * (full_pairs - pairs)
    core = layer_ops(shape, chunked)["attn.core"]
    assert core.window_mode == "chunked" and core.window == 4 and core.sinks


def test_relu2_mlp_is_one_projection_pair_at_two_flop_per_element() -> None:
    spec = tiny(activation="relu2", gated_mlp=False)
    ops = layer_ops(train_shape(spec, 2, 3))
    assert "mlp.up" in ops and "mlp.gate_up" not in ops
    assert ops["mlp.up"].n == 16
    assert ops["mlp.act"].flop == 2 * 3 * 16 * 2.0


def test_dense_layer_of_moe_model_has_no_router() -> None:
    spec = tiny(
        num_experts=4,
        num_experts_per_token=2,
        moe_ffn_hidden_size=6,
        num_shared_experts=1,
        mlp_pattern=("dense", "moe"),
    )
    shape = train_shape(spec, 1, 8)
    dense, moe = spec.layer_sequence()
    dense_ops, moe_ops = layer_ops(shape, dense), layer_ops(shape, moe)
    assert not any(name.startswith("moe.") for name in dense_ops)
    assert dense_ops["mlp.gate_up"].n == 2 * 16  # ffn_hidden_size, not the expert width
    assert "moe.router" in moe_ops and moe_ops["moe.expert.gate_up"].n == 2 * 6


# ---- MLA -------------------------------------------------------------------------------

# heads 2, qk_nope 4 + qk_rope 2 = head_dim 6, v_head_dim 4, kv_lora_rank 8, q_lora_rank 6
MLA = tiny(
    name="tiny-mla",
    hidden_size=16,
    num_kv_heads=2,
    head_dim=6,
    v_head_dim=4,
    kv_lora_rank=8,
    q_lora_rank=6,
    qk_rope_head_dim=2,
)


def test_mla_training_layer_flop_by_hand() -> None:
    tokens, h, heads, nope, rope, v, r, rq, f = 5, 16, 2, 4, 2, 4, 8, 6, 16
    attention = (
        tokens * h * 4  # attn.norm
        + 2 * tokens * rq * h  # q_a
        + tokens * rq * 4  # q_a norm
        + 2 * tokens * heads * (nope + rope) * rq  # q_b
        + 2 * tokens * (r + rope) * h  # kv_a_proj_with_mqa
        + tokens * r * 4  # kv latent norm
        + tokens * (heads + 1) * rope * 3  # rope on the queries' and the shared key's part
        + 2 * tokens * heads * (nope + v) * r  # kv_b
        + 2 * heads * ((nope + rope) + v) * (5 * 6 / 2)  # QK^T (width 6) and AV (width 4)
        + 2 * tokens * h * heads * v  # o_proj
        + tokens * h  # residual
    )
    mlp = tokens * h * 4 + 2 * tokens * 2 * f * h + tokens * f * 5 + 2 * tokens * h * f + tokens * h
    assert layer_flop(train_shape(MLA, 1, tokens)) == attention + mlp
    full_rank = MLA.model_copy(update={"q_lora_rank": None})
    q_low_rank = 2 * tokens * rq * h + tokens * rq * 4 + 2 * tokens * heads * 6 * rq
    q_full = 2 * tokens * heads * 6 * h
    assert layer_flop(train_shape(full_rank, 1, tokens)) == attention + mlp - q_low_rank + q_full


def test_mla_decode_absorbs_and_reads_exactly_the_latent_cache() -> None:
    batch, kv_len, heads, nope, rope, v, r = 3, 40, 2, 4, 2, 4, 8
    precision = Precision(kv_cache_dtype="fp8")
    shape = Shape(MLA, precision, batch, 1, kv_len, kv_cache=True, backward=False)
    assert mla_absorbs(shape, MLA.layer_sequence()[0])
    ops = layer_ops(shape)
    assert "attn.kv_b" not in ops
    core = ops["attn.core"]
    assert (core.num_kv_heads, core.head_dim, core.value_dim, core.kv_dtype) == (1, 10, 8, "fp8")
    query_and_output = batch * heads * ((r + rope) + r) * 2.0  # bf16 q in, o out
    latent_cache = batch * kv_len * (r + rope) * 1.0  # fp8, K and V one read
    assert core.min_bytes == query_and_output + latent_cache
    assert core.flop == 2 * batch * heads * ((r + rope) + r) * kv_len
    assert ops["attn.uk"].flop == 2 * batch * heads * nope * r
    assert ops["attn.uv"].flop == 2 * batch * heads * r * v
    assert ops["attn.uk"].b_bytes == heads * nope * r * 2.0  # W_UK read once
    append = ops["attn.kv_append"]
    assert (append.num_elements, append.bytes_written) == (batch * (r + rope), batch * 10 * 1.0)


def test_mla_prompt_prefill_expands_and_a_long_cache_absorbs() -> None:
    kind = MLA.layer_sequence()[0]
    prompt = Shape(MLA, Precision(), 2, 64, 64, kv_cache=True, backward=False)
    assert not mla_absorbs(prompt, kind)
    ops = layer_ops(prompt)
    assert ops["attn.kv_b"].m == 2 * 64 and ops["attn.core"].kv_dtype is None
    assert not mla_absorbs(train_shape(MLA, 1, 4), kind)  # training: no cache
    verify = Shape(MLA, Precision(), 1, 4, 4000, kv_cache=True, backward=False)
    assert mla_absorbs(verify, kind)  # a few queries over a long cache
    # chunked prefill of 30 tokens after 10 cached: the cached latents are expanded too
    extend = Shape(MLA, Precision(), 1, 30, 40, kv_cache=True, backward=False)
    assert not mla_absorbs(extend, kind)
    assert layer_ops(extend)["attn.kv_b"].m == 40
