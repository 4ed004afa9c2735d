"""Lowerings that put attention and pooling on the arrays and the vector unit.

Attention, per sequence and head (work dealt round-robin to cores; each fold to the array
with the least estimated work so far; the next
heads' Q/K/V loads are issued before this head waits, and HEADS_IN_FLIGHT heads' tiles are
ring-buffered so QK^T, softmax and PV of different heads overlap):
  S = Q K^T            arrays: each K tile loaded transposed as weights on the next array, Q
                       streamed (bf16, fp32 acc); causal: key tile j streams queries >= j*C
  per row block of C queries (causal: over its keys up to the diagonal tile):
  S = S * (1/sqrt(d)), causal mask (-inf above the diagonal)
  P = exp(S - rowmax(S)) / rsum(...)    vector unit, fp32; P rounded to bf16
  O = P V              arrays: V tiles as weights, one key fold per array into its own
                       partial sum (causal: queries >= the fold's first key), the partials
                       added in fold order on the vector unit; bf16 out
Skipping the all-masked work changes no bit: the masked scores' exponentials are exactly 0,
which adds nothing to a row sum, and a fold of zero probabilities sums to +0 (a chain from
+0 is never -0), which adds nothing to the output. The whole L x L score tile stays in SRAM
(no online softmax), so L is bounded by SRAM, and head_dim must fit one fold (<= array rows).

Mean pooling: the token sum of a sequence is ones[1, L] @ X[L, H] on the arrays (the
exact ones make it a sum in fold order), times fp32(1/L); then x * rsqrt(rsum(x * x)).
"""

from __future__ import annotations

from math import ceil

import numpy as np

from tigris.errors import UnsupportedError
from tigris.toolchain.compiler.context import ACT, Context
from tigris.toolchain.compiler.emitter import Kernel, Ring
from tigris.toolchain.compiler.graph import Attention, MeanPool
from tigris.toolchain.isa.dtypes import numpy_dtype
from tigris.toolchain.isa.operands import Tile

# Heads in flight per core (ring depth of the per-head tiles): enough that one head's QK^T,
# another's softmax and a third's PV run on the arrays and the vector unit at once.
HEADS_IN_FLIGHT = 4
# Heads by which a head's PV partial sums (vector unit) trail its PV folds (arrays).
EPILOGUE_LAG = 2


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
    R, C, A = machine.rows, machine.cols, machine.arrays_per_core
    kernel = Kernel(e, node.name)
    units = [(s, h) for s in range(len(graph.seq_lengths)) for h in range(heads)]
    scale = float(np.float32(1.0 / np.sqrt(d)))
    per_head = longest * (3 * d * 2 + longest * (4 + 2) + 2 * 4 + d * (4 + 2))
    partials = (EPILOGUE_LAG + 2) * ceil(longest / R) * longest * d * 4
    depth = HEADS_IN_FLIGHT
    while depth > 2 and depth * per_head + partials > machine.sram_bytes_per_core // 2:
        depth -= 1
    for core in range(machine.num_cores):
        mine = units[core :: machine.num_cores]
        if not mine:
            continue
        q_ring, k_ring, v_ring = (Ring(kernel, core, depth, longest, d, ACT) for _ in range(3))
        s_ring = Ring(kernel, core, depth, longest, longest, "f32")
        p_ring = Ring(kernel, core, depth, longest, longest, ACT)
        col_ring = Ring(kernel, core, 2 * depth, longest, 1, "f32")
        part_ring = Ring(kernel, core, (EPILOGUE_LAG + 2) * ceil(longest / R), longest, d, "f32")
        ob_ring = Ring(kernel, core, depth, longest, d, ACT)
        # QK^T folds go to the first half of the arrays and PV folds to the second (a PV fold
        # waits for its softmax; an array runs in order, so a QK^T fold queued behind it
        # would wait too), each fold to the least loaded array of its half by estimated busy
        # cycles, so the longest (all-query) fold does not land on the same array every head.
        loads = [0] * A
        halves = (range(max(1, A // 2)), range(A // 2, A) if A > 1 else range(1))

        def array_for(rows: int, half: int, loads: list[int] = loads, halves=halves) -> int:
            array = min(halves[half], key=loads.__getitem__)
            loads[array] += rows + 2 * R + C - 2
            return array

        epilogues: list[tuple[list[tuple[int, Tile]], int, int, int]] = []

        def epilogue(parts, start: int, h: int, length: int, core: int = core, ob_ring=ob_ring):
            acc = parts[0][1]
            for first, part in parts[1:]:
                rows_of = acc.row_block(first, length - first)
                e.v("add", core, rows_of, rows_of, part)
            ob = ob_ring.next().row_block(0, length)
            e.v("copy", core, ob, acc)
            e.store(core, out.addr + (start * heads * d + h * d) * 2, heads * d, ob)

        def issue(s: int, h: int, core: int = core, rings=(q_ring, k_ring, v_ring)):
            length, start = graph.seq_lengths[s], graph.seq_starts[s]
            kvh = h // group
            columns = (h * d, (heads + kvh) * d, (heads + kv_heads + kvh) * d)
            tiles = [ring.next().row_block(0, length) for ring in rings]
            tags = [
                e.load(core, t, qkv.addr + (start * width + c) * 2, width)
                for t, c in zip(tiles, columns, strict=True)
            ]
            return tiles, tags

        # Loads run `ahead` heads in front of the compute (and of this head's store, which
        # the one DMA engine would otherwise put in front of them).
        ahead = max(1, depth - 2)
        pending = [issue(*unit) for unit in mine[:ahead]]
        for index, (s, h) in enumerate(mine):
            (q, k, v), tags = pending.pop(0)
            if index + ahead < len(mine):
                pending.append(issue(*mine[index + ahead]))
            length, start = graph.seq_lengths[s], graph.seq_starts[s]
            scores = s_ring.next()
            probs = p_ring.next()
            for tag in tags[:2]:
                e.wait(core, tag)
            # S = Q K^T by key tiles; under a causal mask key tile j only meets queries >= j*C
            # (the rows above are never read: each row's softmax stops at its diagonal tile).
            for j in range(ceil(length / C)):
                keys = min(C, length - j * C)
                first = j * C if node.causal else 0
                e.matmul_fold(
                    core,
                    array_for(length - first, 0),
                    scores.row_block(first, length - first).columns(j * C, keys),
                    q.row_block(first, length - first),
                    k.row_block(j * C, keys),
                    accumulate=False,
                    transpose=True,
                )
            # Softmax by row blocks of C rows, each over its keys up to the diagonal tile
            # (the masked keys beyond it have exp = 0: leaving them out changes no bit).
            for i in range(ceil(length / C)):
                rows = min(C, length - i * C)
                cols = min(length, (i + 1) * C) if node.causal else length
                block = scores.row_block(i * C, rows).columns(0, cols)
                e.vi("muli", core, block, block, scale)
                if node.causal:
                    e.emit("v.mask", core, dst=block, a=block, offset=i * C)
                top, total = col_ring.next().row_block(0, rows), col_ring.next().row_block(0, rows)
                e.v("rmax", core, top, block)
                e.v("sub", core, block, block, top)
                e.v("exp", core, block, block)
                e.v("rsum", core, total, block)
                e.v("div", core, block, block, total)
                e.v("copy", core, probs.row_block(i * C, rows).columns(0, cols), block)
            e.wait(core, tags[2])
            # O = P V by key folds, each on the next array into its own partial sum, added in
            # fold order by the vector unit (the same bits as accumulating on one array); a
            # causal fold j only has queries >= j*R (the others would add exact zeros).
            parts = []
            for j in range(ceil(length / R)):
                keys = min(R, length - j * R)
                first = j * R if node.causal else 0
                part = part_ring.next().row_block(first, length - first)
                e.matmul_fold(
                    core,
                    array_for(length - first, 1),
                    part,
                    probs.row_block(first, length - first).columns(j * R, keys),
                    v.row_block(j * R, keys),
                    accumulate=False,
                )
                parts.append((first, part))
            # The vector unit runs in order: this head's sums wait EPILOGUE_LAG heads, so the
            # next heads' softmax runs while the arrays compute PV.
            epilogues.append((parts, start, h, length))
            if len(epilogues) > EPILOGUE_LAG:
                epilogue(*epilogues.pop(0))
        for pending_epilogue in epilogues:
            epilogue(*pending_epilogue)
    kernel.close()


def lower_mean_pool(node: MeanPool, ctx: Context) -> None:
    machine, e, graph = ctx.machine, ctx.emitter, ctx.graph
    x = ctx.activation(node.x)
    width = x.shape[1]
    R, C = machine.rows, machine.cols
    out = ctx.layout.tensor(node.out, len(graph.seq_lengths), width, "f32")
    ones = ctx.layout.constant("pool.ones", np.ones((1, R), dtype=numpy_dtype("bf16")), "bf16")
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
