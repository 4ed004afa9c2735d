"""Every program the compiler emits keeps its memory discipline (Hypothesis over models,
lengths and modes), round-trips through assembly, and refuses what it cannot lower."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tigris.errors import UnsupportedError
from tigris.hardware import load_chip
from tigris.toolchain.compiler import compile_graph
from tigris.toolchain.compiler.graph import Unsupported
from tigris.toolchain.executor.run import execute
from tigris.toolchain.frontends.decoder import decoder_graph, tiny_spec
from tigris.toolchain.isa import (
    decode_program,
    encode_program,
    format_program,
    make,
    parse_program,
    violations,
)
from tigris.toolchain.isa.machine import machine_of

MACHINE = machine_of(load_chip("tigris-1"))


def check(program) -> list[str]:
    return violations(
        program,
        num_cores=MACHINE.num_cores,
        arrays_per_core=MACHINE.arrays_per_core,
        sram_bytes=MACHINE.sram_bytes_per_core,
    )


def small_graph(style: str, heads: int, lengths: tuple[int, ...]):
    spec = tiny_spec(
        style,
        hidden_size=32 * heads,
        num_heads=heads,
        num_kv_heads=heads if style == "gpt2" else 1,
        head_dim=32,
        ffn_hidden_size=64 * heads,
        vocab_size=200,
        num_layers=1,
    )
    return decoder_graph(spec, lengths, seed=1)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    style=st.sampled_from(["gpt2", "llama"]),
    heads=st.integers(1, 6),
    lengths=st.lists(st.integers(1, 140), min_size=1, max_size=3).map(tuple),
    mode=st.sampled_from(["bf16", "int8", "fp8"]),
)
def test_emitted_programs_touch_only_allocated_sram_and_wait_for_dma(
    style, heads, lengths, mode
) -> None:
    graph = small_graph(style, heads, lengths)
    ids = np.arange(graph.num_tokens, dtype=np.int32) % 200
    program = compile_graph(graph, MACHINE, mode, calibration=[ids]).program
    assert check(program) == []
    assert parse_program(format_program(program)) == program
    assert format_program(decode_program(encode_program(program))) == format_program(program)


def _compiled():
    graph = small_graph("gpt2", 2, (20,))
    return compile_graph(graph, MACHINE, "bf16")


def test_checker_catches_a_read_before_the_dma_completes() -> None:
    program = _compiled().program
    index = next(i for i, inst in enumerate(program.instructions) if inst.op == "dma.wait")
    broken = dataclasses.replace(
        program, instructions=program.instructions[:index] + program.instructions[index + 1 :]
    )
    found = check(broken)
    assert any("before its wait" in v for v in found)


def test_checker_catches_sram_outside_allocations() -> None:
    program = _compiled().program
    first = program.instructions[0]
    assert first.op == "sram.alloc"
    shrunk = make("sram.alloc", first.core, base=first["base"], size=64)
    broken = dataclasses.replace(program, instructions=(shrunk, *program.instructions[1:]))
    assert any("not in allocated SRAM" in v for v in check(broken))
    with pytest.raises(Exception, match="violation"):
        execute(broken, _compiled().image, MACHINE, {"ids": np.zeros(20, np.int32)})


def test_unlowerable_operator_is_named() -> None:
    spec = tiny_spec("llama", num_experts=4, num_experts_per_token=2)
    graph = decoder_graph(spec, (8,))
    assert any(isinstance(n, Unsupported) for n in graph.nodes)
    with pytest.raises(UnsupportedError, match="'mlp.moe'"):
        compile_graph(graph, MACHINE, "bf16")


def test_quantized_modes_need_calibration() -> None:
    with pytest.raises(UnsupportedError, match="calibration"):
        compile_graph(small_graph("gpt2", 1, (4,)), MACHINE, "int8")
