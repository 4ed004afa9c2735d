"""Textual assembly: `format_program` writes it, `parse_program` reads it back exactly.

Grammar (one statement a line; `#` starts a comment):

    .program NAME | .chip ID | .mode bf16|int8|fp8 | .hbm BYTES
    .input NAME ADDR DTYPE [D0,D1,...]     .output NAME ADDR DTYPE [D0,...]
    .segment NAME ADDR BYTES
    cN OPCODE field=value ...              (core N issues it; `*` for all cores)

Values: tile `@0xADDR:DTYPE[ROWS,COLS]` or `@0xADDR:DTYPE[ROWS,COLS;STRIDE]`, HBM
`hbm:0xADDR+STRIDE`, integers in decimal, immediates as Python float literals (exact).
The formatter writes the canonical form (stride only when it differs from the width), so
format(parse(text)) == text for canonical text and parse(format(p)) == p for every program.
"""

from __future__ import annotations

import re

from tigris.errors import SpecError
from tigris.toolchain.isa.binary import MODES, out_of_range, value_problem
from tigris.toolchain.isa.dtypes import DTYPES
from tigris.toolchain.isa.opcodes import OPCODES
from tigris.toolchain.isa.operands import Hbm, Tile
from tigris.toolchain.isa.program import Instruction, Program, Segment, Symbol, Value

_TILE = re.compile(r"^@0x([0-9a-f]+):([a-z0-9]+)\[(\d+),(\d+)(?:;(\d+))?\]$")
_HBM = re.compile(r"^hbm:0x([0-9a-f]+)\+(\d+)$")
_INT = re.compile(r"^-?\d+$")
_SHAPE = re.compile(r"^\[(\d+(?:,\d+)*)\]$")
_CORE = re.compile(r"^c(\d+)$")
_BYTES = re.compile(r"^[0-9]+$")  # str.isdigit also takes '²', which int() refuses
_LONG_NUMBER = re.compile(r"\d{41}")  # int() refuses over 4300 digits; no field needs 41


def format_value(value: Value) -> str:
    if isinstance(value, Tile):
        stride = "" if value.stride == value.cols else f";{value.stride}"
        return f"@0x{value.addr:06x}:{value.dtype}[{value.rows},{value.cols}{stride}]"
    if isinstance(value, Hbm):
        return f"hbm:0x{value.addr:08x}+{value.stride}"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_instruction(inst: Instruction) -> str:
    core = "*" if inst.core < 0 else f"c{inst.core}"
    names = OPCODES[inst.op].field_names
    operands = " ".join(f"{n}={format_value(v)}" for n, v in zip(names, inst.args, strict=True))
    return f"{core} {inst.op} {operands}".rstrip()


def _format_symbol(kind: str, symbol: Symbol) -> str:
    shape = ",".join(str(d) for d in symbol.shape)
    return f".{kind} {symbol.name} 0x{symbol.addr:08x} {symbol.dtype} [{shape}]"


def format_program(program: Program) -> str:
    lines = [
        f".program {program.name}",
        f".chip {program.chip}",
        f".mode {program.mode}",
        f".hbm {program.hbm_bytes}",
    ]
    lines += [_format_symbol("input", s) for s in program.inputs]
    lines += [_format_symbol("output", s) for s in program.outputs]
    lines += [f".segment {s.name} 0x{s.addr:08x} {s.nbytes}" for s in program.segments]
    lines += [format_instruction(inst) for inst in program.instructions]
    return "\n".join(lines) + "\n"


# ---- parsing ---------------------------------------------------------------------------


class _LineError(Exception):
    pass


def _parse_value(kind: str, text: str) -> Value:
    if kind == "tile":
        match = _TILE.match(text)
        if not match:
            raise _LineError(f"expected a tile like @0x0000:bf16[128,64], got {text!r}")
        addr, dtype, rows, cols, stride = match.groups()
        if dtype not in DTYPES:
            raise _LineError(f"unknown element type {dtype!r} in {text!r}")
        if int(rows) == 0 or int(cols) == 0:
            raise _LineError(f"empty tile {text!r}")
        width = int(cols) if stride is None else int(stride)
        if width < int(cols):
            raise _LineError(f"row stride {width} is narrower than the tile's {cols} columns")
        value: Value = Tile(int(addr, 16), int(rows), int(cols), width, dtype)
    elif kind == "hbm":
        match = _HBM.match(text)
        if not match:
            raise _LineError(f"expected an HBM operand like hbm:0x00001000+768, got {text!r}")
        value = Hbm(int(match.group(1), 16), int(match.group(2)))
    elif kind == "int":
        if not _INT.match(text):
            raise _LineError(f"expected an integer, got {text!r}")
        value = int(text)
    else:
        try:
            value = float(text)
        except ValueError:
            raise _LineError(f"expected a number, got {text!r}") from None
    problem = value_problem(kind, value)
    if problem:
        raise _LineError(f"{problem}, in {text!r}")
    return value


def _parse_instruction(words: list[str]) -> Instruction:
    if words[0] == "*":
        core = -1
    else:
        match = _CORE.match(words[0])
        if not match:
            raise _LineError(f"expected a core like c0 or *, got {words[0]!r}")
        core = int(match.group(1))
        problem = out_of_range("core", core)
        if problem:
            raise _LineError(problem)
    if len(words) < 2:
        raise _LineError("missing opcode")
    op = OPCODES.get(words[1])
    if op is None:
        raise _LineError(f"unknown opcode {words[1]!r}")
    given: dict[str, str] = {}
    for word in words[2:]:
        name, sep, value = word.partition("=")
        if not sep:
            raise _LineError(f"expected field=value, got {word!r}")
        if name in given:
            raise _LineError(f"field {name!r} given twice")
        given[name] = value
    missing = [n for n in op.field_names if n not in given]
    extra = [n for n in given if n not in op.field_names]
    if missing or extra:
        raise _LineError(
            f"{op.name} takes fields {', '.join(op.field_names) or 'none'}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else "")
        )
    if (core < 0) != (op.name == "barrier"):
        raise _LineError("only barrier is issued by all cores (*); others name one core")
    args = []
    for name, kind in op.fields:
        try:
            args.append(_parse_value(kind, given[name]))
        except _LineError as error:
            raise _LineError(f"field {name}: {error}") from None
    return Instruction(op.name, core, tuple(args))


def _parse_address(text: str) -> int:
    if not re.match(r"^0x[0-9a-f]+$", text):
        raise _LineError(f"expected a hex address like 0x00001000, got {text!r}")
    return int(text, 16)


def _parse_symbol(words: list[str]) -> Symbol:
    if len(words) != 5:
        raise _LineError(f"{words[0]} takes NAME ADDR DTYPE [SHAPE]")
    match = _SHAPE.match(words[4])
    if words[3] not in DTYPES or not match:
        raise _LineError(f"bad element type or shape in {' '.join(words)!r}")
    shape = tuple(int(d) for d in match.group(1).split(","))
    return Symbol(words[1], _parse_address(words[2]), words[3], shape)


def _refuse_duplicate_names(
    inputs: list[Symbol], outputs: list[Symbol], segments: list[Segment], file: str | None
) -> None:
    """Two inputs, outputs or segments of one name: which one an image or --input fills is
    ambiguous, so the program is refused rather than one silently shadowing the other."""
    for directive, items in ((".input", inputs), (".output", outputs), (".segment", segments)):
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise SpecError(
                    f"{directive} {item.name[:80]!r} declared twice", file=file, key_path="header"
                )
            seen.add(item.name)


def parse_program(text: str, *, file: str | None = None) -> Program:
    """Read assembly; SpecError naming the file and line of the first mistake."""
    header: dict[str, str] = {}
    inputs: list[Symbol] = []
    outputs: list[Symbol] = []
    segments: list[Segment] = []
    instructions: list[Instruction] = []
    # An editor's byte-order mark is not part of the first directive.
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        code = raw.split("#", 1)[0]
        words = code.split()
        if not words:
            continue
        try:
            long_number = _LONG_NUMBER.search(code)
            if long_number:
                raise _LineError(f"a number of more than 40 digits ({long_number[0][:20]}...)")
            if words[0] in (".program", ".chip", ".mode", ".hbm"):
                if len(words) != 2:
                    raise _LineError(f"{words[0]} takes one value")
                if words[0][1:] in header:
                    raise _LineError(f"{words[0]} given twice")
                header[words[0][1:]] = words[1]
            elif words[0] == ".input":
                inputs.append(_parse_symbol(words))
            elif words[0] == ".output":
                outputs.append(_parse_symbol(words))
            elif words[0] == ".segment":
                if len(words) != 4 or not _BYTES.match(words[3]):
                    raise _LineError(".segment takes NAME ADDR BYTES")
                segments.append(Segment(words[1], _parse_address(words[2]), int(words[3])))
            elif words[0].startswith("."):
                raise _LineError(f"unknown directive {words[0]!r}")
            else:
                instructions.append(_parse_instruction(words))
        except _LineError as error:
            raise SpecError(str(error), file=file, key_path=f"line {number}") from None
    for key in ("program", "chip", "mode", "hbm"):
        if key not in header:
            raise SpecError(f"missing .{key} directive", file=file, key_path="line 1")
    _refuse_duplicate_names(inputs, outputs, segments, file)
    if not _BYTES.match(header["hbm"]):
        raise SpecError(".hbm takes a byte count", file=file, key_path="header")
    if header["mode"] not in MODES:
        raise SpecError(
            f".mode {header['mode']!r} is not one of {', '.join(MODES)}",
            file=file,
            key_path="header",
        )
    return Program(
        header["program"],
        header["chip"],
        header["mode"],
        int(header["hbm"]),
        tuple(inputs),
        tuple(outputs),
        tuple(segments),
        tuple(instructions),
    )
