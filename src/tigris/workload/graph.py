"""The op graph: groups of operators, each group repeated `count` times (identical layers).

A graph is a tuple of `OpGroup`s in execution order. A decoder layer's ops appear once per
kind of layer (`TransformerSpec.layer_kinds()`: attention window, dense or MoE MLP), in a
"layer" group with count = the layers of that kind and `kind` set, rather than 126 copies
(a model whose layers are all alike has one "layer" group per phase, as before). Every
total is the sum over groups of count * (sum of its ops), so any number can be traced back
to the ops that make it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tigris.workload.ops import Attention, Gemm, Op, Stream

if TYPE_CHECKING:
    from tigris.workload.spec import LayerKind

Phase = Literal["fwd", "bwd", "recompute", "optimizer"]
Task = Literal["train", "prefill", "decode"]


@dataclass(frozen=True)
class OpGroup:
    """Ops that run `count` times in a row-identical way (e.g. one decoder layer, forward)."""

    name: str  # "embedding" | "layer" | "head" | "model" (optimizer of non-layer params)
    phase: Phase
    count: int
    ops: tuple[Op, ...]
    # the layers' kind ("layer" groups; None elsewhere). Left out of ==: the ops already
    # differ where kinds do (window, MLP), and graphs compare with saved references
    kind: LayerKind | None = field(default=None, compare=False)

    @property
    def flop(self) -> float:
        return self.count * sum(op.flop for op in self.ops)

    @property
    def min_bytes(self) -> float:
        return self.count * sum(op.min_bytes for op in self.ops)


@dataclass(frozen=True)
class OpGraph:
    """The operators of one task on one model.

    `seq_len` is the training sequence, the context after prefill (cached past + prompt) or
    the KV length of the decode step; `num_tokens` the tokens the task processes (prefill:
    batch * prompt_len; decode: one per sequence).
    """

    model: str
    task: Task
    batch: int
    seq_len: int
    num_tokens: int
    groups: tuple[OpGroup, ...]

    def iter_ops(self) -> Iterator[tuple[Op, int]]:
        """Each op once, with how many times it runs (its group's count)."""
        for group in self.groups:
            for op in group.ops:
                yield op, group.count

    def iter_grouped(self) -> Iterator[tuple[OpGroup, Op]]:
        for group in self.groups:
            for op in group.ops:
                yield group, op

    @property
    def flop(self) -> float:
        return sum(group.flop for group in self.groups)

    @property
    def min_bytes(self) -> float:
        return sum(group.min_bytes for group in self.groups)

    def flop_of(self, kind: type, *, phase: Phase | None = None) -> float:
        """Flop of ops of one class (Gemm, Attention, Stream), optionally of one phase."""
        return sum(
            group.count * op.flop
            for group, op in self.iter_grouped()
            if isinstance(op, kind) and (phase is None or group.phase == phase)
        )

    def flop_by_kind(self) -> dict[str, float]:
        return {kind.__name__: self.flop_of(kind) for kind in (Gemm, Attention, Stream)}

    def groups_of(self, phase: Phase) -> tuple[OpGroup, ...]:
        return tuple(group for group in self.groups if group.phase == phase)

    def layer_groups(self, phase: Phase = "fwd") -> tuple[OpGroup, ...]:
        """The "layer" groups of `phase`, one per layer kind, in the model's kind order."""
        return tuple(g for g in self.groups if g.name == "layer" and g.phase == phase)

    def layer_ops(self, phase: Phase = "fwd", kind: LayerKind | None = None) -> tuple[Op, ...]:
        """The ops of one decoder layer in `phase`: of the layers of `kind`, or (None) of
        the first kind (every layer's, when the layers are all alike)."""
        for group in self.layer_groups(phase):
            if kind is None or group.kind == kind:
                return group.ops
        return ()


_new = object.__new__


def make_group(
    name: str, phase: Phase, count: int, ops: tuple[Op, ...], kind: LayerKind | None = None
) -> OpGroup:
    """OpGroup(name, phase, count, ops, kind) without the frozen dataclass's __init__ (a
    graph's groups are rebuilt by every graph build and every shard)."""
    group = _new(OpGroup)
    group.__dict__.update(name=name, phase=phase, count=count, ops=ops, kind=kind)
    return group


def make_graph(
    model: str,
    task: Task,
    batch: int,
    seq_len: int,
    num_tokens: int,
    groups: tuple[OpGroup, ...],
) -> OpGraph:
    """OpGraph(model, task, batch, seq_len, num_tokens, groups), built fast."""
    graph = _new(OpGraph)
    graph.__dict__.update(
        model=model, task=task, batch=batch, seq_len=seq_len, num_tokens=num_tokens, groups=groups
    )
    return graph
