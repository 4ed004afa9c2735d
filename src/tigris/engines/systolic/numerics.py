"""Number formats of the array: input word size, accumulator and output word size.

Inputs are stored in the ifmap/filter SRAMs at their own width; outputs leave the array at
the accumulator width (int32 for int8, fp32 for the float formats), which is what the
ofmap SRAM and DRAM write traffic is counted in. fp8 formats come from ml_dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from tigris.errors import SpecError


@dataclass(frozen=True)
class NumberFormat:
    """One input format and the accumulator it pairs with."""

    name: str
    input_dtype: np.dtype
    accumulator_dtype: np.dtype
    is_integer: bool

    @property
    def input_bytes(self) -> int:
        return int(self.input_dtype.itemsize)

    @property
    def output_bytes(self) -> int:
        return int(self.accumulator_dtype.itemsize)


FORMATS: dict[str, NumberFormat] = {
    "int8": NumberFormat("int8", np.dtype(np.int8), np.dtype(np.int32), True),
    "fp8_e4m3": NumberFormat(
        "fp8_e4m3", np.dtype(ml_dtypes.float8_e4m3fn), np.dtype(np.float32), False
    ),
    "fp8_e5m2": NumberFormat(
        "fp8_e5m2", np.dtype(ml_dtypes.float8_e5m2), np.dtype(np.float32), False
    ),
    "bf16": NumberFormat("bf16", np.dtype(ml_dtypes.bfloat16), np.dtype(np.float32), False),
    "fp16": NumberFormat("fp16", np.dtype(np.float16), np.dtype(np.float32), False),
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
