"""The fast op constructors (ops.make_*, graph.make_*) give the same objects as the
dataclass constructors: equal, same hash and repr, same checks."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from tigris.workload.graph import OpGraph, OpGroup, make_graph, make_group
from tigris.workload.ops import (
    Attention,
    Gemm,
    Stream,
    copy_op,
    make_attention,
    make_gemm,
    make_stream,
)


def _same(fast: object, slow: object) -> None:
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    assert type(fast) is type(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert copy.copy(fast) == slow


def test_make_ops_equal_constructors() -> None:
    _same(make_gemm("g", 3, 4, 5), Gemm("g", 3, 4, 5))
    _same(
        make_gemm("g", 3, 4, 5, 2, "fp8", "bf16", "int4"),
        Gemm("g", 3, 4, 5, 2, "fp8", "bf16", "int4"),
    )
    _same(make_stream("s", 7, 1.5, 2.0), Stream("s", 7, 1.5, 2.0))
    _same(make_stream("s", 7, 1.5, 2.0, 0.0), Stream("s", 7, 1.5, 2.0, 0.0))
    args = ("a", 2, 8, 2, 64, 16, 32, False, "fp16", "fp8", "bwd", 8, "standard", True)
    _same(make_attention(*args), Attention(*args))
    _same(make_attention("a", 1, 2, 2, 4, 5, 6), Attention("a", 1, 2, 2, 4, 5, 6))


def test_copy_op_equals_replace() -> None:
    gemm = Gemm("g", 3, 4, 5, weight_dtype="int4")
    _same(copy_op(gemm, m=9, name="h"), dataclasses.replace(gemm, m=9, name="h"))
    attention = Attention("a", 1, 8, 2, 4, 5, 6)
    _same(copy_op(attention, phase="bwd"), dataclasses.replace(attention, phase="bwd"))
    assert gemm == Gemm("g", 3, 4, 5, weight_dtype="int4")  # the original is untouched


def test_make_ops_keep_the_checks() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        make_gemm("g", 0, 4, 5)
    with pytest.raises(ValueError, match="must be positive"):
        make_gemm("g", 3, 4, 5, batch=-1)
    with pytest.raises(ValueError, match="unknown attention implementation"):
        make_attention("a", 1, 2, 2, 4, 5, 6, implementation="flash9")


def test_make_graph_and_group_equal_constructors() -> None:
    ops = (Gemm("g", 3, 4, 5), Stream("s", 7, 1.5, 2.0))
    _same(make_group("layer", "fwd", 4, ops), OpGroup("layer", "fwd", 4, ops))
    groups = (OpGroup("layer", "fwd", 4, ops),)
    _same(
        make_graph("m", "train", 2, 16, 32, (make_group("layer", "fwd", 4, ops),)),
        OpGraph("m", "train", 2, 16, 32, groups),
    )
