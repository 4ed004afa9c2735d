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
    # per core: live SRAM regions (base -> size) and DMAs in flight (tag -> destination)
    live: list[dict[int, int]] = [{} for _ in range(num_cores)]
    pending: list[dict[int, Tile]] = [{} for _ in range(num_cores)]
    for index, inst in enumerate(program.instructions):
        if inst.op == "barrier":
            # a barrier completes every DMA of every core
            for core_pending in pending:
                core_pending.clear()
            continue
        if not 0 <= inst.core < num_cores:
            whys = [f"core {inst.core} does not exist"]
        else:
            whys = _instruction_problems(
                inst,
                live[inst.core],
                pending[inst.core],
                arrays_per_core=arrays_per_core,
                sram_bytes=sram_bytes,
                hbm_bytes=program.hbm_bytes,
            )
        found.extend(f"instruction {index} ({inst.op} on core {inst.core}): {why}" for why in whys)
    return found


def _instruction_problems(
    inst: Instruction,
    regions: dict[int, int],
    waiting: dict[int, Tile],
    *,
    arrays_per_core: int,
    sram_bytes: int,
    hbm_bytes: int,
) -> list[str]:
    """Why one instruction on an existing core breaks the rules; updates its core's live
    regions and pending DMAs as the instruction would."""
    if inst.op == "sram.alloc":
        return _alloc_problems(inst, regions, sram_bytes)
    if inst.op == "sram.free":
        return _free_problems(inst, regions, waiting)
    if inst.op == "dma.wait":
        waiting.pop(int(inst["tag"]), None)
        return []
    return _access_problems(inst, regions, waiting, arrays_per_core, hbm_bytes)


def _alloc_problems(inst: Instruction, regions: dict[int, int], sram_bytes: int) -> list[str]:
    """Rule 1 for `sram.alloc`; a valid region becomes live."""
    base, size = int(inst["base"]), int(inst["size"])
    if base < 0 or size <= 0 or base + size > sram_bytes:
        return [f"region [{base}, {base + size}) outside SRAM"]
    if any(_overlaps(base, base + size, b, b + s) for b, s in regions.items()):
        return ["region overlaps a live allocation"]
    regions[base] = size
    return []


def _free_problems(
    inst: Instruction, regions: dict[int, int], waiting: dict[int, Tile]
) -> list[str]:
    """Rules 1 and 3 for `sram.free`; a live region is released even when the free is
    reported for a DMA still in flight into it."""
    base, size = int(inst["base"]), int(inst["size"])
    if regions.get(base) != size:
        return [f"frees [{base}, {base + size}) which is not allocated"]
    problems = []
    if any(_overlaps(base, base + size, t.addr, t.end) for t in waiting.values()):
        problems.append("frees a region with a DMA still in flight")
    del regions[base]
    return problems


def _access_problems(
    inst: Instruction,
    regions: dict[int, int],
    waiting: dict[int, Tile],
    arrays_per_core: int,
    hbm_bytes: int,
) -> list[str]:
    """Rules 2 to 5 for an instruction that reads or writes tiles; a load or gather
    becomes pending under its tag."""
    problems = []
    if inst.unit == "mxu" and not 0 <= int(inst["arr"]) < arrays_per_core:
        problems.append(f"array {inst['arr']} does not exist")
    for name, tile in inst.tiles().items():
        if not _inside(tile, regions):
            problems.append(f"{name} [{tile.addr}, {tile.end}) is not in allocated SRAM")
        for tag, dest in waiting.items():
            if tiles_overlap(tile, dest):
                problems.append(f"{name} touches the destination of DMA tag {tag} before its wait")
    if inst.op in ("dma.load", "dma.store"):
        side, ref = ("dst", inst["src"]) if inst.op == "dma.load" else ("src", inst["dst"])
        start, end = hbm_extent(ref, inst[side])  # type: ignore[arg-type]
        if end > hbm_bytes:
            problems.append(f"HBM [{start}, {end}) lies outside the program's {hbm_bytes} bytes")
    if inst.op == "dma.gather" and inst["table"].addr >= hbm_bytes:  # type: ignore[union-attr]
        problems.append(f"table at {inst['table'].addr} lies outside HBM")  # type: ignore[union-attr]
    if inst.op in ("dma.load", "dma.gather"):
        tag = int(inst["tag"])
        if tag in waiting:
            problems.append(f"tag {tag} reused while pending")
        waiting[tag] = inst["dst"]  # type: ignore[assignment]
    return problems
