"""Element types the ISA names, with their numpy (ml_dtypes) storage type.

Short names appear in assembly (`@0x1000:bf16[128,64]`) and a one-byte code in the binary.
The storage types are built on first use: ml_dtypes takes about 0.6 s to load, which only
code that stores or computes bf16/fp8 elements should pay (not `tigris gemm`, which reads
two constants of the machine model, nor even numpy).
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from tigris.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

DTYPES: tuple[str, ...] = ("i8", "i32", "bf16", "f16", "f32", "e4m3")
"""The element type names, in the order of their binary codes."""
DTYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(DTYPES)}
CODE_DTYPES: dict[int, str] = {code: name for name, code in DTYPE_CODES.items()}
_ITEMSIZES: dict[str, int] = {"i8": 1, "i32": 4, "bf16": 2, "f16": 2, "f32": 4, "e4m3": 1}


@cache
def storage_dtypes() -> MappingProxyType[str, np.dtype]:
    """Name -> numpy storage dtype of every element type (loads numpy and ml_dtypes)."""
    import ml_dtypes
    import numpy as np

    return MappingProxyType(
        {
            "i8": np.dtype(np.int8),
            "i32": np.dtype(np.int32),
            "bf16": np.dtype(ml_dtypes.bfloat16),
            "f16": np.dtype(np.float16),
            "f32": np.dtype(np.float32),
            "e4m3": np.dtype(ml_dtypes.float8_e4m3fn),
        }
    )


def _check_name(name: str) -> None:
    if name not in DTYPE_CODES:
        raise SpecError(f"unknown element type {name!r}", hint="one of " + ", ".join(DTYPES))


def numpy_dtype(name: str) -> np.dtype:
    """The storage dtype of an ISA element type."""
    _check_name(name)
    return storage_dtypes()[name]


def itemsize(name: str) -> int:
    """Bytes of one element (no ml_dtypes needed)."""
    _check_name(name)
    return _ITEMSIZES[name]
