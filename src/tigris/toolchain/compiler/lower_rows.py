"""Lowerings of row-wise operators on the vector unit: embedding, LayerNorm, RMSNorm,
gated activations, RoPE. Rows are cut into chunks dealt round-robin to the cores; each core
double-buffers its chunks (the load of chunk i+1 is issued before chunk i is computed).

Loads run `prefetch_depth` chunks ahead of the arithmetic: enough chunks in flight that the
DMA latency is hidden behind the transfers of the chunks before (a chunk of 128 rows streams
in far less time than the latency, so double buffering would leave the engine idle).

Orders of arithmetic (fp32; the numpy reference repeats them):
  embedding: (table[id] + positions[p]) + type_row
  LayerNorm: mean = rsum(x) * (1/H); xc = x - mean; var = rsum(xc*xc) * (1/H);
             y = ((xc * rsqrt(var + eps)) * gamma) + beta
  RMSNorm:   y = (x * rsqrt(rsum(x*x) * (1/H) + eps)) * gamma
  gated:     y = act(gate) * up
  RoPE:      per head, y = x * cos + rothalf(x) * sin
rsum adds a row's elements left to right; rsqrt(v) = 1 / sqrt(v), each rounded to fp32.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil

import numpy as np

from tigris.toolchain.compiler.context import ACT, Context
from tigris.toolchain.compiler.emitter import Kernel, Ring
from tigris.toolchain.compiler.graph import Embedding, GatedActivation, LayerNorm, RMSNorm, Rope
from tigris.toolchain.compiler.vector import activation
from tigris.toolchain.isa.operands import Tile

CHUNK_ROWS = 128


def chunks(ctx: Context, rows: int) -> list[tuple[int, int, int]]:
    """(core, first row, row count) of each chunk."""
    size = min(CHUNK_ROWS, ceil(rows / ctx.machine.num_cores))
    return [
        (i % ctx.machine.num_cores, r, min(size, rows - r))
        for i, r in enumerate(range(0, rows, size))
    ]


def prefetch_depth(ctx: Context, chunk_bytes: float, count: int) -> int:
    """Chunks in flight: the one being computed plus as many as stream in within a DMA
    latency (at least 2, at most this core's chunks and 8)."""
    m = ctx.machine
    transfer = max(1.0, chunk_bytes / m.dma_bytes_per_cycle)
    return max(2, min(count, 8, 1 + ceil(m.dma_latency_cycles / transfer)))


Body = Callable[[int, Tile, int, int], Tile]  # (core, input chunk, row0, rows) -> output chunk


def row_kernel(
    ctx: Context,
    name: str,
    x_name: str,
    out_name: str,
    out_cols: int,
    body_for: Callable[[Kernel, int, int], Body],
) -> None:
    """Load chunks of `x_name`, run `body` on each, store them to `out_name` (bf16)."""
    e = ctx.emitter
    x_sym = ctx.activation(x_name)
    rows, cols = x_sym.shape
    out_sym = ctx.activation(out_name, cols=out_cols, rows=rows)
    kernel = Kernel(e, name)
    plan = chunks(ctx, rows)
    size = max(r for _, _, r in plan)
    for core in range(ctx.machine.num_cores):
        mine = [(r0, n) for c, r0, n in plan if c == core]
        if not mine:
            continue
        depth = prefetch_depth(ctx, size * cols * 2, len(mine))
        ring = Ring(kernel, core, depth, size, cols, ACT)
        body = body_for(kernel, core, size)

        def issue(r0: int, n: int, core: int = core, ring: Ring = ring) -> tuple[Tile, int]:
            x = ring.next().row_block(0, n)
            return x, e.load(core, x, x_sym.addr + r0 * cols * 2, cols)

        pending = [issue(*chunk) for chunk in mine[: depth - 1]]
        for index, (r0, n) in enumerate(mine):
            if index + depth - 1 < len(mine):
                pending.append(issue(*mine[index + depth - 1]))
            x, tag = pending.pop(0)
            e.wait(core, tag)
            _wait_deferred(ctx, kernel, core)
            out = body(core, x, r0, n)
            e.store(core, out_sym.addr + r0 * out_cols * 2, out_cols, out)
    kernel.close()


def _load_rows(ctx: Context, kernel: Kernel, core: int, name: str, dtype: str = "f32") -> Tile:
    """Load a constant row; its wait is deferred to the kernel's first use (kernel.deferred),
    so its latency overlaps the first chunk's."""
    sym = ctx.constant(name, dtype)
    row = kernel.alloc(core, 1, sym.shape[1], dtype)
    kernel.deferred.setdefault(core, []).append(ctx.emitter.load(core, row, sym.addr, sym.shape[1]))
    return row


def _wait_deferred(ctx: Context, kernel: Kernel, core: int) -> None:
    for tag in kernel.deferred.pop(core, ()):
        ctx.emitter.wait(core, tag)


def lower_norm(node: LayerNorm | RMSNorm, ctx: Context) -> None:
    e = ctx.emitter
    width = ctx.width(node.x)
    inv_width = float(np.float32(1.0 / width))

    def body_for(kernel: Kernel, core: int, size: int) -> Body:
        gamma = _load_rows(ctx, kernel, core, node.gamma)
        beta = _load_rows(ctx, kernel, core, node.beta) if isinstance(node, LayerNorm) else None
        xf_ring = Ring(kernel, core, 2, size, width, "f32")
        sq_ring = Ring(kernel, core, 2, size, width, "f32")
        col_ring = Ring(kernel, core, 4, size, 1, "f32")
        out_ring = Ring(kernel, core, 2, size, width, ACT)

        def body(core: int, x: Tile, r0: int, n: int) -> Tile:
            xf, sq = xf_ring.next().row_block(0, n), sq_ring.next().row_block(0, n)
            out = out_ring.next().row_block(0, n)
            e.v("copy", core, xf, x)
            if beta is not None:
                mean = col_ring.next().row_block(0, n)
                e.v("rsum", core, mean, xf)
                e.vi("muli", core, mean, mean, inv_width)
                e.v("sub", core, xf, xf, mean)
            var = col_ring.next().row_block(0, n)
            e.v("mul", core, sq, xf, xf)
            e.v("rsum", core, var, sq)
            e.vi("muli", core, var, var, inv_width)
            e.vi("addi", core, var, var, float(np.float32(node.eps)))
            e.v("rsqrt", core, var, var)
            e.v("mul", core, xf, xf, var)
            e.v("mul", core, xf, xf, gamma)
            if beta is not None:
                e.v("add", core, xf, xf, beta)
            e.v("copy", core, out, xf)
            return out

        return body

    row_kernel(ctx, node.name, node.x, node.out, width, body_for)


def lower_gated(node: GatedActivation, ctx: Context) -> None:
    e = ctx.emitter
    width = ctx.width(node.x) // 2

    def body_for(kernel: Kernel, core: int, size: int) -> Body:
        g_ring = Ring(kernel, core, 2, size, width, "f32")
        u_ring = Ring(kernel, core, 2, size, width, "f32")
        t_ring = Ring(kernel, core, 2, size, width, "f32")
        out_ring = Ring(kernel, core, 2, size, width, ACT)

        def body(core: int, x: Tile, r0: int, n: int) -> Tile:
            g, u = g_ring.next().row_block(0, n), u_ring.next().row_block(0, n)
            t, out = t_ring.next().row_block(0, n), out_ring.next().row_block(0, n)
            e.v("copy", core, g, x.columns(0, width))
            e.v("copy", core, u, x.columns(width, width))
            activation(e, core, node.activation, g, t)
            e.v("mul", core, g, g, u)
            e.v("copy", core, out, g)
            return out

        return body

    row_kernel(ctx, node.name, node.x, node.out, width, body_for)


def lower_rope(node: Rope, ctx: Context) -> None:
    e = ctx.emitter
    width, d = ctx.width(node.x), node.head_dim
    cos_sym, sin_sym = ctx.constant(node.cos), ctx.constant(node.sin)

    def body_for(kernel: Kernel, core: int, size: int) -> Body:
        xf_ring = Ring(kernel, core, 2, size, width, "f32")
        rot_ring = Ring(kernel, core, 2, size, node.num_heads * d, "f32")
        tab_ring = Ring(kernel, core, 4, size, d, "f32")
        out_ring = Ring(kernel, core, 2, size, width, ACT)

        def body(core: int, x: Tile, r0: int, n: int) -> Tile:
            xf, rot = xf_ring.next().row_block(0, n), rot_ring.next().row_block(0, n)
            cos, sin = tab_ring.next().row_block(0, n), tab_ring.next().row_block(0, n)
            tags = [
                e.load(core, cos, cos_sym.addr + r0 * d * 4, d),
                e.load(core, sin, sin_sym.addr + r0 * d * 4, d),
            ]
            out = out_ring.next().row_block(0, n)
            e.v("copy", core, xf, x)
            rotated = xf.columns(0, node.num_heads * d)
            e.emit("v.rothalf", core, dst=rot, a=rotated, width=d)
            for tag in tags:
                e.wait(core, tag)
            for h in range(node.num_heads):
                head, r = xf.columns(h * d, d), rot.columns(h * d, d)
                e.v("mul", core, head, head, cos)
                e.v("mul", core, r, r, sin)
                e.v("add", core, head, head, r)
            e.v("copy", core, out, xf)
            return out

        return body

    row_kernel(ctx, node.name, node.x, node.out, width, body_for)


def lower_embedding(node: Embedding, ctx: Context) -> None:
    e, graph = ctx.emitter, ctx.graph
    table = ctx.constant(node.table)
    width = table.shape[1]
    rows = graph.num_tokens
    ids = ctx.layout.tensors[graph.ids]
    pos = ctx.constant(node.positions) if node.positions else None
    out_sym = ctx.activation(node.out, cols=width, rows=rows)
    kernel = Kernel(e, node.name)
    plan = chunks(ctx, rows)
    size = max(n for _, _, n in plan)
    starts = graph.seq_starts
    for core in range(ctx.machine.num_cores):
        mine = [(r0, n) for c, r0, n in plan if c == core]
        if not mine:
            continue
        type_row = _load_rows(ctx, kernel, core, node.type_row) if node.type_row else None
        # All of this core's token ids first (small), then each chunk's gather and position
        # rows issued one chunk ahead of its arithmetic.
        idx_tiles = []
        for r0, n in mine:
            idx = kernel.alloc(core, n, 1, "i32")
            idx_tiles.append((idx, e.load(core, idx, ids.addr + r0 * 4, 1)))
        depth = prefetch_depth(ctx, size * width * 4 * (1 + (pos is not None)), len(mine))
        emb_ring = Ring(kernel, core, depth, size, width, "f32")
        pos_ring = Ring(kernel, core, depth, size, width, "f32")
        out_ring = Ring(kernel, core, 2, size, width, ACT)

        def issue(
            index: int, core: int = core, mine=mine, idx_tiles=idx_tiles, rings=(emb_ring, pos_ring)
        ):
            r0, n = mine[index]
            idx, idx_tag = idx_tiles[index]
            emb = rings[0].next().row_block(0, n)
            tags = []
            p = rings[1].next().row_block(0, n)
            if pos is not None:
                row = r0
                while row < r0 + n:  # one transfer per sequence piece in the chunk
                    s = max(i for i, start in enumerate(starts) if start <= row)
                    end = min(r0 + n, starts[s] + graph.seq_lengths[s])
                    piece = p.row_block(row - r0, end - row)
                    tags.append(
                        e.load(core, piece, pos.addr + (row - starts[s]) * width * 4, width)
                    )
                    row = end
            # The gather needs its ids in SRAM: the position rows (independent of them) go
            # first, so their transfer overlaps the ids' latency.
            e.wait(core, idx_tag)
            tags.append(e.gather(core, emb, table.addr, width, idx))
            return emb, p, tags

        pending = [issue(i) for i in range(min(depth - 1, len(mine)))]
        for index, (r0, n) in enumerate(mine):
            if index + depth - 1 < len(mine):
                pending.append(issue(index + depth - 1))
            emb, p, tags = pending.pop(0)
            for tag in tags:
                e.wait(core, tag)
            _wait_deferred(ctx, kernel, core)
            if pos is not None:
                e.v("add", core, emb, emb, p)
            if type_row is not None:
                e.v("add", core, emb, emb, type_row)
            out = out_ring.next().row_block(0, n)
            e.v("copy", core, out, emb)
            e.store(core, out_sym.addr + r0 * width * 2, width, out)
    kernel.close()
