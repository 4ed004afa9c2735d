"""Binary encoding: what `tigris asm` writes and `tigris disasm` reads.

Layout (little-endian): magic b"TGRS", u16 version, u32 header length, the header as UTF-8
JSON (name, chip, mode, HBM size, symbols, segments, whether an image follows), u32
instruction count, then each instruction as u8 opcode, i16 core and its fields in table
order: tile = u32 addr, u32 rows, u32 cols, u32 stride, u8 dtype; hbm = u64 addr, u32
stride; int = i64; imm = f64 (holding the fp32 value exactly). Version 2 may end with the
constant image: every segment's bytes, in segment order (header "image": true), so one
.tbin file is a complete program. Version 1 files (no image) are still read.

A value that does not fit its field (core 70000, a negative address) is a SpecError naming
the instruction and field; so is a file that is cut short, garbled or has a bad header.
The assembler (`tigris.toolchain.isa.text`) applies the same limits, so text that parses encodes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

from tigris.errors import SpecError
from tigris.toolchain.isa.dtypes import CODE_DTYPES, DTYPE_CODES, DTYPES
from tigris.toolchain.isa.opcodes import BY_CODE, OPCODES
from tigris.toolchain.isa.operands import Hbm, Tile
from tigris.toolchain.isa.program import Instruction, Program, Segment, Symbol, Value

MAGIC = b"TGRS"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MODES = ("bf16", "int8", "fp8")
_FORMATS = {"tile": "<IIIIB", "hbm": "<QI", "int": "<q", "imm": "<d"}

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
CORE_MAX = 2**15 - 1  # i16, -1 meaning all cores
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# (low, high) of each integer part of an operand, as the binary stores it
LIMITS: dict[str, tuple[int, int]] = {
    "core": (-1, CORE_MAX),
    "tile.addr": (0, U32_MAX),
    "tile.rows": (1, U32_MAX),
    "tile.cols": (1, U32_MAX),
    "tile.stride": (1, U32_MAX),
    "hbm.addr": (0, U64_MAX),
    "hbm.stride": (0, U32_MAX),
    "int": (INT_MIN, INT_MAX),
}


def out_of_range(part: str, value: int) -> str | None:
    """Why `value` does not fit the binary field `part` (a LIMITS key), or None."""
    low, high = LIMITS[part]
    if low <= value <= high:
        return None
    return f"{part.split('.')[-1]} {value} does not fit the binary field ({low}..{high})"


def value_problem(kind: str, value: Value) -> str | None:
    """Why an operand of field kind `kind` cannot be encoded, or None."""
    if kind == "tile":
        if not isinstance(value, Tile):
            return f"expected a tile, got {value!r}"
        for part in ("addr", "rows", "cols", "stride"):
            problem = out_of_range(f"tile.{part}", getattr(value, part))
            if problem:
                return problem
        if value.stride < value.cols:
            return f"row stride {value.stride} is narrower than the tile's {value.cols} columns"
        return None if value.dtype in DTYPE_CODES else f"unknown element type {value.dtype!r}"
    if kind == "hbm":
        if not isinstance(value, Hbm):
            return f"expected an HBM operand, got {value!r}"
        return out_of_range("hbm.addr", value.addr) or out_of_range("hbm.stride", value.stride)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {value!r}"
        return out_of_range("int", value)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"expected a number, got {value!r}"
    return None


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


def check_image(program: Program, image: Mapping[str, bytes], *, file: str | None = None) -> None:
    """SpecError naming the first segment of `program` that `image` lacks or sizes wrongly."""
    for segment in program.segments:
        if segment.name not in image:
            raise SpecError(
                f"the image has no segment {segment.name!r} ({segment.nbytes} bytes)",
                file=file,
                key_path="image",
            )
        if len(image[segment.name]) != segment.nbytes:
            raise SpecError(
                f"segment {segment.name!r} is {len(image[segment.name])} bytes in the image, "
                f"the program declares {segment.nbytes}",
                file=file,
                key_path="image",
            )


def encode_program(program: Program, image: Mapping[str, bytes] | None = None) -> bytes:
    """The binary of `program`, with its constant image appended when one is given (it must
    hold every segment at its declared size); SpecError for a value that does not fit."""
    if image is not None:
        check_image(program, image)
    header = {
        "name": program.name,
        "chip": program.chip,
        "mode": program.mode,
        "hbm_bytes": program.hbm_bytes,
        "inputs": [[s.name, s.addr, s.dtype, list(s.shape)] for s in program.inputs],
        "outputs": [[s.name, s.addr, s.dtype, list(s.shape)] for s in program.outputs],
        "segments": [[s.name, s.addr, s.nbytes] for s in program.segments],
    }
    if image is not None:
        header["image"] = True
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [MAGIC, struct.pack("<HI", VERSION, len(head)), head]
    parts.append(struct.pack("<I", len(program.instructions)))
    for index, inst in enumerate(program.instructions):
        op = OPCODES[inst.op]
        problem = out_of_range("core", inst.core)
        for (name, kind), value in zip(op.fields, inst.args, strict=True):
            if problem:
                break
            field_problem = value_problem(kind, value)
            problem = f"{name}: {field_problem}" if field_problem else None
        if problem:
            raise SpecError(problem, key_path=f"instruction {index} ({inst.op})")
        parts.append(struct.pack("<Bh", op.code, inst.core))
        parts.extend(
            _encode_value(kind, v) for (_, kind), v in zip(op.fields, inst.args, strict=True)
        )
    if image is not None:
        parts.extend(image[s.name] for s in program.segments)
    return b"".join(parts)


def _decode_value(kind: str, data: bytes, offset: int) -> tuple[Value, int]:
    fmt = _FORMATS[kind]
    values = struct.unpack_from(fmt, data, offset)
    offset += struct.calcsize(fmt)
    if kind == "tile":
        addr, rows, cols, stride, code = values
        if code not in CODE_DTYPES:
            raise ValueError(f"unknown element type code {code}")
        if rows == 0 or cols == 0 or stride < cols:
            raise ValueError(f"bad tile shape rows={rows} cols={cols} stride={stride}")
        return Tile(addr, rows, cols, stride, CODE_DTYPES[code]), offset
    if kind == "hbm":
        return Hbm(*values), offset
    return values[0], offset


def _word(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() or c == "#" for c in value):
        raise ValueError(f"{what} must be one word, got {value!r}")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _symbols(rows: object, what: str) -> tuple[Symbol, ...]:
    if not isinstance(rows, list):
        raise ValueError(f"{what} must be a list")
    found = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise ValueError(f"each of {what} is [name, addr, dtype, shape]")
        name, addr, dtype, shape = row
        if dtype not in DTYPES or not isinstance(shape, list):
            raise ValueError(f"{what}: bad element type or shape in {row!r}")
        found.append(
            Symbol(
                _word(name, "a symbol name"),
                _count(addr, "an address"),
                dtype,
                tuple(_count(d, "a dimension") for d in shape),
            )
        )
    return tuple(found)


def _segments(rows: object) -> tuple[Segment, ...]:
    if not isinstance(rows, list):
        raise ValueError("segments must be a list")
    found = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 3:
            raise ValueError("each segment is [name, addr, bytes]")
        found.append(
            Segment(
                _word(row[0], "a segment name"),
                _count(row[1], "an address"),
                _count(row[2], "a size"),
            )
        )
    return tuple(found)


class _Cursor:
    """Where decoding is in the file: the byte offset, and what is read there (the error
    messages name it, so a cut-short file says which part it lost)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.where = "the header"


def decode_binary(
    data: bytes, *, file: str | None = None
) -> tuple[Program, dict[str, bytes] | None]:
    """Read a binary program and the image it carries (None when it carries none);
    SpecError if it is not one, is cut short, garbled, or has bytes left over."""
    if data[:4] != MAGIC:
        raise SpecError("not a Tigris binary program (bad magic)", file=file)
    cursor = _Cursor(4)
    try:
        header, program_head = _read_header(data, cursor, file)
        instructions = _read_instructions(data, cursor, file)
    except struct.error:
        raise SpecError(
            f"the file ends ({len(data)} bytes) inside {cursor.where}: cut short",
            file=file,
            hint="assemble it again with tigris asm",
        ) from None
    except (KeyError, ValueError, TypeError, RecursionError) as error:
        # what a garbled header or field raises: a user's broken file, not a bug
        raise SpecError(
            f"corrupt binary program, in {cursor.where} ({error})",
            file=file,
            hint="the file is cut short or garbled; assemble it again with tigris asm",
        ) from None
    image = _read_image(data, cursor.offset, bool(header.get("image")), program_head[6], file)
    program = Program(*program_head, tuple(instructions))
    return program, image


def _read_header(data: bytes, cursor: _Cursor, file: str | None) -> tuple[dict, tuple]:
    """The version check and the JSON header: (header, the Program fields it gives, in
    Program's order up to the instructions). Leaves the cursor after the header."""
    version, head_len = struct.unpack_from("<HI", data, cursor.offset)
    if version not in READABLE_VERSIONS:
        raise SpecError(
            f"binary version {version}; this Tigris reads versions "
            + ", ".join(str(v) for v in READABLE_VERSIONS),
            file=file,
        )
    offset = cursor.offset + 6
    if offset + head_len > len(data):
        raise ValueError("the header runs past the end of the file")
    header = json.loads(data[offset : offset + head_len])
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    if header.get("mode") not in MODES:
        raise ValueError(f"mode {header.get('mode')!r} is not one of {', '.join(MODES)}")
    program_head = (
        _word(header.get("name"), "the program name"),
        _word(header.get("chip"), "the chip"),
        header["mode"],
        _count(header.get("hbm_bytes"), "hbm_bytes"),
        _symbols(header.get("inputs", []), "inputs"),
        _symbols(header.get("outputs", []), "outputs"),
        _segments(header.get("segments", [])),
    )
    cursor.offset = offset + head_len
    return header, program_head


def _read_instructions(data: bytes, cursor: _Cursor, file: str | None) -> list[Instruction]:
    """The instruction count and the instructions; leaves the cursor after them."""
    cursor.where = "the instruction count"
    offset = cursor.offset
    (count,) = struct.unpack_from("<I", data, offset)
    offset += 4
    instructions = []
    for index in range(count):
        cursor.where = f"instruction {index} of {count}"
        code, core = struct.unpack_from("<Bh", data, offset)
        offset += 3
        if code not in BY_CODE:
            raise SpecError(
                f"unknown opcode {code} (a garbled or truncated file?)",
                file=file,
                key_path=f"instruction {index}",
            )
        op = BY_CODE[code]
        # only a barrier spans every core (-1); any other op names one core
        if (core < 0) != (op.name == "barrier") or core < -1:
            raise ValueError(f"instruction {index} ({op.name}): bad core {core}")
        args = []
        for _, kind in op.fields:
            value, offset = _decode_value(kind, data, offset)
            args.append(value)
        instructions.append(Instruction(op.name, core, tuple(args)))
    cursor.offset = offset
    return instructions


def _read_image(
    data: bytes, offset: int, has_image: bool, segments: tuple[Segment, ...], file: str | None
) -> dict[str, bytes] | None:
    """The constant image after the instructions (version 2), or None when the header
    says there is none; either way no byte may be left over."""
    if not has_image:
        if offset != len(data):
            raise SpecError(f"{len(data) - offset} trailing bytes after the program", file=file)
        return None
    need = sum(s.nbytes for s in segments)
    if len(data) - offset != need:
        raise SpecError(
            f"the embedded image has {len(data) - offset} bytes, its segments {need}",
            file=file,
            hint="the file is cut short or garbled; assemble it again with tigris asm",
        )
    image = {}
    for segment in segments:
        image[segment.name] = bytes(data[offset : offset + segment.nbytes])
        offset += segment.nbytes
    return image


def decode_program(data: bytes, *, file: str | None = None) -> Program:
    """Read a binary program (its embedded image, if any, is checked and dropped)."""
    return decode_binary(data, file=file)[0]
