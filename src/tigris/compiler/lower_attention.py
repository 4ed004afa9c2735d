"""Lowerings that put attention and pooling on the arrays and the vector unit.

Attention, per sequence and head (work dealt round-robin to cores, then arrays):
  S = Q K^T            arrays: K tiles loaded transposed as weights, Q streamed (bf16, fp32 acc)
  S = S * (1/sqrt(d)), causal mask (-inf above the diagonal)
  P = exp(S - rowmax(S)) / rsum(...)    vector unit, fp32; P rounded to bf16
  O = P V              arrays: V tiles as weights (K folds over keys, accumulated), bf16 out
The whole L x L score tile stays in SRAM (no online softmax), so L is bounded by SRAM, and
head_dim must fit one fold (<= array rows).

Mean pooling: the token sum of a sequence is ones[1, L] @ X[L, H] on the arrays (the
exact ones make it a sum in fold order), times fp32(1/L); then x * rsqrt(rsum(x * x)).
"""

from __future__ import annotations

from math import ceil

import ml_dtypes
import numpy as np

from tigris.compiler.context import ACT, Context
from tigris.compiler.emitter import Kernel, Ring
from tigris.compiler.graph import Attention, MeanPool
from tigris.errors import UnsupportedError


def lower_attention(node: Attention, ctx: Context) -> None:
    machine, e, graph = ctx.machine, ctx.emitter, ctx.graph
    d, heads, kv_heads = node.head_dim, node.num_heads, node.num_kv_heads
    if d > machine.rows:
        raise UnsupportedError(f"{node.name}: head_dim {d} exceeds one fold ({machine.rows} rows)")
    qkv = ctx.activation(node.qkv)
    width = qkv.shape[1]
    out = ctx.activation(node.out, cols=heads * d, rows=qkv.shape[0])
    group = heads // kv_heads
    longest = max(graph.seq_lengths)
    C = machine.cols
    kernel = Kernel(e, node.name)
    units = [(s, h) for s in range(len(graph.seq_lengths)) for h in range(heads)]
    scale = float(np.float32(1.0 / np.sqrt(d)))
    for core in range(machine.num_cores):
        mine = units[core :: machine.num_cores]
        if not mine:
            continue
        q_ring, k_ring, v_ring = (Ring(kernel, core, 2, longest, d, ACT) for _ in range(3))
        s_ring = Ring(kernel, core, 2, longest, longest, "f32")
        p_ring = Ring(kernel, core, 2, longest, longest, ACT)
        col_ring = Ring(kernel, core, 4, longest, 1, "f32")
        o_ring = Ring(kernel, core, 2, longest, d, "f32")
        ob_ring = Ring(kernel, core, 2, longest, d, ACT)
        turn = 0
        for s, h in mine:
            length, start = graph.seq_lengths[s], graph.seq_starts[s]
            kvh = h // group
            columns = (h * d, (heads + kvh) * d, (heads + kv_heads + kvh) * d)
            q, k, v = (ring.next().row_block(0, length) for ring in (q_ring, k_ring, v_ring))
            tags = [
                e.load(core, t, qkv.addr + (start * width + c) * 2, width)
                for t, c in zip((q, k, v), columns, strict=True)
            ]
            scores = s_ring.next().row_block(0, length).columns(0, length)
            for tag in tags[:2]:
                e.wait(core, tag)
            for j in range(ceil(length / C)):
                keys = min(C, length - j * C)
                e.matmul_fold(
                    core,
                    turn % machine.arrays_per_core,
                    scores.columns(j * C, keys),
                    q,
                    k.row_block(j * C, keys),
                    accumulate=False,
                    transpose=True,
                )
                turn += 1
            e.vi("muli", core, scores, scores, scale)
            if node.causal:
                e.emit("v.mask", core, dst=scores, a=scores, offset=0)
            top, total = col_ring.next().row_block(0, length), col_ring.next().row_block(0, length)
            e.v("rmax", core, top, scores)
            e.v("sub", core, scores, scores, top)
            e.v("exp", core, scores, scores)
            e.v("rsum", core, total, scores)
            e.v("div", core, scores, scores, total)
            probs = p_ring.next().row_block(0, length).columns(0, length)
            e.v("copy", core, probs, scores)
            e.wait(core, tags[2])
            o = o_ring.next().row_block(0, length)
            array = turn % machine.arrays_per_core
            turn += 1
            for j in range(ceil(length / machine.rows)):
                keys = min(machine.rows, length - j * machine.rows)
                e.matmul_fold(
                    core,
                    array,
                    o,
                    probs.columns(j * machine.rows, keys),
                    v.row_block(j * machine.rows, keys),
                    accumulate=j > 0,
                )
            ob = ob_ring.next().row_block(0, length)
            e.v("copy", core, ob, o)
            e.store(core, out.addr + (start * heads * d + h * d) * 2, heads * d, ob)
    kernel.close()


def lower_mean_pool(node: MeanPool, ctx: Context) -> None:
    machine, e, graph = ctx.machine, ctx.emitter, ctx.graph
    x = ctx.activation(node.x)
    width = x.shape[1]
    R, C = machine.rows, machine.cols
    out = ctx.layout.tensor(node.out, len(graph.seq_lengths), width, "f32")
    ones = ctx.layout.constant("pool.ones", np.ones((1, R), dtype=ml_dtypes.bfloat16), "bf16")
    kernel = Kernel(e, node.name)
    longest = max(graph.seq_lengths)
    for core in range(machine.num_cores):
        mine = list(range(core, len(graph.seq_lengths), machine.num_cores))
        if not mine:
            continue
        one = kernel.alloc(core, 1, R, "bf16")
        e.wait(core, e.load(core, one, ones.addr, R))
        x_ring = Ring(kernel, core, 2, longest, width, ACT)
        p_ring = Ring(kernel, core, 2, 1, width, "f32")
        sq_ring = Ring(kernel, core, 2, 1, width, "f32")
        n_ring = Ring(kernel, core, 2, 1, 1, "f32")
        turn = 0
        for s in mine:
            length, start = graph.seq_lengths[s], graph.seq_starts[s]
            xs = x_ring.next().row_block(0, length)
            e.wait(core, e.load(core, xs, x.addr + start * width * 2, width))
            pooled = p_ring.next()
            for c0 in range(0, width, C):
                cols = min(C, width - c0)
                array = turn % machine.arrays_per_core
                turn += 1
                for j in range(ceil(length / R)):
                    rows = min(R, length - j * R)
                    e.matmul_fold(
                        core,
                        array,
                        pooled.columns(c0, cols),
                        one.columns(0, rows),
                        xs.row_block(j * R, rows).columns(c0, cols),
                        accumulate=j > 0,
                    )
            e.vi("muli", core, pooled, pooled, float(np.float32(1.0 / length)))
            if node.normalize:
                sq, norm = sq_ring.next(), n_ring.next()
                e.v("mul", core, sq, pooled, pooled)
                e.v("rsum", core, norm, sq)
                e.v("rsqrt", core, norm, norm)
                e.v("mul", core, pooled, pooled, norm)
            e.store(core, out.addr + s * width * 4, width, pooled)
    kernel.close()
