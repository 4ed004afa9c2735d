"""HBM layout: where each activation and constant lives, and the constants' bytes (image)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tigris.toolchain.isa.dtypes import itemsize, numpy_dtype
from tigris.toolchain.isa.program import Segment, Symbol

HBM_ALIGN_BYTES = 256


@dataclass
class HbmLayout:
    size: int = 0
    tensors: dict[str, Symbol] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    image: dict[str, bytes] = field(default_factory=dict)

    def _reserve(self, nbytes: int) -> int:
        addr = self.size
        self.size += -(-nbytes // HBM_ALIGN_BYTES) * HBM_ALIGN_BYTES
        return addr

    def tensor(self, name: str, rows: int, cols: int, dtype: str) -> Symbol:
        """The activation `name` (allocated on first mention)."""
        if name not in self.tensors:
            addr = self._reserve(rows * cols * itemsize(dtype))
            self.tensors[name] = Symbol(name, addr, dtype, (rows, cols))
        return self.tensors[name]

    def constant(self, name: str, values: np.ndarray, dtype: str) -> Symbol:
        """A constant stored as `dtype`, 2-D (a vector becomes one row)."""
        if name in self.tensors:
            return self.tensors[name]
        array = np.ascontiguousarray(np.asarray(values).astype(numpy_dtype(dtype)))
        if array.ndim == 1:
            array = array[None, :]
        data = array.tobytes()
        addr = self._reserve(len(data))
        symbol = Symbol(name, addr, dtype, tuple(array.shape))
        self.tensors[name] = symbol
        self.segments.append(Segment(name, addr, len(data)))
        self.image[name] = data
        return symbol
