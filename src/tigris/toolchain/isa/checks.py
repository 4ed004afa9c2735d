"""Static checks of a program's memory discipline, run before execution and in the tests.

Rules (each violation is reported with the instruction's index):
1. `sram.alloc` regions lie inside the core's scratchpad and do not overlap a live one;
   `sram.free` releases exactly a live region.
2. Every SRAM tile an instruction touches lies inside one live region of its core.
3. A DMA's destination (the exact rows x columns of a strided tile) may not be read or written, nor its region freed, until a
   `dma.wait` on its tag (a barrier also completes every DMA); a tag is not reused while
   pending.
4. Cores other than 0..num_cores-1 and arrays other than 0..arrays_per_core-1 are not named.
5. Inputs, outputs, segments and the HBM side of every DMA lie inside the program's `.hbm`
   bytes (a gather's table start does; its rows depend on the data and are checked as the
   program runs).
"""

from __future__ import annotations

from tigris.toolchain.isa.dtypes import itemsize
from tigris.toolchain.isa.operands import Hbm, Tile, tiles_overlap
from tigris.toolchain.isa.program import Instruction, Program


def hbm_extent(ref: Hbm, like: Tile) -> tuple[int, int]:
    """The bytes [start, end) of HBM a DMA of the SRAM tile `like` touches at `ref`."""
    return ref.addr, ref.addr + ((like.rows - 1) * ref.stride + like.cols) * like.itemsize


def layout_violations(program: Program) -> list[str]:
    """Symbols and segments outside the program's HBM (rule 5, the header part)."""
    found = []
    size = program.hbm_bytes
    for kind, symbols in (("input", program.inputs), ("output", program.outputs)):
        for symbol in symbols:
            count = 1
            for dim in symbol.shape:
                count *= dim
            end = symbol.addr + count * itemsize(symbol.dtype)
            if end > size:
                found.append(
                    f"{kind} {symbol.name} [{symbol.addr}, {end}) lies outside the program's "
                    f"{size} bytes of HBM"
                )
    for segment in program.segments:
        end = segment.addr + segment.nbytes
        if end > size:
            found.append(
                f"segment {segment.name} [{segment.addr}, {end}) lies outside the program's "
                f"{size} bytes of HBM"
            )
    return found


def _inside(tile: Tile, regions: dict[int, int]) -> bool:
    return any(base <= tile.addr and tile.end <= base + size for base, size in regions.items())


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def violations(
    program: Program, *, num_cores: int, arrays_per_core: int, sram_bytes: int
) -> list[str]:
    """Every broken rule, as 'instruction N (text): why'; empty when the program is clean."""
    found: list[str] = layout_violations(program)
    live: list[dict[int, int]] = [{} for _ in range(num_cores)]
    pending: list[dict[int, Tile]] = [{} for _ in range(num_cores)]

    def report(index: int, inst: Instruction, why: str) -> None:
        found.append(f"instruction {index} ({inst.op} on core {inst.core}): {why}")

    for index, inst in enumerate(program.instructions):
        if inst.op == "barrier":
            for core_pending in pending:
                core_pending.clear()
            continue
        if not 0 <= inst.core < num_cores:
            report(index, inst, f"core {inst.core} does not exist")
            continue
        regions, waiting = live[inst.core], pending[inst.core]
        if inst.op == "sram.alloc":
            base, size = int(inst["base"]), int(inst["size"])
            if base < 0 or size <= 0 or base + size > sram_bytes:
                report(index, inst, f"region [{base}, {base + size}) outside SRAM")
            elif any(_overlaps(base, base + size, b, b + s) for b, s in regions.items()):
                report(index, inst, "region overlaps a live allocation")
            else:
                regions[base] = size
            continue
        if inst.op == "sram.free":
            base, size = int(inst["base"]), int(inst["size"])
            if regions.get(base) != size:
                report(index, inst, f"frees [{base}, {base + size}) which is not allocated")
                continue
            if any(_overlaps(base, base + size, t.addr, t.end) for t in waiting.values()):
                report(index, inst, "frees a region with a DMA still in flight")
            del regions[base]
            continue
        if inst.op == "dma.wait":
            waiting.pop(int(inst["tag"]), None)
            continue
        if inst.unit == "mxu" and not 0 <= int(inst["arr"]) < arrays_per_core:
            report(index, inst, f"array {inst['arr']} does not exist")
        for name, tile in inst.tiles().items():
            if not _inside(tile, regions):
                report(index, inst, f"{name} [{tile.addr}, {tile.end}) is not in allocated SRAM")
            for tag, dest in waiting.items():
                if tiles_overlap(tile, dest):
                    report(
                        index,
                        inst,
                        f"{name} touches the destination of DMA tag {tag} before its wait",
                    )
        if inst.op in ("dma.load", "dma.store"):
            side, ref = ("dst", inst["src"]) if inst.op == "dma.load" else ("src", inst["dst"])
            start, end = hbm_extent(ref, inst[side])  # type: ignore[arg-type]
            if end > program.hbm_bytes:
                report(
                    index,
                    inst,
                    f"HBM [{start}, {end}) lies outside the program's {program.hbm_bytes} bytes",
                )
        if inst.op == "dma.gather" and inst["table"].addr >= program.hbm_bytes:  # type: ignore[union-attr]
            report(index, inst, f"table at {inst['table'].addr} lies outside HBM")  # type: ignore[union-attr]
        if inst.op in ("dma.load", "dma.gather"):
            tag = int(inst["tag"])
            if tag in waiting:
                report(index, inst, f"tag {tag} reused while pending")
            waiting[tag] = inst["dst"]  # type: ignore[assignment]
    return found
