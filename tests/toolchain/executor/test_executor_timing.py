"""Timing agrees with the systolic simulator, and more work never takes less time."""

from __future__ import annotations

import numpy as np

from tigris.engines.systolic import SystolicConfig, simulate
from tigris.hardware import load_chip
from tigris.toolchain.executor.run import execute
from tigris.toolchain.isa import Program, make, tile
from tigris.toolchain.isa.machine import machine_of

MACHINE = machine_of(load_chip("tigris-1"))


def fold_program(m: int, k: int, n: int) -> Program:
    x, w, acc = tile(0, m, k, "bf16"), tile(1 << 20, k, n, "bf16"), tile(2 << 20, m, n, "f32")
    insts = [make("sram.alloc", 0, base=t.addr, size=t.end - t.addr) for t in (x, w, acc)]
    insts += [make("mxu.ldw", 0, arr=0, w=w, t=0), make("mxu.mm", 0, arr=0, dst=acc, x=x, acc=0)]
    return Program("fold", "tigris-1", "bf16", 256, instructions=tuple(insts))


def test_one_fold_takes_the_systolic_simulators_cycles() -> None:
    for m, k, n in [(1, 128, 128), (100, 64, 90), (512, 128, 128)]:
        result = execute(fold_program(m, k, n), {}, MACHINE, {}, compute=False)
        config = SystolicConfig(rows=128, cols=128, dataflow="ws", dtype="bf16")
        assert result.cycles == simulate(m, n, k, config).total_cycles + 1


def test_more_rows_never_faster_and_arithmetic_is_done() -> None:
    times = [
        execute(fold_program(m, 128, 128), {}, MACHINE, {}, compute=False).cycles
        for m in (1, 64, 65, 300)
    ]
    assert times == sorted(times)
    assert np.isfinite(times).all()
