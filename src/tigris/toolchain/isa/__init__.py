"""The Tigris instruction set: opcodes, operands, programs, assembly text and binary.

Public API:
    OPCODES, opcode(name)                    the instruction table (docs/isa.md)
    Tile, tile(...), Hbm                     operands
    Instruction, make(op, core, **fields), Program, Symbol, Segment
    format_program(p) / parse_program(text)  assembly text, exact round trip
    encode_program(p) / decode_program(b)    binary, exact round trip
    violations(p, ...)                       memory-discipline checks
    Machine, machine_of(chip)                the programmer's view of a chip
"""

from tigris.toolchain.isa.binary import decode_program, encode_program
from tigris.toolchain.isa.checks import violations
from tigris.toolchain.isa.dtypes import DTYPES, itemsize, numpy_dtype
from tigris.toolchain.isa.machine import Machine, machine_of
from tigris.toolchain.isa.opcodes import OPCODES, Opcode, opcode
from tigris.toolchain.isa.operands import Hbm, Tile, tile
from tigris.toolchain.isa.program import Instruction, Program, Segment, Symbol, make
from tigris.toolchain.isa.text import format_instruction, format_program, parse_program

__all__ = [
    "DTYPES",
    "OPCODES",
    "Hbm",
    "Instruction",
    "Machine",
    "Opcode",
    "Program",
    "Segment",
    "Symbol",
    "Tile",
    "decode_program",
    "encode_program",
    "format_instruction",
    "format_program",
    "itemsize",
    "machine_of",
    "make",
    "numpy_dtype",
    "opcode",
    "parse_program",
    "tile",
    "violations",
]
