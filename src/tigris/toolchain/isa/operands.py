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

from tigris.toolchain.isa.dtypes import itemsize


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


Footprint = tuple[int, int, int, int, int]


def footprint(t: Tile) -> Footprint:
    """The bytes `t` touches as a box: (pitch, first row, end row, first byte, end byte) with
    rows of `pitch` = stride x itemsize bytes counted from address 0 and byte columns within a
    row; pitch 0 when the tile's rows wrap around a pitch boundary (then the next two
    numbers are its linear byte extent)."""
    pitch = t.stride * t.itemsize
    row, col = divmod(t.addr, pitch)
    if col + t.cols * t.itemsize > pitch:
        return (0, t.addr, t.end, 0, 0)
    return (pitch, row, row + t.rows, col, col + t.cols * t.itemsize)


def footprints_overlap(a: Footprint, b: Footprint) -> bool:
    """Whether two footprints share a byte: exact for boxes of one pitch (column blocks of one
    tile do not overlap), else by linear extents (conservative)."""
    if a[0] and a[0] == b[0]:
        return a[1] < b[2] and b[1] < a[2] and a[3] < b[4] and b[3] < a[4]
    lo_a, hi_a = (a[1] * a[0] + a[3], (a[2] - 1) * a[0] + a[4]) if a[0] else (a[1], a[2])
    lo_b, hi_b = (b[1] * b[0] + b[3], (b[2] - 1) * b[0] + b[4]) if b[0] else (b[1], b[2])
    return lo_a < hi_b and lo_b < hi_a


def tiles_overlap(a: Tile, b: Tile) -> bool:
    return footprints_overlap(footprint(a), footprint(b))


def tile(addr: int, rows: int, cols: int, dtype: str, stride: int | None = None) -> Tile:
    """A tile; the stride defaults to the width (contiguous rows)."""
    return Tile(addr, rows, cols, cols if stride is None else stride, dtype)


@dataclass(frozen=True)
class Hbm:
    """A 2-D region of HBM: first element at byte `addr`, rows `stride` elements apart."""

    addr: int
    stride: int
