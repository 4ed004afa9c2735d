"""`tigris show`'s terminal table: the chip's derived figures (report.chip_summary) drawn
with rich."""

from rich.table import Table

from tigris.hardware.chip import Chip
from tigris.report.chip_summary import binary_capacity, chip_figures
from tigris.units import format_quantity


def chip_table(chip: Chip) -> Table:
    figures = chip_figures(chip)
    table = Table(title=f"{chip.name} ({chip.id})", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value")
    table.add_row(
        "kind",
        f"{chip.kind} ({chip.matrix.type})" + ("  [our design]" if chip.reference_design else ""),
    )
    node = f" ({format_quantity(chip.process.node, 'length')})" if chip.process.node else ""
    table.add_row("process", chip.process.name + node)
    if chip.die_area:
        table.add_row(
            "die area", format_quantity(chip.die_area, "area") + f" in {chip.num_dies} die(s)"
        )
    if chip.tdp:
        table.add_row("TDP", format_quantity(chip.tdp, "power"))
    for dtype, peak in figures["peak_flop_per_s"].items():
        ridge = figures["ridge_point_flop_per_byte"][dtype]
        table.add_row(
            f"peak {dtype}", f"{format_quantity(peak, 'flop_rate')}  (ridge {ridge:.0f} flop/B)"
        )
    table.add_row("vector", format_quantity(figures["vector_flop_per_s"], "flop_rate"))
    dram = chip.memory.dram
    table.add_row(
        "DRAM",
        f"{format_quantity(dram.capacity, 'capacity')} {dram.kind} at "
        f"{format_quantity(dram.bandwidth, 'bandwidth')}",
    )
    for level in chip.memory.sram:
        count = f" x {level.instances}" if level.instances > 1 else ""
        table.add_row(f"SRAM {level.name}", binary_capacity(level.capacity) + count)
    for link in chip.links:
        table.add_row(
            "links",
            f"{link.name}: {f'{link.num_links} links, ' if link.num_links else ''}"
            f"{format_quantity(link.unidir_bytes_per_s, 'bandwidth')} per direction",
        )
    system = figures["system"]
    if system:
        table.add_row(
            "system",
            f"{system['name']} ({system['id']}): {system['chips_per_node']} per node, "
            f"scale-up {system['scale_up']} ({system['scale_up_chips']} chips)",
        )
        for tier in system["scale_out"]:
            table.add_row("scale-out", tier)
    return table
