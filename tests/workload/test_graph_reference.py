"""The op graphs and their shards equal, op for op and field for field, those saved from the
reference builders (graph_reference.json.gz, written by the implementation before the
graph builders and shard_graph were made fast). Cases cover dense, GQA, MoE (with and
without shared experts), sliding-window, biased, learned-position and partial-RoPE models;
train (recompute, fp32 loss, fp8), prefill (prefix, all logits, int4 weights, fp8 KV) and
decode; tp, ep, cp and sequence-parallel combinations.

Regenerate (only when a graph is meant to change):
    .venv/bin/python tests/workload/test_graph_reference.py
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tigris.parallel.partition import shard_graph
from tigris.workload import Precision, load_model
from tigris.workload.graph import OpGraph, OpGroup
from tigris.workload.ops import Attention, Gemm, Stream
from tigris.workload.spec import TransformerSpec
from tigris.workload.tasks import decode_graph, prefill_graph, train_step_graph

REFERENCE = Path(__file__).parent / "data" / "graph_reference.json.gz"
OP_CLASSES = {cls.__name__: cls for cls in (Gemm, Attention, Stream)}


def _specs() -> dict[str, TransformerSpec]:
    llama = load_model("llama3-8b")
    return {
        "gpt3-175b": load_model("gpt3-175b"),  # learned positions, LayerNorm, GELU, biases
        "llama3-70b": load_model("llama3-70b"),  # GQA 64 / 8
        "mistral-7b": load_model("mistral-7b"),  # sliding window
        "mixtral-8x7b": load_model("mixtral-8x7b"),  # MoE top-2 of 8
        "qwen2-72b": load_model("qwen2-72b"),  # QKV bias
        "shared-moe": llama.model_copy(
            update={
                "name": "shared-moe",
                "num_experts": 16,
                "num_experts_per_token": 3,
                "moe_ffn_hidden_size": 1408,
                "num_shared_experts": 2,
                "mlp_bias": True,
                "attention_out_bias": True,
            }
        ),
        "neox-like": llama.model_copy(
            update={
                "name": "neox-like",
                "rotary_fraction": 0.25,
                "norm": "layernorm",
                "activation": "gelu",
                "gated_mlp": False,
                "parallel_residual": True,
                "num_kv_heads": 32,
                "sliding_window": 3000,
            }
        ),
    }


SHARDS = [
    {},
    {"tp": 2},
    {"tp": 8, "sequence_parallel": True},
    {"tp": 4, "cp": 2},
    {"tp": 2, "cp": 2, "sequence_parallel": True},
    {"cp": 4},
    {"tp": 16},  # more tp ranks than KV heads for GQA models
]
MOE_SHARDS = [
    {"ep": 2},
    {"ep": 8, "tp": 2},
    {"ep": 4, "tp": 2, "sequence_parallel": True},
    {"ep": 2, "cp": 2, "tp": 2},
]
INT4 = Precision(weight_dtype="int4", kv_cache_dtype="fp8")


def _graphs() -> dict[str, OpGraph]:
    """Every case, by id."""
    out: dict[str, OpGraph] = {}
    for name, spec in _specs().items():
        bases = {
            "train": train_step_graph(spec, 2, 4096),
            "train-full-fp32loss": train_step_graph(spec, 1, 2048, recompute="full", loss="fp32"),
            "train-fp16": train_step_graph(
                spec, 1, 1000, Precision(compute_dtype="fp16"), recompute="full"
            ),
            "prefill": prefill_graph(spec, 4, 1024),
            "prefill-past-all": prefill_graph(spec, 3, 512, past_len=700, all_logits=True),
            "prefill-int4": prefill_graph(spec, 5, 333, INT4, past_len=17),
            "prefill-1": prefill_graph(spec, 1, 1),
            "prefill-tokens": prefill_graph(spec, 37, 1),
            "decode": decode_graph(spec, 16, 2048),
            "decode-1": decode_graph(spec, 1, 5000, INT4),
        }
        shards = SHARDS + (MOE_SHARDS if spec.is_moe else [])
        for task, graph in bases.items():
            for shard in shards:
                key = ",".join(f"{k}={v}" for k, v in shard.items()) or "whole"
                try:
                    out[f"{name}/{task}/{key}"] = shard_graph(graph, **shard)
                except Exception as error:  # infeasible splits are part of the reference
                    out[f"{name}/{task}/{key}"] = f"{type(error).__name__}: {error}"  # type: ignore[assignment]
    return out


def _op_to_json(op: Any) -> list[Any]:
    return [type(op).__name__, *(getattr(op, f.name) for f in dataclasses.fields(op))]


def _graph_to_json(graph: OpGraph | str) -> Any:
    if isinstance(graph, str):
        return graph
    return {
        "head": [graph.model, graph.task, graph.batch, graph.seq_len, graph.num_tokens],
        "groups": [
            [g.name, g.phase, g.count, [_op_to_json(op) for op in g.ops]] for g in graph.groups
        ],
    }


def _graph_from_json(data: Any) -> OpGraph | str:
    if isinstance(data, str):
        return data
    groups = tuple(
        OpGroup(name, phase, count, tuple(OP_CLASSES[op[0]](*op[1:]) for op in ops))
        for name, phase, count, ops in data["groups"]
    )
    return OpGraph(*data["head"], groups)


def _types(graph: OpGraph | str) -> Any:
    """Field types too: 1 == 1.0, but an int where a float was is a change."""
    if isinstance(graph, str):
        return graph
    return [
        [type(getattr(op, f.name)).__name__ for f in dataclasses.fields(op)]
        for _, op in graph.iter_grouped()
    ]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    with gzip.open(REFERENCE, "rt") as file:
        return json.load(file)


@pytest.fixture(scope="module")
def graphs() -> dict[str, OpGraph]:
    return _graphs()


def test_same_cases(reference: dict[str, Any], graphs: dict[str, OpGraph]) -> None:
    assert sorted(graphs) == sorted(reference)


def test_graphs_equal_reference(reference: dict[str, Any], graphs: dict[str, OpGraph]) -> None:
    for key, graph in graphs.items():
        expected = _graph_from_json(reference[key])
        if isinstance(expected, OpGraph) and isinstance(graph, OpGraph):
            for group, want in zip(graph.groups, expected.groups, strict=True):
                assert group == want, f"{key}: group {want.name}/{want.phase}"
        assert graph == expected, key
        assert _types(graph) == _types(expected), key


def test_reference_round_trip_is_exact(reference: dict[str, Any]) -> None:
    """The saved JSON reads back to the same graphs (floats round-trip exactly)."""
    for key in list(reference)[:40]:
        assert _graph_to_json(_graph_from_json(reference[key])) == reference[key]


def test_rebuilt_graphs_are_stable(graphs: dict[str, OpGraph]) -> None:
    """A second build (warm internal caches) gives the same graphs as the first."""
    assert _graphs() == graphs


if __name__ == "__main__":
    data = {key: _graph_to_json(graph) for key, graph in _graphs().items()}
    REFERENCE.parent.mkdir(exist_ok=True)
    with gzip.open(REFERENCE, "wt") as file:
        json.dump(data, file, separators=(",", ":"))
    print(f"{len(data)} cases written to {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
