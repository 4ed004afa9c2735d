"""Run a program: functional (every instruction computed with numpy + ml_dtypes in program
order, the order the hardware's dependences impose) and timed (tigris.toolchain.executor.timing).

`execute(program, image, machine, inputs, compute=True)` -> RunResult with the outputs,
cycles, time, per-unit utilisation and the instruction spans (for the trace).

The simulated HBM is a host byte array of the program's `.hbm` size: a program asking for
more than the chip's DRAM, or more than MAX_SIMULATED_HBM_BYTES, is refused before anything
is allocated. An instruction that fails as it runs (a gather row outside its table, an
operand outside memory, operands that disagree) is a SpecError naming the instruction.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tigris.errors import SpecError
from tigris.toolchain.executor import arithmetic
from tigris.toolchain.executor.memory import Memory
from tigris.toolchain.executor.timing import Span, Timeline
from tigris.toolchain.isa.binary import check_image
from tigris.toolchain.isa.checks import violations
from tigris.toolchain.isa.dtypes import numpy_dtype
from tigris.toolchain.isa.machine import Machine
from tigris.toolchain.isa.operands import Hbm, Tile
from tigris.toolchain.isa.program import Instruction, Program, Segment
from tigris.toolchain.isa.text import format_instruction

PROGRESS_EVERY = 512  # instructions between progress reports
MAX_SIMULATED_HBM_BYTES = 4 * 2**30
"""The executor holds the program's HBM in host memory; larger programs are refused."""


@dataclass(frozen=True)
class RunResult:
    outputs: dict[str, np.ndarray]
    cycles: int
    time_s: float
    num_instructions: int
    utilization: dict[str, float]
    busy_cycles: dict[str, int]
    spans: list[Span] = field(repr=False)
    macs: int
    kernel_end_cycles: tuple[int, ...] = ()

    @property
    def digest(self) -> str:
        """sha256 of the output tensors' bytes, in output order."""
        h = hashlib.sha256()
        for name in sorted(self.outputs):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.outputs[name]).tobytes())
        return h.hexdigest()

    def to_json_dict(self) -> dict[str, object]:
        return {
            "cycles": self.cycles,
            "time_s": self.time_s,
            "instructions": self.num_instructions,
            "utilization": self.utilization,
            "busy_cycles": self.busy_cycles,
            "macs": self.macs,
            "digest": self.digest,
            "outputs": {k: list(v.shape) for k, v in self.outputs.items()},
        }


def check_hbm_size(program: Program, machine: Machine) -> None:
    """SpecError when the program's HBM exceeds the chip's or what the executor simulates."""
    size = program.hbm_bytes
    if machine.hbm_capacity_bytes and size > machine.hbm_capacity_bytes:
        raise SpecError(
            f".hbm {size} bytes exceeds {machine.chip_id}'s HBM capacity of "
            f"{machine.hbm_capacity_bytes} bytes",
            key_path="program",
        )
    if size > MAX_SIMULATED_HBM_BYTES:
        raise SpecError(
            f".hbm {size} bytes exceeds the {MAX_SIMULATED_HBM_BYTES} bytes (4 GiB) of HBM the "
            "executor simulates in host memory",
            key_path="program",
            hint="the executor is for small programs; compile a smaller model",
        )


def _load_image(memory: Memory, program: Program, image: dict[str, bytes]) -> None:
    for segment in program.segments:
        data = np.frombuffer(image[segment.name], dtype=np.uint8)
        memory.hbm[segment.addr : segment.addr + segment.nbytes] = data


def _load_inputs(memory: Memory, program: Program, inputs: dict[str, np.ndarray]) -> None:
    for symbol in program.inputs:
        if symbol.name not in inputs:
            raise SpecError(f"input {symbol.name!r} missing", key_path="inputs")
        value = np.asarray(inputs[symbol.name]).astype(numpy_dtype(symbol.dtype))
        if int(np.prod(value.shape)) != int(np.prod(symbol.shape)):
            raise SpecError(
                f"input {symbol.name!r} has shape {value.shape}, the program wants {symbol.shape}",
                key_path="inputs",
            )
        memory.hbm_array(symbol.addr, symbol.shape, symbol.dtype)[...] = value.reshape(symbol.shape)


class Functional:
    """The arithmetic state of a run: memories and the weights held in each array."""

    def __init__(self, machine: Machine, memory: Memory, segments: tuple[Segment, ...] = ()):
        self.machine = machine
        self.memory = memory
        self.tables = {s.addr: s for s in segments}
        self.weights: dict[tuple[int, int], tuple[np.ndarray, str]] = {}

    def step(self, inst: Instruction) -> None:
        mem, core = self.memory, inst.core
        op = inst.op
        if op == "dma.load":
            dst = inst["dst"]
            assert isinstance(dst, Tile) and isinstance(inst["src"], Hbm)
            mem.tile(core, dst)[...] = mem.hbm_tile(inst["src"], dst)
        elif op == "dma.store":
            src = inst["src"]
            assert isinstance(src, Tile) and isinstance(inst["dst"], Hbm)
            mem.hbm_tile(inst["dst"], src)[...] = mem.tile(core, src)
        elif op == "dma.gather":
            dst, idx, table = inst["dst"], inst["idx"], inst["table"]
            assert isinstance(dst, Tile) and isinstance(idx, Tile) and isinstance(table, Hbm)
            rows = mem.tile(core, idx).reshape(-1).astype(np.int64)
            self._check_rows(rows, table, dst)
            for r, row in enumerate(rows):
                one = Tile(
                    dst.addr + r * dst.stride * dst.itemsize, 1, dst.cols, dst.cols, dst.dtype
                )
                mem.tile(core, one)[...] = mem.hbm_tile(
                    Hbm(table.addr + int(row) * table.stride * dst.itemsize, table.stride), one
                )
        elif op == "mxu.ldw":
            w = inst["w"]
            assert isinstance(w, Tile)
            values = mem.tile(core, w).copy()
            self.weights[core, int(inst["arr"])] = (
                values.T.copy() if inst["t"] else values,
                w.dtype,
            )  # type: ignore[arg-type]
        elif op == "mxu.mm":
            self._matmul(inst)
        elif op.startswith("v."):
            self._vector(inst)

    def _check_rows(self, rows: np.ndarray, table: Hbm, dst: Tile) -> None:
        """Every gathered row lies inside the table's segment (or HBM, for a table that is
        not a segment): an id outside the vocabulary is an error, not a read of whatever
        lies beyond."""
        pitch = table.stride * dst.itemsize
        segment = self.tables.get(table.addr)
        limit = segment.nbytes if segment is not None else self.memory.hbm.size - table.addr
        count = (limit - dst.cols * dst.itemsize) // pitch + 1 if pitch else 1
        bad = rows[(rows < 0) | (rows >= count)]
        if bad.size:
            what = f"table {segment.name!r}" if segment is not None else "its table"
            raise SpecError(
                f"gathers row {int(bad[0])} of {what}, which has {count} rows",
                hint="an input id outside the model's vocabulary?",
            )

    def _matmul(self, inst: Instruction) -> None:
        mem, core = self.memory, inst.core
        x, dst = inst["x"], inst["dst"]
        assert isinstance(x, Tile) and isinstance(dst, Tile)
        key = (core, int(inst["arr"]))  # type: ignore[arg-type]
        if key not in self.weights:
            raise SpecError(
                f"array {key[1]} of core {core} streams before any mxu.ldw", key_path="program"
            )
        w, w_dtype = self.weights[key]
        if (
            w_dtype != x.dtype
            or w.shape[0] != x.cols
            or w.shape[1] != dst.cols
            or x.rows != dst.rows
        ):
            raise SpecError(
                f"mxu.mm shapes/dtypes disagree: x {x.dtype}[{x.rows},{x.cols}], weights {w_dtype}{list(w.shape)}, dst [{dst.rows},{dst.cols}]",
                key_path="program",
            )
        sums = arithmetic.fold(mem.tile(core, x), w, x.dtype, self.machine.rows, self.machine.cols)
        out = mem.tile(core, dst)
        out[...] = arithmetic.accumulate(out, sums) if inst["acc"] else sums.astype(out.dtype)

    def _vector(self, inst: Instruction) -> None:
        mem, core = self.memory, inst.core
        dst = inst["dst"]
        assert isinstance(dst, Tile)
        fields = dict(zip((n for n, _ in _fields(inst)), inst.args, strict=True))
        a = mem.tile(core, fields["a"])
        b = mem.tile(core, fields["b"]) if "b" in fields else None
        result = arithmetic.vector(
            inst.op, a, b, fields.get("imm"), fields.get("offset", fields.get("width")), dst.dtype
        )
        mem.tile(core, dst)[...] = result.astype(numpy_dtype(dst.dtype))


def _fields(inst: Instruction) -> tuple[tuple[str, str], ...]:
    from tigris.toolchain.isa.opcodes import OPCODES

    return OPCODES[inst.op].fields


def execute(
    program: Program,
    image: dict[str, bytes],
    machine: Machine,
    inputs: dict[str, np.ndarray],
    *,
    compute: bool = True,
    check: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run `program`; compute=False times it without the arithmetic (outputs are zeros).
    `progress(done, total)` is called every PROGRESS_EVERY instructions and at the end."""
    if check:
        _check_discipline(program, machine)
    timeline = Timeline(machine, machine.macs_per_pe(program.mode))
    functional = None
    if compute:
        # every refusal (too much HBM, a bad image) comes before the HBM is allocated
        check_hbm_size(program, machine)
        check_image(program, image)
        memory = Memory(program.hbm_bytes, machine.num_cores, machine.sram_bytes_per_core)
        _load_image(memory, program, image)
        _load_inputs(memory, program, inputs)
        functional = Functional(machine, memory, program.segments)
    macs = _run_instructions(program, timeline, functional, progress)
    return _result(program, machine, timeline, _read_outputs(program, functional), macs)


def _check_discipline(program: Program, machine: Machine) -> None:
    """SpecError naming the first broken memory rule (tigris.toolchain.isa.checks)."""
    found = violations(
        program,
        num_cores=machine.num_cores,
        arrays_per_core=machine.arrays_per_core,
        sram_bytes=machine.sram_bytes_per_core,
    )
    if found:
        raise SpecError(
            f"{len(found)} memory-discipline violation(s); first: {found[0]}",
            key_path="program",
        )


def _run_instructions(
    program: Program,
    timeline: Timeline,
    functional: Functional | None,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Time every instruction in program order (and compute it, given `functional`);
    returns the MACs issued. A failing instruction is a SpecError naming it."""
    macs = 0
    total = len(program.instructions)
    for index, inst in enumerate(program.instructions):
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress(index, total)
        timeline.issue(index, inst)
        if inst.op == "mxu.mm":
            x, dst = inst["x"], inst["dst"]
            macs += x.rows * x.cols * dst.cols  # type: ignore[union-attr]
        if functional is not None:
            try:
                functional.step(inst)
            except SpecError as error:
                raise SpecError(
                    error.message,
                    file=error.file,
                    key_path=f"instruction {index} ({format_instruction(inst)})",
                    hint=error.hint,
                ) from None
            except (ValueError, IndexError, TypeError) as error:
                # numpy's complaints about a bad operand: the program's fault, not a bug
                raise SpecError(
                    f"cannot execute: {error}",
                    key_path=f"instruction {index} ({format_instruction(inst)})",
                ) from None
    if progress is not None:
        progress(total, total)
    return macs


def _read_outputs(program: Program, functional: Functional | None) -> dict[str, np.ndarray]:
    """Each output symbol's array: copied out of the simulated HBM, or zeros when the
    run only timed the program."""
    outputs = {}
    for symbol in program.outputs:
        if functional is not None:
            outputs[symbol.name] = functional.memory.hbm_array(
                symbol.addr, symbol.shape, symbol.dtype
            ).copy()
        else:
            outputs[symbol.name] = np.zeros(symbol.shape, dtype=numpy_dtype(symbol.dtype))
    return outputs


def _result(
    program: Program,
    machine: Machine,
    timeline: Timeline,
    outputs: dict[str, np.ndarray],
    macs: int,
) -> RunResult:
    """The RunResult: cycles, and each unit's busy cycles over what its instances could
    have done in that time (all MXU arrays count as one unit)."""
    cycles = timeline.total_cycles
    busy: Counter[str] = Counter()
    for span in timeline.spans:
        busy["mxu" if span.unit.startswith("mxu") else span.unit] += span.end - span.start
    counts = {"dma": machine.num_cores, "mxu": machine.num_arrays, "vpu": machine.num_cores}
    utilization = {u: (busy[u] / (counts[u] * cycles) if cycles else 0.0) for u in counts}
    peak_macs = machine.num_arrays * machine.rows * machine.cols * machine.macs_per_pe(program.mode)
    utilization["mac"] = macs / (peak_macs * cycles) if cycles else 0.0
    return RunResult(
        outputs=outputs,
        cycles=cycles,
        time_s=cycles / machine.clock_hz,
        num_instructions=len(program.instructions),
        utilization=utilization,
        busy_cycles={u: int(busy[u]) for u in counts},
        spans=timeline.spans,
        macs=macs,
        kernel_end_cycles=tuple(timeline.barriers),
    )
