"""Instruction emission with per-kernel SRAM allocation and DMA tags.

`Emitter` appends instructions in issue order. `Kernel` is one operator's stay on the chip:
it allocates SRAM regions per core (bump allocation, `sram.alloc` emitted), frees them all
at its end and closes with a barrier, so every operator starts from an empty scratchpad and
sees what the previous one wrote to HBM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tigris.errors import InfeasibleError
from tigris.toolchain.isa.dtypes import itemsize
from tigris.toolchain.isa.machine import Machine
from tigris.toolchain.isa.operands import Hbm, Tile, tile
from tigris.toolchain.isa.program import Instruction, Value, make

SRAM_ALIGN_BYTES = 64


@dataclass
class Emitter:
    machine: Machine
    instructions: list[Instruction] = field(default_factory=list)
    next_tag: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.next_tag = [0] * self.machine.num_cores

    def emit(self, op: str, core: int, **fields: Value) -> None:
        self.instructions.append(make(op, core, **fields))

    # ---- DMA ---------------------------------------------------------------------------

    def _tag(self, core: int) -> int:
        self.next_tag[core] += 1
        return self.next_tag[core]

    def load(self, core: int, dst: Tile, addr: int, stride: int) -> int:
        tag = self._tag(core)
        self.emit("dma.load", core, dst=dst, src=Hbm(addr, stride), tag=tag)
        return tag

    def gather(self, core: int, dst: Tile, table_addr: int, stride: int, idx: Tile) -> int:
        tag = self._tag(core)
        self.emit("dma.gather", core, dst=dst, table=Hbm(table_addr, stride), idx=idx, tag=tag)
        return tag

    def store(self, core: int, addr: int, stride: int, src: Tile) -> None:
        self.emit("dma.store", core, dst=Hbm(addr, stride), src=src, tag=self._tag(core))

    def wait(self, core: int, tag: int) -> None:
        self.emit("dma.wait", core, tag=tag)

    # ---- arrays and vector unit ----------------------------------------------------------

    def matmul_fold(
        self,
        core: int,
        array: int,
        dst: Tile,
        x: Tile,
        w: Tile,
        *,
        accumulate: bool,
        transpose: bool = False,
    ) -> None:
        self.emit("mxu.ldw", core, arr=array, w=w, t=int(transpose))
        self.emit("mxu.mm", core, arr=array, dst=dst, x=x, acc=int(accumulate))

    def v(self, op: str, core: int, dst: Tile, a: Tile, b: Tile | None = None) -> None:
        if b is None:
            self.emit(f"v.{op}", core, dst=dst, a=a)
        else:
            self.emit(f"v.{op}", core, dst=dst, a=a, b=b)

    def vi(self, op: str, core: int, dst: Tile, a: Tile, imm: float) -> None:
        self.emit(f"v.{op}", core, dst=dst, a=a, imm=float(imm))

    def barrier(self) -> None:
        self.emit("barrier", -1)


@dataclass
class Kernel:
    """SRAM regions of one operator on every core."""

    emitter: Emitter
    name: str
    used: list[int] = field(default_factory=list)
    regions: list[list[tuple[int, int]]] = field(default_factory=list)
    deferred: dict[int, list[int]] = field(default_factory=dict)  # core -> DMA tags to wait

    def __post_init__(self) -> None:
        cores = self.emitter.machine.num_cores
        self.used = [0] * cores
        self.regions = [[] for _ in range(cores)]

    def alloc(self, core: int, rows: int, cols: int, dtype: str) -> Tile:
        """A fresh contiguous rows x cols tile on `core`."""
        size = rows * cols * itemsize(dtype)
        base = self.used[core]
        end = base + -(-size // SRAM_ALIGN_BYTES) * SRAM_ALIGN_BYTES
        if end > self.emitter.machine.sram_bytes_per_core:
            raise InfeasibleError(
                f"{self.name}: needs more than the {self.emitter.machine.sram_bytes_per_core} "
                f"bytes of SRAM of a core"
            )
        self.used[core] = end
        self.regions[core].append((base, size))
        self.emitter.emit("sram.alloc", core, base=base, size=size)
        return tile(base, rows, cols, dtype)

    def close(self) -> None:
        """Free every region and synchronise the cores."""
        for core, regions in enumerate(self.regions):
            for base, size in reversed(regions):
                self.emitter.emit("sram.free", core, base=base, size=size)
        self.emitter.barrier()


class Ring:
    """`count` same-shaped tiles on one core, handed out in turn (double buffering and
    deeper); the executor's scoreboard makes a reuse wait for the previous user."""

    def __init__(self, kernel: Kernel, core: int, count: int, rows: int, cols: int, dtype: str):
        self.tiles = [kernel.alloc(core, rows, cols, dtype) for _ in range(count)]
        self.turn = 0

    def next(self) -> Tile:
        tile_ = self.tiles[self.turn % len(self.tiles)]
        self.turn += 1
        return tile_
