"""Assembly text and binary round-trip exactly; malformed assembly names its line."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.errors import SpecError
from tigris.toolchain.isa import (
    DTYPES,
    OPCODES,
    Hbm,
    Instruction,
    Program,
    Segment,
    Symbol,
    Tile,
    decode_program,
    encode_program,
    format_program,
    parse_program,
    violations,
)
from tigris.toolchain.isa.binary import decode_binary

HEADER = ".program p\n.chip tigris-1\n.mode bf16\n.hbm 4096\n"


@st.composite
def tiles(draw) -> Tile:
    cols = draw(st.integers(1, 300))
    return Tile(
        draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(1, 300)),
        cols,
        cols + draw(st.integers(0, 50)),
        draw(st.sampled_from(list(DTYPES))),
    )


@st.composite
def instructions(draw) -> Instruction:
    op = OPCODES[draw(st.sampled_from(sorted(OPCODES)))]
    args = []
    for _, kind in op.fields:
        if kind == "tile":
            args.append(draw(tiles()))
        elif kind == "hbm":
            args.append(Hbm(draw(st.integers(0, 2**40)), draw(st.integers(1, 2**20))))
        elif kind == "int":
            args.append(draw(st.integers(-(2**40), 2**40)))
        else:
            args.append(draw(st.floats(allow_nan=False, allow_infinity=False, width=32)))
    core = -1 if op.name == "barrier" else draw(st.integers(0, 63))
    return Instruction(op.name, core, tuple(args))


@st.composite
def programs(draw) -> Program:
    return Program(
        "p",
        "tigris-1",
        draw(st.sampled_from(["bf16", "int8", "fp8"])),
        draw(st.integers(1, 2**40)),
        (Symbol("ids", 0, "i32", (draw(st.integers(1, 99)), 1)),),
        (Symbol("out", 256, "bf16", (3, 4)),),
        (Segment("w", 512, draw(st.integers(1, 10**6))),),
        tuple(draw(st.lists(instructions(), max_size=30))),
    )


@settings(max_examples=150, deadline=None)
@given(programs())
def test_text_and_binary_round_trip(program: Program) -> None:
    text = format_program(program)
    assert parse_program(text) == program
    assert decode_program(encode_program(program)) == program
    assert format_program(decode_program(encode_program(parse_program(text)))) == text


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("c0 v.frobnicate dst=@0x0:f32[1,1]", "unknown opcode"),
        ("c0 v.add dst=@0x0:f32[1,1] a=@0x0:f32[1,1]", "missing b"),
        ("c0 v.add dst=@0x0:f99[1,1] a=@0x0:f32[1,1] b=@0x0:f32[1,1]", "f99"),
        ("c0 dma.wait tag=seven", "integer"),
        ("c0 v.copy dst=@0x0:f32[2,8;4] a=@0x0:f32[1,1]", "narrower"),
        ("x1 barrier", "core"),
        ("c0 barrier", "all cores"),
        ("c0 v.muli dst=@0x0:f32[1,1] a=@0x0:f32[1,1] imm=abc", "number"),
    ],
)
def test_malformed_assembly_names_the_line(line: str, words: str) -> None:
    text = HEADER + "c0 dma.wait tag=1\n# a comment\n" + line + "\n"
    with pytest.raises(SpecError) as error:
        parse_program(text, file="bad.tasm")
    message = str(error.value)
    assert "bad.tasm" in message and "line 7" in message and words in message


def test_missing_header_and_bad_binary_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="missing .chip"):
        parse_program(".program p\n.mode bf16\n.hbm 1\n")
    with pytest.raises(SpecError, match="magic"):
        decode_program(b"nope")
    good = encode_program(parse_program(HEADER + "c0 dma.wait tag=1\n"))
    with pytest.raises(SpecError):
        decode_program(good[:-3])


def test_values_that_overflow_a_binary_field_are_refused_by_line_and_by_index() -> None:
    with pytest.raises(SpecError, match=r"line 5: core 40000 does not fit"):
        parse_program(HEADER + "c40000 dma.wait tag=1\n", file="big.tasm")
    with pytest.raises(SpecError, match=r"line 5: field a: addr 4294967296"):
        parse_program(HEADER + "c0 v.copy dst=@0x0:f32[1,1] a=@0x100000000:f32[1,1]\n")
    program = Program(
        "p", "tigris-1", "bf16", 64, instructions=(Instruction("dma.wait", 70000, (1,)),)
    )
    with pytest.raises(SpecError, match=r"instruction 0 \(dma.wait\): core 70000"):
        encode_program(program)


def test_a_binary_carries_its_image() -> None:
    program = parse_program(HEADER + ".segment w 0x00000000 3\n.segment b 0x00000100 2\n")
    image = {"w": b"abc", "b": b"de"}
    decoded, carried = decode_binary(encode_program(program, image))
    assert decoded == program and carried == image
    assert decode_binary(encode_program(program))[1] is None
    with pytest.raises(SpecError, match="'b'"):
        encode_program(program, {"w": b"abc"})
    with pytest.raises(SpecError, match="cut short"):
        decode_binary(encode_program(program, image)[:-1])


@settings(max_examples=300, deadline=None)
@given(programs(), st.data())
def test_a_cut_or_garbled_binary_is_a_spec_error(program: Program, data) -> None:
    blob = bytearray(encode_program(program))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(SpecError):
        decode_binary(bytes(blob))


def test_symbols_segments_and_dmas_stay_inside_the_programs_hbm() -> None:
    text = (
        ".program p\n.chip tigris-1\n.mode bf16\n.hbm 256\n.segment w 0x00000080 256\n"
        "c0 sram.alloc base=0 size=64\nc0 dma.load dst=@0x0:f32[2,8] src=hbm:0x000000f0+8 tag=1\n"
    )
    found = violations(parse_program(text), num_cores=1, arrays_per_core=1, sram_bytes=1024)
    assert any("segment w" in f and "outside" in f for f in found)
    assert any(f.startswith("instruction 1 (dma.load") and "HBM" in f for f in found)
