"""Partitioning: per-chip work times the ranks equals the whole, where the split is exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.errors import InfeasibleError
from tigris.parallel.partition import layer_collectives, shard_graph
from tigris.workload import Attention, Gemm, Stream, load_model, prefill_graph, train_step_graph

LLAMA = load_model("llama3-8b")  # 32 heads, 8 KV heads
MIXTRAL = load_model("mixtral-8x7b")  # 8 experts, top 2
GRAPH = train_step_graph(LLAMA, 2, 4096)
MOE_GRAPH = train_step_graph(MIXTRAL, 1, 4096)


@settings(max_examples=25, deadline=None)
@given(
    tp=st.sampled_from([1, 2, 4, 8]),
    cp=st.sampled_from([1, 2, 4]),
    sp=st.booleans(),
)
def test_gemm_and_attention_flop_split_exactly(tp, cp, sp):
    shard = shard_graph(GRAPH, tp=tp, cp=cp, sequence_parallel=sp)
    for kind in (Gemm, Attention):
        assert shard.flop_of(kind) * tp * cp == pytest.approx(GRAPH.flop_of(kind), rel=1e-12)
    # replicated elementwise work means the per-chip total is never below an even share
    assert shard.flop * tp * cp >= GRAPH.flop * (1 - 1e-12)


def test_sequence_parallel_splits_the_norms():
    plain = shard_graph(GRAPH, tp=8)
    sp = shard_graph(GRAPH, tp=8, sequence_parallel=True)
    assert sp.flop_of(Stream) < plain.flop_of(Stream)

    def norm(graph):
        return next(op for op in graph.layer_ops() if op.name == "attn.norm").num_elements

    assert norm(plain) == norm(GRAPH)
    assert norm(sp) * 8 == norm(GRAPH)


def _optimizer(graph):
    return sum(g.flop for g in graph.groups_of("optimizer"))


def test_kv_heads_replicate_past_their_count():
    shard = shard_graph(GRAPH, tp=16) if LLAMA.num_heads % 16 == 0 else None
    assert shard is not None
    qkv = next(op for op in shard.layer_ops() if op.name == "attn.qkv")
    assert qkv.n == (LLAMA.num_heads // 16 + 2) * LLAMA.head_dim  # one KV head each


@pytest.mark.parametrize("tp,ep", [(1, 2), (1, 8), (2, 4)])
def test_experts_split_by_ep_keep_flop(tp, ep):
    shard = shard_graph(MOE_GRAPH, tp=tp, ep=ep)
    experts = lambda g: sum(  # noqa: E731
        op.flop * n for op, n in g.iter_ops() if isinstance(op, Gemm) and "expert" in op.name
    )
    assert experts(shard) * tp == pytest.approx(experts(MOE_GRAPH), rel=1e-12)
    weights = lambda g: sum(  # noqa: E731
        op.b_bytes for op, _ in g.iter_ops() if op.name == "moe.expert.gate_up"
    )
    assert weights(shard) * tp * ep == pytest.approx(weights(MOE_GRAPH), rel=1e-12)


def test_optimizer_shrinks_with_the_weights_held():
    shard = shard_graph(GRAPH, tp=4)
    assert _optimizer(shard) * 4 == pytest.approx(_optimizer(GRAPH), rel=0.01)


def test_inference_graphs_shard_too():
    prefill = prefill_graph(LLAMA, 4, 1024)
    shard = shard_graph(prefill, tp=4)
    assert shard.flop_of(Gemm) * 4 == pytest.approx(prefill.flop_of(Gemm), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        ({"tp": 3}, "heads"),
        ({"ep": 2}, "mixture"),
        ({"cp": 3}, "sequence"),
        ({"tp": 0}, "at least"),
    ],
)
def test_impossible_splits_say_why(kwargs, reason):
    with pytest.raises(InfeasibleError, match=reason):
        shard_graph(GRAPH, **kwargs)


def test_layer_collectives():
    tokens, h = 4096, LLAMA.hidden_size
    assert layer_collectives(LLAMA, tokens, tp=1) == []
    ar = layer_collectives(LLAMA, tokens, tp=8)
    assert [c.kind for c in ar] == ["all_reduce", "all_reduce"]
    assert ar[0].message_bytes == tokens * h * 2
    sp = layer_collectives(LLAMA, tokens, tp=8, sequence_parallel=True)
    assert sorted(c.kind for c in sp) == ["all_gather"] * 2 + ["reduce_scatter"] * 2
    cp = layer_collectives(LLAMA, tokens, cp=4)
    assert [c.group_role for c in cp] == ["cp"] * 3
    moe = layer_collectives(MIXTRAL, tokens, ep=8)
    assert [c.kind for c in moe] == ["all_to_all"] * 2
    assert moe[0].message_bytes == tokens * 2 * MIXTRAL.hidden_size * 2
