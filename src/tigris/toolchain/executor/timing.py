"""When each instruction runs: per-core units, a scoreboard on SRAM regions, DMA tags.

Model (cycles of the chip clock):
- Each core has a DMA engine, `arrays_per_core` arrays and one vector unit. A unit runs its
  instructions in program order, one at a time; different units overlap.
- An instruction starts when its unit is free, after the core's last `dma.wait` was
  satisfied (a wait holds back everything the core issues after it), and when the
  scoreboard allows: it reads bytes only after the last write to them finished, and writes
  them only after their last reads and writes finished (RAW, WAR, WAW). The scoreboard is
  tile-precise: an access is a box of rows x byte columns of its SRAM allocation, so
  independent column blocks of one tile (the key tiles of a score matrix) and row blocks
  overlap in time; the oldest records of an allocation are folded into an allocation-wide
  summary (conservative) beyond MAX_RECORDS. A load's data count as written when they land;
  readers also wait on its `dma.wait`, which the checker enforces.
- DMA: the engine is busy for bytes / (HBM bandwidth / cores); the data lands the DMA
  latency later (transfers pipeline behind one another); a store frees its SRAM source when
  the engine has read it, and its data reach HBM a latency later (a barrier waits for it).
- `mxu.ldw`: R cycles (weights shift in row by row); `mxu.mm` with m rows: m + R + C - 2
  cycles (the skew of the wavefront), so a fold takes m + 2R + C - 2 cycles, SCALE-Sim's
  weight-stationary fold; both divided by the MACs a PE does per cycle in the mode's
  dtype (2 for int8/fp8 on tigris-1), rounded up.
- Vector unit: ceil(elements * cost / lanes) cycles, cost in lane-cycles per element from
  VECTOR_COST (1 for add/mul/max/copy/reductions; transcendentals several, a typical
  special-function-unit ratio).
- A barrier ends when every unit of every core is done (DMA data landed), plus
  `barrier_cycles`; then every core restarts from that time with an empty scoreboard.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from math import ceil

from tigris.engines.tile import VECTOR_LANE_CYCLES
from tigris.toolchain.isa.machine import Machine
from tigris.toolchain.isa.operands import Footprint, Tile, footprint, footprints_overlap
from tigris.toolchain.isa.program import Instruction

# lane-cycles per element of the vector instructions that are not one pass (shared with the
# tile engine, which times the same operations analytically)
VECTOR_COST = {f"v.{op}": cycles for op, cycles in VECTOR_LANE_CYCLES.items()}


@dataclass
class Span:
    """One instruction's stay on its unit."""

    index: int
    op: str
    core: int
    unit: str
    start: int
    end: int


# Records of recent accesses kept per SRAM region before the oldest are folded into the
# region-wide summary (conservative: a folded record then orders against the whole region).
MAX_RECORDS = 48


@dataclass
class Region:
    """An SRAM allocation's scoreboard: recent accesses (box, is_write, done cycle) and a
    summary (the latest write and access done) of the older ones folded out of the list."""

    base: int
    size: int
    write_done: int
    access_done: int
    records: list[tuple[Footprint, bool, int]] = field(default_factory=list)

    def ready(self, box: Footprint, write: bool) -> int:
        """Earliest start of an access: after overlapping writes (RAW), and for a write also
        after overlapping reads (WAR)."""
        t = self.access_done if write else self.write_done
        for other, is_write, done in self.records:
            if done > t and (write or is_write) and footprints_overlap(box, other):
                t = done
        return t

    def record(self, box: Footprint, write: bool, done: int) -> None:
        self.records.append((box, write, done))
        if len(self.records) > MAX_RECORDS:
            _, was_write, old = self.records.pop(0)
            self.access_done = max(self.access_done, old)
            if was_write:
                self.write_done = max(self.write_done, old)

    def reset(self, t: int) -> None:
        self.records.clear()
        self.write_done = self.access_done = t


@dataclass
class CoreState:
    unit_free: dict[str, int] = field(default_factory=dict)
    fence: int = 0
    bases: list[int] = field(default_factory=list)
    regions: dict[int, Region] = field(default_factory=dict)
    tags: dict[int, int] = field(default_factory=dict)
    dma_done: int = 0

    def region(self, t: Tile) -> Region | None:
        i = bisect.bisect_right(self.bases, t.addr) - 1
        if i < 0:
            return None
        state = self.regions[self.bases[i]]
        return state if t.addr < state.base + state.size else None


class Timeline:
    def __init__(self, machine: Machine, macs_per_pe: float):
        self.machine = machine
        self.macs = macs_per_pe
        self.cores = [CoreState() for _ in range(machine.num_cores)]
        self.spans: list[Span] = []
        self.now_floor = 0
        self.barriers: list[int] = []  # end cycle of each barrier

    def _duration(self, inst: Instruction) -> int:
        m = self.machine
        if inst.op == "mxu.ldw":
            return ceil(m.rows / self.macs)
        if inst.op == "mxu.mm":
            rows = inst["x"].rows  # type: ignore[union-attr]
            return ceil((rows + m.rows + m.cols - 2) / self.macs)
        if inst.unit == "vpu":
            src = inst["a"]
            elements = max(src.num_elements, inst["dst"].num_elements)  # type: ignore[union-attr]
            return max(1, ceil(elements * VECTOR_COST.get(inst.op, 1) / m.vector_lanes))
        if inst.op in ("dma.load", "dma.gather"):
            return max(1, ceil(inst["dst"].nbytes / m.dma_bytes_per_cycle))  # type: ignore[union-attr]
        if inst.op == "dma.store":
            return max(1, ceil(inst["src"].nbytes / m.dma_bytes_per_cycle))  # type: ignore[union-attr]
        return 0

    def issue(self, index: int, inst: Instruction) -> None:
        if inst.op == "barrier":
            self._barrier(index)
            return
        core = self.cores[inst.core]
        if inst.op == "sram.alloc":
            base = int(inst["base"])  # type: ignore[arg-type]
            bisect.insort(core.bases, base)
            size = int(inst["size"])  # type: ignore[arg-type]
            core.regions[base] = Region(base, size, self.now_floor, self.now_floor)
            return
        if inst.op == "sram.free":
            base = int(inst["base"])  # type: ignore[arg-type]
            core.bases.remove(base)
            del core.regions[base]
            return
        if inst.op == "dma.wait":
            core.fence = max(core.fence, core.tags.pop(int(inst["tag"]), 0))  # type: ignore[arg-type]
            return
        unit = f"mxu{inst['arr']}" if inst.unit == "mxu" else inst.unit
        start = max(core.unit_free.get(unit, self.now_floor), core.fence)
        accesses = []
        for t in inst.read_tiles():
            region = core.region(t)
            if region is not None:
                accesses.append((region, footprint(t), False))
        for t in inst.written_tiles():
            region = core.region(t)
            if region is not None:
                accesses.append((region, footprint(t), True))
        for region, box, write in accesses:
            start = max(start, region.ready(box, write))
        busy = self._duration(inst)
        end = start + busy
        core.unit_free[unit] = end
        is_load = inst.op in ("dma.load", "dma.gather")
        # Loaded data land a DMA latency after the engine streamed them; a store has read
        # its SRAM source when the engine is done with it (the latency is on the HBM side).
        done = end + (self.machine.dma_latency_cycles if is_load else 0)
        for region, box, write in accesses:
            region.record(box, write, done)
        if is_load:
            core.tags[int(inst["tag"])] = done  # type: ignore[arg-type]
        if inst.unit == "dma":
            core.dma_done = max(core.dma_done, end + self.machine.dma_latency_cycles)
        self.spans.append(Span(index, inst.op, inst.core, unit, start, end))

    def _barrier(self, index: int) -> None:
        last = self.now_floor
        for core in self.cores:
            last = max(last, core.dma_done, core.fence, *core.unit_free.values())
        t = last + self.machine.barrier_cycles
        for core in self.cores:
            core.unit_free = {}
            core.fence = t
            core.tags.clear()
            for region in core.regions.values():
                region.reset(t)
        self.now_floor = t
        self.barriers.append(t)

    @property
    def total_cycles(self) -> int:
        end = self.now_floor
        for core in self.cores:
            end = max(end, core.dma_done, *core.unit_free.values())
        return end
