"""Numerics modes: how weights and matmul inputs are stored and scaled.

- bf16: weights and matmul inputs bf16, fp32 accumulation.
- int8: weights int8 with one scale per output channel, s_w[n] = max|W[:, n]| / 127;
  matmul inputs int8 with one static scale per tensor, s_x = max|x| / 127 over calibration
  data; symmetric, round half to even, saturating at +-127; int32 accumulation; the
  epilogue multiplies the int32 sums (converted to fp32) by s_x * s_w[n] (one fp32 vector).
- fp8: as int8 with e4m3 (largest finite 448) in place of int8 and fp32 accumulation.
In every mode activations between operators are stored in bf16, norms/softmax/activations
run in fp32 on the vector unit, and attention's two matmuls run in bf16 (quantized
attention is left out). Scales are fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tigris.errors import SpecError
from tigris.toolchain.isa.dtypes import numpy_dtype


@dataclass(frozen=True)
class Mode:
    name: str
    weight_dtype: str  # ISA element type of weights and matmul inputs
    accumulator: str  # f32 | i32
    qmax: float | None  # largest quantized magnitude; None: not quantized

    @property
    def quantized(self) -> bool:
        return self.qmax is not None


MODES = {
    "bf16": Mode("bf16", "bf16", "f32", None),
    "int8": Mode("int8", "i8", "i32", 127.0),
    "fp8": Mode("fp8", "e4m3", "f32", 448.0),
}


def mode(name: str) -> Mode:
    if name not in MODES:
        raise SpecError(
            f"unknown numerics mode {name!r}", key_path="dtype", hint="bf16, int8 or fp8"
        )
    return MODES[name]


def scale_for(absmax: np.ndarray | float, qmax: float) -> np.ndarray:
    """fp32 scale(s) mapping |x| <= absmax onto qmax; 1 where absmax is 0."""
    amax = np.asarray(absmax, dtype=np.float32)
    return np.where(amax > 0, amax / np.float32(qmax), np.float32(1.0)).astype(np.float32)


def quantize(x: np.ndarray, scale: np.ndarray | float, target: str) -> np.ndarray:
    """x / scale, rounded half to even and saturated, in the ISA type `target` (i8 or e4m3).
    The division is in fp32, as the vector unit's v.quant does it."""
    q = np.asarray(x, dtype=np.float32) / np.asarray(scale, dtype=np.float32)
    if target == "i8":
        return np.clip(np.rint(q), -127, 127).astype(np.int8)
    return np.clip(q, -448.0, 448.0).astype(numpy_dtype("e4m3"))


def quantize_weight(w: np.ndarray, m: Mode) -> tuple[np.ndarray, np.ndarray]:
    """(stored weight, per-output-channel fp32 scales) of a [in, out] fp32 weight."""
    if not m.quantized:
        return w.astype(numpy_dtype("bf16")), np.ones(w.shape[1], dtype=np.float32)
    assert m.qmax is not None
    scales = scale_for(np.abs(w).max(axis=0), m.qmax)
    return quantize(w, scales[None, :], m.weight_dtype), scales
