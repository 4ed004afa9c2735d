"""Element types the ISA names, with their numpy (ml_dtypes) storage type.

Short names appear in assembly (`@0x1000:bf16[128,64]`) and a one-byte code in the binary.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from tigris.errors import SpecError

DTYPES: dict[str, np.dtype] = {
    "i8": np.dtype(np.int8),
    "i32": np.dtype(np.int32),
    "bf16": np.dtype(ml_dtypes.bfloat16),
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "e4m3": np.dtype(ml_dtypes.float8_e4m3fn),
}
DTYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(DTYPES)}
CODE_DTYPES: dict[int, str] = {code: name for name, code in DTYPE_CODES.items()}


def numpy_dtype(name: str) -> np.dtype:
    """The storage dtype of an ISA element type."""
    if name not in DTYPES:
        raise SpecError(f"unknown element type {name!r}", hint="one of " + ", ".join(DTYPES))
    return DTYPES[name]


def itemsize(name: str) -> int:
    """Bytes of one element."""
    return int(numpy_dtype(name).itemsize)
