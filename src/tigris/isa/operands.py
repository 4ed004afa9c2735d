"""Operands: an SRAM tile (2-D, row-major with a row stride) and an HBM address with stride.

Assumptions:
- Every SRAM operand is a 2-D tile: `rows` x `cols` elements of one dtype starting at byte
  `addr` of the core's scratchpad (VMEM), row r at `addr + r * stride * itemsize`. A stride
  larger than `cols` selects columns of a wider tile (a head of a QKV block) without copying.
- HBM operands give the first element's byte address and the row stride in elements; the
  shape and dtype come from the SRAM side of the transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.isa.dtypes import itemsize


@dataclass(frozen=True)
class Tile:
    """rows x cols elements of `dtype` in SRAM at byte `addr`, rows `stride` elements apart."""

    addr: int
    rows: int
    cols: int
    stride: int
    dtype: str

    @property
    def itemsize(self) -> int:
        return itemsize(self.dtype)

    @property
    def num_elements(self) -> int:
        return self.rows * self.cols

    @property
    def end(self) -> int:
        """One past the last byte the tile touches."""
        return self.addr + ((self.rows - 1) * self.stride + self.cols) * self.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of data (not counting the gaps of a strided tile)."""
        return self.rows * self.cols * self.itemsize

    def columns(self, start: int, width: int) -> Tile:
        """Columns [start, start + width) of this tile."""
        return Tile(self.addr + start * self.itemsize, self.rows, width, self.stride, self.dtype)

    def row_block(self, start: int, count: int) -> Tile:
        """Rows [start, start + count) of this tile."""
        offset = start * self.stride * self.itemsize
        return Tile(self.addr + offset, count, self.cols, self.stride, self.dtype)


def tile(addr: int, rows: int, cols: int, dtype: str, stride: int | None = None) -> Tile:
    """A tile; the stride defaults to the width (contiguous rows)."""
    return Tile(addr, rows, cols, cols if stride is None else stride, dtype)


@dataclass(frozen=True)
class Hbm:
    """A 2-D region of HBM: first element at byte `addr`, rows `stride` elements apart."""

    addr: int
    stride: int
