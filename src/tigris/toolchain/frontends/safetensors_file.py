"""Read and write .safetensors files with numpy alone.

Format (https://huggingface.co/docs/safetensors): u64 little-endian header length N, N bytes
of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the tensors' bytes, offsets relative to the end of the header. A file that is cut
short or whose header does not describe its bytes is a SpecError naming the file.
"""

from __future__ import annotations

import json
import math
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
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the file, as numpy arrays (copies, in the stored dtype)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError("no such safetensors file", file=str(path)) from None
    except OSError as error:
        raise SpecError(f"cannot read: {error.strerror}", file=str(path)) from None
    if len(data) < 8:
        raise SpecError("too short for a safetensors file", file=str(path))
    (length,) = struct.unpack_from("<Q", data, 0)
    if 8 + length > len(data):
        raise SpecError(
            f"the header claims {length} bytes, more than the file holds (not a safetensors "
            "file, or cut short)",
            file=str(path),
        )
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError as error:
        raise SpecError(f"bad safetensors header ({error})", file=str(path)) from None
    if not isinstance(header, dict):
        raise SpecError("bad safetensors header (not a JSON object)", file=str(path))
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES.get(info["dtype"])
            if dtype is None:
                raise SpecError(f"tensor {name}: unsupported dtype {info['dtype']}", file=str(path))
            begin, end = (int(v) for v in info["data_offsets"])
            shape = [int(v) for v in info["shape"]]
            if not 0 <= begin <= end <= len(data) - base:
                raise ValueError(f"data_offsets [{begin}, {end}) outside the file")
            if end - begin != math.prod(shape) * np.dtype(dtype).itemsize:
                raise ValueError(f"{end - begin} bytes do not hold shape {shape}")
            array = np.frombuffer(data[base + begin : base + end], dtype=dtype)
            tensors[name] = array.reshape(shape).copy()
        except (KeyError, TypeError, ValueError) as error:
            raise SpecError(f"tensor {name!r}: bad entry ({error})", file=str(path)) from None
    return tensors


def safetensors_bytes(
    tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> bytes:
    """The .safetensors encoding of `tensors` (C order, little-endian, header padded to 8)."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    blobs, offset = [], 0
    for name, value in tensors.items():
        array = np.ascontiguousarray(value)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        if array.dtype not in _NAMES:
            raise SpecError(f"tensor {name}: dtype {array.dtype} has no safetensors name")
        raw = array.tobytes()
        header[name] = {
            "dtype": _NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def write_safetensors(
    path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> Path:
    """Write `tensors` to a .safetensors file (atomically, via tigris.io.output)."""
    from tigris.io.output import write_output

    return write_output(path, safetensors_bytes(tensors, metadata), option="path")
