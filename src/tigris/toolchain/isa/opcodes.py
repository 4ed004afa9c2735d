"""The instruction set: one table row per opcode (its unit, binary code and operand fields).

Units (each core has one DMA engine, `arrays_per_core` systolic arrays and one vector unit):
- dma: HBM <-> SRAM copies (strided 2-D, and a gather of table rows by an index tile), and
  the wait for a DMA's completion tag. DMAs are asynchronous: a later instruction may read
  the destination only after a `dma.wait` on its tag (the checker enforces it).
- mxu: `mxu.ldw` loads a weight tile (<= rows x cols, optionally transposed) into one array;
  `mxu.mm` streams an activation tile through it into an fp32/int32 accumulator tile,
  adding to what is there (acc=1) or overwriting it (acc=0).
- vpu: elementwise, broadcast, reduction and cast instructions, computed in fp32 (int32
  for integer inputs is converted to fp32 exactly below 2^24) and rounded to the
  destination dtype.
- ctl: SRAM allocation markers (no time) and the barrier across all cores.

Field kinds: tile (SRAM tile), hbm (HBM address and stride), int, imm (a float immediate,
an fp32 value stored exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.errors import SpecError


@dataclass(frozen=True)
class Opcode:
    name: str
    code: int
    unit: str  # dma | mxu | vpu | ctl
    fields: tuple[tuple[str, str], ...]  # (name, kind) in binary order

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    def reads(self) -> tuple[str, ...]:
        """Tile fields the instruction reads."""
        return tuple(n for n, k in self.fields if k == "tile" and n != "dst") + (
            ("dst",) if self.name == "mxu.mm" else ()
        )


_BINARY = (("dst", "tile"), ("a", "tile"), ("b", "tile"))
_UNARY = (("dst", "tile"), ("a", "tile"))
_IMMEDIATE = (("dst", "tile"), ("a", "tile"), ("imm", "imm"))

_TABLE: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("dma.load", "dma", (("dst", "tile"), ("src", "hbm"), ("tag", "int"))),
    ("dma.store", "dma", (("dst", "hbm"), ("src", "tile"), ("tag", "int"))),
    ("dma.gather", "dma", (("dst", "tile"), ("table", "hbm"), ("idx", "tile"), ("tag", "int"))),
    ("dma.wait", "dma", (("tag", "int"),)),
    ("mxu.ldw", "mxu", (("arr", "int"), ("w", "tile"), ("t", "int"))),
    ("mxu.mm", "mxu", (("arr", "int"), ("dst", "tile"), ("x", "tile"), ("acc", "int"))),
    ("v.add", "vpu", _BINARY),
    ("v.sub", "vpu", _BINARY),
    ("v.mul", "vpu", _BINARY),
    ("v.div", "vpu", _BINARY),
    ("v.max", "vpu", _BINARY),
    ("v.addi", "vpu", _IMMEDIATE),
    ("v.muli", "vpu", _IMMEDIATE),
    ("v.maxi", "vpu", _IMMEDIATE),
    ("v.quant", "vpu", _IMMEDIATE),
    ("v.copy", "vpu", _UNARY),
    ("v.exp", "vpu", _UNARY),
    ("v.rsqrt", "vpu", _UNARY),
    ("v.tanh", "vpu", _UNARY),
    ("v.erf", "vpu", _UNARY),
    ("v.sigmoid", "vpu", _UNARY),
    ("v.rsum", "vpu", _UNARY),
    ("v.rmax", "vpu", _UNARY),
    ("v.mask", "vpu", (("dst", "tile"), ("a", "tile"), ("offset", "int"))),
    ("v.rothalf", "vpu", (("dst", "tile"), ("a", "tile"), ("width", "int"))),
    ("barrier", "ctl", ()),
    ("sram.alloc", "ctl", (("base", "int"), ("size", "int"))),
    ("sram.free", "ctl", (("base", "int"), ("size", "int"))),
)

OPCODES: dict[str, Opcode] = {
    name: Opcode(name, code, unit, fields) for code, (name, unit, fields) in enumerate(_TABLE)
}
BY_CODE: dict[int, Opcode] = {op.code: op for op in OPCODES.values()}


def opcode(name: str) -> Opcode:
    """The opcode called `name`; SpecError naming it if there is none."""
    if name not in OPCODES:
        raise SpecError(f"unknown opcode {name!r}", hint="see docs/isa.md for the instruction set")
    return OPCODES[name]
