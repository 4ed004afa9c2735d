"""What each compute instruction computes, bit for bit.

Arrays (`mxu.mm` after `mxu.ldw`): a weight-stationary fold. With k <= R weight rows, each
column adds its k products top to bottom, in fp32 with round-to-nearest-even after every
addition from +0 (float inputs: bf16, fp8 e4m3; products are exact in fp32), or in int32
with wrap-around (int8); the fold's column sums are then added to the accumulator tile
(acc=1) or replace it (acc=0). This is the systolic simulator's arithmetic
(tigris.engines.systolic.arithmetic) for one fold.

Vector unit: inputs widened to fp32, the operation in fp32 (numpy's fp32 kernels), the
result rounded to the destination type. Reductions run left to right along a row. erf is
Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7) evaluated in fp32; rsqrt is 1 / sqrt(x)
with both steps rounded; sigmoid is 1 / (1 + exp(-x)). v.quant divides by the scale,
rounds half to even and saturates (int8: +-127; e4m3: +-448).
"""

from __future__ import annotations

import numpy as np

from tigris.engines.systolic.arithmetic import multiply, wrap_int32
from tigris.engines.systolic.dataflow import RULES
from tigris.engines.systolic.numerics import number_format

_FORMATS = {"bf16": "bf16", "i8": "int8", "e4m3": "fp8_e4m3", "f16": "fp16"}
F32 = np.float32

# Abramowitz & Stegun 7.1.26
_ERF_P = F32(0.3275911)
_ERF_A = tuple(F32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


def fold(x: np.ndarray, w: np.ndarray, x_dtype: str, rows: int, cols: int) -> np.ndarray:
    """Column sums of one fold: x[m, k] @ w[k, n], k <= rows, in the accumulator type."""
    if x_dtype not in _FORMATS:
        raise ValueError(f"the arrays take bf16, f16, i8 or e4m3 inputs, not {x_dtype}")
    return multiply(x, w, RULES["ws"], rows, cols, number_format(_FORMATS[x_dtype]))


def accumulate(acc: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """acc + sums in the accumulator's arithmetic (int32 wraps)."""
    if acc.dtype == np.int32:
        return wrap_int32(acc.astype(np.int64) + sums.astype(np.int64))
    return (acc.astype(F32) + sums.astype(F32)).astype(F32)


def erf(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    t = F32(1) / (F32(1) + _ERF_P * a)
    poly = _ERF_A[4]
    for coefficient in reversed(_ERF_A[:4]):
        poly = poly * t + coefficient
    y = F32(1) - (poly * t) * np.exp(-(a * a))
    return np.copysign(y, x).astype(F32)


def row_sum(x: np.ndarray) -> np.ndarray:
    """Left-to-right sum of each row in fp32 (np.add.accumulate adds in order)."""
    return np.add.accumulate(x, axis=1, dtype=F32)[:, -1:]


def rot_half(x: np.ndarray, width: int) -> np.ndarray:
    """Each group of `width` columns [x1 | x2] becomes [-x2 | x1]."""
    groups = x.reshape(x.shape[0], -1, width)
    half = width // 2
    return np.concatenate([-groups[:, :, half:], groups[:, :, :half]], axis=2).reshape(x.shape)


def causal_mask(x: np.ndarray, offset: int) -> np.ndarray:
    rows, cols = x.shape
    keep = np.arange(cols)[None, :] <= np.arange(rows)[:, None] + offset
    return np.where(keep, x, F32(-np.inf)).astype(F32)


def quantize(x: np.ndarray, scale: float, dst_dtype: str) -> np.ndarray:
    q = x / F32(scale)
    if dst_dtype == "i8":
        return np.clip(np.rint(q), -127, 127)
    return np.clip(q, F32(-448), F32(448))


BINARY = {
    "v.add": np.add,
    "v.sub": np.subtract,
    "v.mul": np.multiply,
    "v.div": np.divide,
    "v.max": np.maximum,
}
IMMEDIATE = {"v.addi": np.add, "v.muli": np.multiply, "v.maxi": np.maximum}
UNARY = {
    "v.copy": lambda x: x,
    "v.exp": np.exp,
    "v.rsqrt": lambda x: F32(1) / np.sqrt(x),
    "v.tanh": np.tanh,
    "v.erf": erf,
    "v.sigmoid": lambda x: F32(1) / (F32(1) + np.exp(-x)),
    "v.rsum": row_sum,
    "v.rmax": lambda x: np.max(x, axis=1, keepdims=True),
}


def vector(
    op: str,
    a: np.ndarray,
    b: np.ndarray | None = None,
    imm: float | None = None,
    arg: int | None = None,
    dst_dtype: str = "f32",
) -> np.ndarray:
    """The fp32 result of a vector instruction (before rounding to the destination)."""
    x = a.astype(F32)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if op in BINARY:
            assert b is not None
            return BINARY[op](x, b.astype(F32)).astype(F32)
        if op in IMMEDIATE:
            return IMMEDIATE[op](x, F32(imm)).astype(F32)
        if op in UNARY:
            return np.asarray(UNARY[op](x), dtype=F32)
        if op == "v.quant":
            assert imm is not None
            return quantize(x, imm, dst_dtype)
        if op == "v.mask":
            return causal_mask(x, int(arg or 0))
        if op == "v.rothalf":
            return rot_half(x, int(arg or 0))
    raise ValueError(f"{op} is not a vector instruction")
