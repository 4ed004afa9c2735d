"""Read a .safetensors file with numpy alone.

Format (https://huggingface.co/docs/safetensors): u64 little-endian header length N, N bytes
of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the tensors' bytes, offsets relative to the end of the header.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

from tigris.errors import SpecError

_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
    "I8": np.int8,
    "U8": np.uint8,
}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the file, as numpy arrays (copies, in the stored dtype)."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise SpecError("too short for a safetensors file", file=str(path))
    (length,) = struct.unpack_from("<Q", data, 0)
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError as error:
        raise SpecError(f"bad safetensors header ({error})", file=str(path)) from None
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise SpecError(f"tensor {name}: unsupported dtype {info['dtype']}", file=str(path))
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[base + begin : base + end], dtype=_DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"]).copy()
    return tensors
