"""Checking a computed C against an independent reference.

Integers: the reference is an int64 sum of exact fp32 GEMMs over K-chunks of 1024
(|partial sums| <= 1024 * 2^14 = 2^24, exact in fp32), wrapped to int32 at the end; C
must equal it bit for bit.

Floats: C is compared with the float64 product. Error bound (Higham, "Accuracy and
Stability of Numerical Algorithms", 2nd ed., eq. 3.5): recursive summation of n exact
products in fp32 gives |C - C64| <= gamma_n * (|A| x |B|), gamma_n = n u / (1 - n u),
u = 2^-24. Every output here is a chain of at most K additions (the in-column chain plus
one SRAM addition per fold), so n = K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tigris.engines.systolic.numerics import NumberFormat

FP32_UNIT_ROUNDOFF = 2.0**-24
_EXACT_FP32_CHUNK = 1024


@dataclass(frozen=True)
class Verification:
    ok: bool
    max_abs_error: float
    bound: float
    """Largest allowed |error| over all outputs (0 for integers: exact)."""


def integer_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a32 = a.astype(np.float32)
    b32 = b.astype(np.float32)
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for k0 in range(0, a.shape[1], _EXACT_FP32_CHUNK):
        acc += (a32[:, k0 : k0 + _EXACT_FP32_CHUNK] @ b32[k0 : k0 + _EXACT_FP32_CHUNK]).astype(
            np.int64
        )
    return acc.astype(np.int32)


def gamma(n: int) -> float:
    nu = n * FP32_UNIT_ROUNDOFF
    return nu / (1.0 - nu)


def verify(a: np.ndarray, b: np.ndarray, c: np.ndarray, fmt: NumberFormat) -> Verification:
    if fmt.is_integer:
        reference = integer_reference(a, b)
        diff = np.abs(c.astype(np.int64) - reference.astype(np.int64))
        max_err = float(diff.max()) if diff.size else 0.0
        return Verification(ok=max_err == 0.0, max_abs_error=max_err, bound=0.0)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    reference = a64 @ b64
    allowed = gamma(a.shape[1]) * (np.abs(a64) @ np.abs(b64))
    error = np.abs(c.astype(np.float64) - reference)
    ok = bool(np.all(error <= allowed))
    return Verification(ok=ok, max_abs_error=float(error.max()), bound=float(allowed.max()))
