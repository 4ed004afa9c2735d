"""A program: its header, its HBM symbols (inputs, outputs, constant segments) and its
instructions in issue order.

The constant segments (weights, scales, tables) are named byte ranges of HBM whose contents
travel beside the program as an image (`tigris.toolchain.executor.image`); the program itself holds
only their addresses, so assembly stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tigris.toolchain.isa.opcodes import opcode
from tigris.toolchain.isa.operands import Hbm, Tile

Value = Tile | Hbm | int | float


@dataclass(frozen=True)
class Instruction:
    """One instruction: opcode, issuing core (-1 for all cores) and operands in field order."""

    op: str
    core: int
    args: tuple[Value, ...]

    def __getitem__(self, name: str) -> Value:
        return self.args[opcode(self.op).field_names.index(name)]

    @property
    def unit(self) -> str:
        return opcode(self.op).unit

    def tiles(self) -> dict[str, Tile]:
        return {
            n: v
            for n, v in zip(opcode(self.op).field_names, self.args, strict=True)
            if isinstance(v, Tile)
        }

    def read_tiles(self) -> list[Tile]:
        tiles = self.tiles()
        return [tiles[name] for name in opcode(self.op).reads() if name in tiles]

    def written_tiles(self) -> list[Tile]:
        tiles = self.tiles()
        return [tiles["dst"]] if "dst" in tiles else []


def make(op: str, core: int, **fields: Value) -> Instruction:
    """An instruction from named fields (all of the opcode's fields, no others)."""
    names = opcode(op).field_names
    if set(fields) != set(names):
        raise ValueError(f"{op}: fields {sorted(fields)} != {list(names)}")
    return Instruction(op, core, tuple(fields[n] for n in names))


@dataclass(frozen=True)
class Symbol:
    """A named tensor in HBM: byte address, element type and shape (row-major)."""

    name: str
    addr: int
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Segment:
    """A named constant byte range of HBM, filled from the program's image before it runs."""

    name: str
    addr: int
    nbytes: int


@dataclass(frozen=True)
class Program:
    name: str
    chip: str
    mode: str
    hbm_bytes: int
    inputs: tuple[Symbol, ...] = ()
    outputs: tuple[Symbol, ...] = ()
    segments: tuple[Segment, ...] = ()
    instructions: tuple[Instruction, ...] = field(default=())

    @property
    def num_instructions(self) -> int:
        return len(self.instructions)
