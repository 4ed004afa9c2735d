"""Binary encoding: what `tigris asm` writes and `tigris disasm` reads.

Layout (little-endian): magic b"TGRS", u16 version, u32 header length, the header as UTF-8
JSON (name, chip, mode, HBM size, symbols, segments), u32 instruction count, then each
instruction as u8 opcode, i16 core and its fields in table order: tile = u32 addr, u32 rows,
u32 cols, u32 stride, u8 dtype; hbm = u64 addr, u32 stride; int = i64; imm = f64 (holding
the fp32 value exactly).
"""

from __future__ import annotations

import json
import struct

from tigris.errors import SpecError
from tigris.isa.dtypes import CODE_DTYPES, DTYPE_CODES
from tigris.isa.opcodes import BY_CODE, OPCODES
from tigris.isa.operands import Hbm, Tile
from tigris.isa.program import Instruction, Program, Segment, Symbol, Value

MAGIC = b"TGRS"
VERSION = 1
_FORMATS = {"tile": "<IIIIB", "hbm": "<QI", "int": "<q", "imm": "<d"}


def _encode_value(kind: str, value: Value) -> bytes:
    if kind == "tile":
        assert isinstance(value, Tile)
        return struct.pack(
            _FORMATS[kind],
            value.addr,
            value.rows,
            value.cols,
            value.stride,
            DTYPE_CODES[value.dtype],
        )
    if kind == "hbm":
        assert isinstance(value, Hbm)
        return struct.pack(_FORMATS[kind], value.addr, value.stride)
    return struct.pack(_FORMATS[kind], value)


def encode_program(program: Program) -> bytes:
    header = {
        "name": program.name,
        "chip": program.chip,
        "mode": program.mode,
        "hbm_bytes": program.hbm_bytes,
        "inputs": [[s.name, s.addr, s.dtype, list(s.shape)] for s in program.inputs],
        "outputs": [[s.name, s.addr, s.dtype, list(s.shape)] for s in program.outputs],
        "segments": [[s.name, s.addr, s.nbytes] for s in program.segments],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [MAGIC, struct.pack("<HI", VERSION, len(head)), head]
    parts.append(struct.pack("<I", len(program.instructions)))
    for inst in program.instructions:
        op = OPCODES[inst.op]
        parts.append(struct.pack("<Bh", op.code, inst.core))
        parts.extend(
            _encode_value(kind, v) for (_, kind), v in zip(op.fields, inst.args, strict=True)
        )
    return b"".join(parts)


def _decode_value(kind: str, data: bytes, offset: int) -> tuple[Value, int]:
    fmt = _FORMATS[kind]
    values = struct.unpack_from(fmt, data, offset)
    offset += struct.calcsize(fmt)
    if kind == "tile":
        addr, rows, cols, stride, code = values
        return Tile(addr, rows, cols, stride, CODE_DTYPES[code]), offset
    if kind == "hbm":
        return Hbm(*values), offset
    return values[0], offset


def decode_program(data: bytes, *, file: str | None = None) -> Program:
    """Read a binary program; SpecError if it is not one (or is cut short)."""
    if data[:4] != MAGIC:
        raise SpecError("not a Tigris binary program (bad magic)", file=file)
    try:
        version, head_len = struct.unpack_from("<HI", data, 4)
        if version != VERSION:
            raise SpecError(f"binary version {version}, expected {VERSION}", file=file)
        offset = 10
        header = json.loads(data[offset : offset + head_len])
        offset += head_len
        (count,) = struct.unpack_from("<I", data, offset)
        offset += 4
        instructions = []
        for index in range(count):
            code, core = struct.unpack_from("<Bh", data, offset)
            offset += 3
            if code not in BY_CODE:
                raise SpecError(
                    f"unknown opcode {code}", file=file, key_path=f"instruction {index}"
                )
            op = BY_CODE[code]
            args = []
            for _, kind in op.fields:
                value, offset = _decode_value(kind, data, offset)
                args.append(value)
            instructions.append(Instruction(op.name, core, tuple(args)))
    except (struct.error, KeyError, ValueError) as error:
        raise SpecError(f"corrupt binary program ({error})", file=file) from None
    if offset != len(data):
        raise SpecError(f"{len(data) - offset} trailing bytes after the program", file=file)
    return Program(
        header["name"],
        header["chip"],
        header["mode"],
        header["hbm_bytes"],
        tuple(Symbol(n, a, d, tuple(s)) for n, a, d, s in header["inputs"]),
        tuple(Symbol(n, a, d, tuple(s)) for n, a, d, s in header["outputs"]),
        tuple(Segment(n, a, b) for n, a, b in header["segments"]),
        tuple(instructions),
    )
