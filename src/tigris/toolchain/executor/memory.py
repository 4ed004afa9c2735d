"""The machine's memories as byte arrays: HBM and one scratchpad per core.

Tiles are read and written through strided numpy views of the bytes, so a strided tile
(one head of a QKV block) is addressed exactly as the hardware would.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tigris.toolchain.isa.dtypes import numpy_dtype
from tigris.toolchain.isa.operands import Hbm, Tile


def view(
    buffer: np.ndarray, addr: int, rows: int, cols: int, stride: int, dtype: str
) -> np.ndarray:
    """A writable rows x cols view of `buffer` (uint8) at byte `addr`, rows `stride` apart."""
    dt = numpy_dtype(dtype)
    span = ((rows - 1) * stride + cols) * dt.itemsize
    if addr < 0 or addr + span > buffer.size:
        raise IndexError(f"[{addr}, {addr + span}) outside a memory of {buffer.size} bytes")
    flat = buffer[addr : addr + span].view(dt)
    return as_strided(flat, shape=(rows, cols), strides=(stride * dt.itemsize, dt.itemsize))


class Memory:
    def __init__(self, hbm_bytes: int, num_cores: int, sram_bytes: int):
        self.hbm = np.zeros(hbm_bytes, dtype=np.uint8)
        self.sram = [np.zeros(sram_bytes, dtype=np.uint8) for _ in range(num_cores)]

    def tile(self, core: int, t: Tile) -> np.ndarray:
        return view(self.sram[core], t.addr, t.rows, t.cols, t.stride, t.dtype)

    def hbm_tile(self, ref: Hbm, like: Tile) -> np.ndarray:
        return view(self.hbm, ref.addr, like.rows, like.cols, ref.stride, like.dtype)

    def hbm_array(self, addr: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        count = int(np.prod(shape))
        dt = numpy_dtype(dtype)
        return self.hbm[addr : addr + count * dt.itemsize].view(dt).reshape(shape)
