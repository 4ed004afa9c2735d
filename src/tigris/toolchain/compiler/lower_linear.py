"""Lowering of `Linear`: a matmul on the arrays with its epilogue fused (dequantisation,
bias, activation, residual add and the cast to bf16 done on the output tile in SRAM before
it is stored, instead of as separate operators that would each re-read it from HBM).

Order of arithmetic for one output tile (what the numpy reference repeats):
  acc  = X_q @ W_q, fold by fold (K in chunks of R rows, fold order), fp32 or int32
  y    = fp32(acc) [* (s_x * s_w)]   [+ bias]   [activation]   [+ residual]   -> bf16
"""

from __future__ import annotations

from math import ceil

import numpy as np

from tigris.toolchain.compiler.context import ACT, Context
from tigris.toolchain.compiler.emitter import Kernel, Ring
from tigris.toolchain.compiler.graph import Linear
from tigris.toolchain.compiler.numerics import quantize_weight, scale_for
from tigris.toolchain.compiler.partition import plan_matmul
from tigris.toolchain.compiler.vector import activation
from tigris.toolchain.isa.dtypes import itemsize
from tigris.toolchain.isa.operands import Tile


def lower_linear(node: Linear, ctx: Context) -> None:
    machine, mode, e = ctx.machine, ctx.mode, ctx.emitter
    weight = ctx.graph.constants[node.weight]
    k, n = weight.shape
    x_sym = ctx.activation(node.x)
    m = x_sym.shape[0]
    if x_sym.shape[1] != k:
        raise ValueError(f"{node.name}: x has {x_sym.shape[1]} columns, weight {k} rows")
    smooth = ctx.smoothing.get(node.name)
    if smooth is not None:
        weight = (weight * smooth[:, None]).astype(np.float32)
    stored, w_scales = quantize_weight(weight, mode)
    w_sym = ctx.layout.constant(f"{node.weight}:{mode.name}", stored, mode.weight_dtype)
    x_scale = np.float32(1.0)
    scale_sym = None
    if mode.quantized:
        assert mode.qmax is not None
        x_scale = scale_for(ctx.activation_absmax[node.name], mode.qmax)[()]
        combined = (x_scale * w_scales).astype(np.float32)
        scale_sym = ctx.layout.constant(f"{node.name}.scale:{mode.name}", combined, "f32")
    inv_smooth_sym = None
    if smooth is not None:
        inv = (np.float32(1) / smooth).astype(np.float32)
        inv_smooth_sym = ctx.layout.constant(f"{node.name}.inv_smooth:{mode.name}", inv, "f32")
    bias_sym = ctx.constant(node.bias) if node.bias else None
    res_sym = ctx.activation(node.residual) if node.residual else None
    out_sym = ctx.activation(node.out, cols=n, rows=m)

    wbytes = itemsize(mode.weight_dtype)
    macs = machine.macs_per_pe(mode.name)
    plan = plan_matmul(m, n, k, machine, macs, wbytes, mode.quantized)
    R, C, A = machine.rows, machine.cols, machine.arrays_per_core
    n_tiles, folds = ceil(n / C), ceil(k / R)
    chunk = plan.rows_per_chunk
    n_chunks = ceil(m / chunk)
    kernel = Kernel(e, node.name)
    for core in range(machine.num_cores):
        a, b = divmod(core, plan.core_cols)
        my_tiles = list(range(b, n_tiles, plan.core_cols))
        my_chunks = list(range(a, n_chunks, plan.core_rows))
        if not my_tiles or not my_chunks:
            continue
        x_ring = Ring(kernel, core, 2, chunk, k, ACT)
        # Residual tiles of a chunk are loaded with its X chunk, one chunk ahead.
        r_ring = (
            Ring(kernel, core, 2 * len(my_tiles), chunk, C, ACT) if res_sym is not None else None
        )

        def issue_x(
            i: int,
            core: int = core,
            x_ring: Ring = x_ring,
            r_ring: Ring | None = r_ring,
            my_tiles: list[int] = my_tiles,
            after_fold=None,
        ) -> tuple[Tile, list[int], dict[int, tuple[Tile, int]]]:
            """Load chunk i of X one fold (R columns) per transfer, so the first fold can
            start when its columns land, then its residual tiles."""
            rows = min(chunk, m - i * chunk)
            x = x_ring.next().row_block(0, rows)
            tags = []
            for f in range(folds):
                piece = x.columns(f * R, min(R, k - f * R))
                tags.append(e.load(core, piece, x_sym.addr + (i * chunk * k + f * R) * 2, k))
                if after_fold is not None:
                    after_fold(f)
            residuals = {}
            if r_ring is not None and res_sym is not None:
                for j in my_tiles:
                    width = min(C, n - j * C)
                    res = r_ring.next().row_block(0, rows).columns(0, width)
                    tag = e.load(core, res, res_sym.addr + (i * chunk * n + j * C) * 2, n)
                    residuals[j] = (res, tag)
            return x, tags, residuals

        # The first X chunk, then the resident weights (and per-column rows) of this core's
        # column tiles in the order the first chunk uses them, one fold per transfer; each
        # piece is waited for just before its first use, so loading overlaps the first chunk.
        w_tiles, w_tags, rows_of = {}, {}, {}
        for j in my_tiles:
            w_tiles[j] = kernel.alloc(core, k, min(C, n - j * C), mode.weight_dtype)

        def load_w(j: int, f: int, core: int = core, w_tiles=w_tiles, w_tags=w_tags) -> None:
            piece = w_tiles[j].row_block(f * R, min(R, k - f * R))
            w_tags[j, f] = [e.load(core, piece, w_sym.addr + (f * R * n + j * C) * wbytes, n)]

        # The first chunk runs a group of column tiles fold-major, so the arrays have work
        # while X streams in, then the other tiles one by one (X has landed; their epilogues
        # spread out on the in-order vector unit); weights are loaded in that order of first
        # use, the group's folds interleaved with the first X chunk's folds.
        group = max(1, min(plan.first_group, len(my_tiles)))
        groups = [my_tiles[:group]] + [[j] for j in my_tiles[group:]]
        pending = issue_x(
            my_chunks[0],
            after_fold=lambda f, first=groups[0]: [load_w(j, f) for j in first],
        )
        for tiles in groups:
            for f in range(folds):
                for j in tiles:
                    if (j, f) not in w_tags:
                        load_w(j, f)
            for j in tiles:
                width = min(C, n - j * C)
                for key, sym in (("bias", bias_sym), ("scale", scale_sym)):
                    if sym is not None:
                        row = kernel.alloc(core, 1, width, "f32")
                        tag = e.load(core, row, sym.addr + j * C * 4, sym.shape[1])
                        w_tags.setdefault((j, "rows"), []).append(tag)
                        rows_of[key, j] = row
        inv_smooth = None
        if inv_smooth_sym is not None:
            inv_smooth = kernel.alloc(core, 1, k, "f32")
            e.wait(core, e.load(core, inv_smooth, inv_smooth_sym.addr, k))
        xs_ring = Ring(kernel, core, 2, chunk, k, "f32") if inv_smooth is not None else None
        xq_ring = Ring(kernel, core, 2, chunk, k, mode.weight_dtype) if mode.quantized else None
        p_ring = Ring(kernel, core, 2 * A, chunk, C, mode.accumulator)
        a_ring = Ring(kernel, core, group + 2, chunk, C, mode.accumulator)
        f_ring = Ring(kernel, core, 2, chunk, C, "f32")
        t_ring = Ring(kernel, core, 2, chunk, C, "f32")
        o_ring = Ring(kernel, core, 2, chunk, C, ACT)
        turn = 0

        for index, i in enumerate(my_chunks):
            x, x_tags, residuals = pending
            if index + 1 < len(my_chunks):
                pending = issue_x(my_chunks[index + 1])
            if xq_ring is not None:  # the quantisation pass reads the whole chunk
                for tag in x_tags:
                    e.wait(core, tag)
                x_tags = []
            x_tags = list(x_tags)
            rows = x.rows
            row0 = i * chunk
            if xq_ring is not None:
                xq = xq_ring.next().row_block(0, rows)
                if xs_ring is not None and inv_smooth is not None:
                    xs = xs_ring.next().row_block(0, rows)
                    e.v("mul", core, xs, x, inv_smooth)
                    x = xs
                e.vi("quant", core, xq, x, float(x_scale))
                x = xq
            # The first chunk: the group fold-major, then tile by tile; later chunks (X
            # prefetched): tile by tile. A tile's epilogue follows its last fold.
            order = [
                (j, f)
                for tiles in (groups if index == 0 else [[j] for j in my_tiles])
                for f in range(folds)
                for j in tiles
            ]
            accs: dict[int, Tile] = {}
            targets: dict[int, tuple[Tile, int]] = {}
            for j, f in order:
                width = min(C, n - j * C)
                depth = min(R, k - f * R)
                if f < len(x_tags) and x_tags[f] is not None:
                    e.wait(core, x_tags[f])
                    x_tags[f] = None
                for tag in w_tags.pop((j, f), ()):
                    e.wait(core, tag)
                if plan.split_k or f == 0:
                    ring = a_ring if plan.split_k and f == 0 else p_ring
                    targets[j] = (ring.next().row_block(0, rows).columns(0, width), turn % A)
                    turn += 1
                target, array = targets[j]
                w_fold = w_tiles[j].row_block(f * R, depth)
                x_fold = x.columns(f * R, depth)
                accumulate = not plan.split_k and f > 0
                e.matmul_fold(core, array, target, x_fold, w_fold, accumulate=accumulate)
                if j not in accs:
                    accs[j] = target
                elif plan.split_k:
                    # fold order: acc = (...(f0 + f1) + ...) + f
                    e.v("add", core, accs[j], accs[j], target)
                if f < folds - 1:
                    continue
                acc = accs[j]
                assert acc is not None
                for tag in w_tags.pop((j, "rows"), ()):
                    e.wait(core, tag)
                y = f_ring.next().row_block(0, rows).columns(0, width)
                e.v("copy", core, y, acc)
                if ("scale", j) in rows_of:
                    e.v("mul", core, y, y, rows_of["scale", j])
                if ("bias", j) in rows_of:
                    e.v("add", core, y, y, rows_of["bias", j])
                if node.activation:
                    t = t_ring.next().row_block(0, rows).columns(0, width)
                    activation(e, core, node.activation, y, t)
                if j in residuals:
                    res, res_tag = residuals[j]
                    e.wait(core, res_tag)
                    e.v("add", core, y, y, res)
                out = o_ring.next().row_block(0, rows).columns(0, width)
                e.v("copy", core, out, y)
                e.store(core, out_sym.addr + (row0 * n + j * C) * 2, n, out)
    kernel.close()
