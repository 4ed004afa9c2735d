"""The numbers the array computes, in the order its dataflow adds them.

Where K goes decides the order of the additions (dataflow.RULES):

* K in time (OS): each PE keeps one accumulator and adds its K products one per cycle,
  k = 0, 1, ..., K-1: a single chain of K additions per output.
* K on rows (WS, IS): partial sums flow down a column, each PE adding its product, so a fold
  adds R products in row order; the ofmap SRAM then adds each fold's column sum to what
  the earlier folds along K left there, in fold order.

The skew of the wavefront changes when a PE does its k-th MAC, never the order of a PE's
additions, so the arithmetic steps through the reduction index for all PEs of all folds at
once (numpy over M x N) instead of cycle by cycle.

Number formats: int8 x int8 products accumulate in int32 with two's-complement wrap-around.
Integer addition mod 2^32 is associative, so the order does not change the bits and each
chain is computed as one exact float64 GEMM (|products| <= 2^14, exact while K < 2^39) and
then wrapped. Float inputs (bf16, fp16, fp8 e4m3/e5m2) are widened to fp32, where their
products are exact (at most 22 significant bits, assuming no underflow below fp32's range),
and accumulated in fp32 with round-to-nearest-even after every addition, starting from +0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tigris.engines.systolic.dataflow import DataflowRule
from tigris.engines.systolic.numerics import NumberFormat

# Rows of C updated together in the fp32 chains: keeps one block (rows x N fp32) in cache.
_BLOCK_BYTES = 1 << 20


def chain_length(rule: DataflowRule, k: int, rows: int, cols: int) -> int:
    """How many products are added in one unbroken chain before a fold boundary."""
    return {rule.rows: rows, rule.cols: cols}.get("K", k)


def multiply(
    a: np.ndarray,
    b: np.ndarray,
    rule: DataflowRule,
    rows: int,
    cols: int,
    fmt: NumberFormat,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """C = A x B as the array computes it; result in the accumulator dtype.
    `progress(done, total)` hears of MACs done."""
    k = a.shape[1]
    chain = chain_length(rule, k, rows, cols)
    report = progress or _ignore
    if fmt.is_integer:
        return _multiply_integer(a, b, chain, report)
    return _multiply_float(a, b, chain, report)


def _ignore(done: int, total: int) -> None:
    pass


def wrap_int32(values: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (what an int32 accumulator does)."""
    return values.astype(np.int64).astype(np.int32)


def _multiply_integer(a: np.ndarray, b: np.ndarray, chain: int, report) -> np.ndarray:
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    m, k = a.shape
    n = b.shape[1]
    acc = np.zeros((m, n), dtype=np.int64)
    for k0 in range(0, k, chain):
        report(m * n * k0, m * n * k)
        partial = (a64[:, k0 : k0 + chain] @ b64[k0 : k0 + chain]).astype(np.int64)
        # Each fold's column sum is an int32 in hardware; adding wrapped values wraps the same.
        acc = wrap_int32(acc + wrap_int32(partial)).astype(np.int64)
    report(m * n * k, m * n * k)
    return acc.astype(np.int32)


def _multiply_float(a: np.ndarray, b: np.ndarray, chain: int, report) -> np.ndarray:
    a32 = a.astype(np.float32)
    b32 = b.astype(np.float32)
    m, k = a32.shape
    n = b32.shape[1]
    out = np.zeros((m, n), dtype=np.float32)
    block = max(1, min(m, _BLOCK_BYTES // (4 * n)))
    for m0 in range(0, m, block):
        rows_a = a32[m0 : m0 + block]
        product = np.empty((rows_a.shape[0], n), dtype=np.float32)
        psum = np.empty_like(product)
        for k0 in range(0, k, chain):
            report((m0 * k + rows_a.shape[0] * k0) * n, m * n * k)
            psum.fill(0.0)
            for kk in range(k0, min(k, k0 + chain)):
                np.multiply(rows_a[:, kk, None], b32[kk], out=product)
                np.add(psum, product, out=psum)
            # Fold boundary: the ofmap SRAM adds this column sum to the running output.
            np.add(out[m0 : m0 + block], psum, out=out[m0 : m0 + block])
    report(m * n * k, m * n * k)
    return out
