"""Number formats of the array: input word size, accumulator and output word size.

Inputs are stored in the ifmap/filter SRAMs at their own width; outputs leave the array at
the accumulator width (int32 for int8, fp32 for the float formats), which is what the
ofmap SRAM and DRAM write traffic is counted in. fp8 formats come from ml_dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tigris.errors import SpecError


@dataclass(frozen=True)
class NumberFormat:
    """One input format and the accumulator it pairs with."""

    name: str
    input_type: str  # a numpy or ml_dtypes type name: resolved only where values are computed
    accumulator_dtype: np.dtype
    is_integer: bool
    input_bytes: int

    @property
    def input_dtype(self) -> np.dtype:
        return _storage_dtype(self.input_type)

    @property
    def output_bytes(self) -> int:
        return int(self.accumulator_dtype.itemsize)


@cache
def _storage_dtype(type_name: str) -> np.dtype:
    """numpy's dtype of that name, else ml_dtypes' (which takes ~0.6 s to load: only a run
    that computes values pays it, not timing or budgets)."""
    if hasattr(np, type_name):
        return np.dtype(getattr(np, type_name))
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, type_name))


_F32 = np.dtype(np.float32)
FORMATS: dict[str, NumberFormat] = {
    "int8": NumberFormat("int8", "int8", np.dtype(np.int32), True, 1),
    "fp8_e4m3": NumberFormat("fp8_e4m3", "float8_e4m3fn", _F32, False, 1),
    "fp8_e5m2": NumberFormat("fp8_e5m2", "float8_e5m2", _F32, False, 1),
    "bf16": NumberFormat("bf16", "bfloat16", _F32, False, 2),
    "fp16": NumberFormat("fp16", "float16", _F32, False, 2),
}

_ALIASES = {
    "e4m3": "fp8_e4m3",
    "fp8": "fp8_e4m3",
    "e5m2": "fp8_e5m2",
    "bfloat16": "bf16",
    "float16": "fp16",
}


def number_format(name: str) -> NumberFormat:
    """Look up a format by name ('int8', 'bf16', 'fp16', 'fp8_e4m3', 'fp8_e5m2')."""
    key = _ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in FORMATS:
        raise SpecError(
            f"unknown dtype {name!r}",
            key_path="dtype",
            hint="use one of " + ", ".join(FORMATS),
        )
    return FORMATS[key]
