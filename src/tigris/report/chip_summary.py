"""Derived figures of a chip, as a plain dict (for JSON) and as terminal tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tigris.hardware.chip import Chip
from tigris.hardware.presets import default_cluster
from tigris.units import format_quantity


def chip_figures(chip: Chip) -> dict[str, Any]:
    """Every derived figure `tigris show` prints, in SI units."""
    cluster = default_cluster(chip)
    return {
        "id": chip.id,
        "name": chip.name,
        "vendor": chip.vendor,
        "kind": chip.kind,
        "year": chip.year,
        "reference_design": chip.reference_design,
        "process": chip.process.name,
        "process_node_m": chip.process.node,
        "die_area_mm2": chip.die_area,
        "tdp_w": chip.tdp,
        "matrix_type": chip.matrix.type,
        "peak_flop_per_s": {
            dtype: chip.peak_flop_per_s(dtype) for dtype in chip.supported_dtypes()
        },
        "ridge_point_flop_per_byte": {
            dtype: chip.ridge_point(dtype) for dtype in chip.supported_dtypes()
        },
        "vector_flop_per_s": chip.vector_flop_per_s(),
        "dram": {
            "kind": chip.memory.dram.kind,
            "capacity_bytes": chip.dram_capacity_bytes,
            "bandwidth_bytes_per_s": chip.dram_bandwidth_bytes_per_s,
        },
        "onchip_sram_bytes": chip.onchip_capacity_bytes,
        "sram_levels": [
            {"name": level.name, "capacity_bytes": level.capacity, "instances": level.instances}
            for level in chip.memory.sram
        ],
        "links": [
            {
                "name": link.name,
                "num_links": link.num_links,
                "bandwidth_unidir_bytes_per_s": link.unidir_bytes_per_s,
            }
            for link in chip.links
        ],
        "scale_up_unidir_bytes_per_s": chip.scale_up_unidir_bytes_per_s,
        "default_system": chip.default_system,
        "system": None
        if cluster is None
        else {
            "id": cluster.id,
            "name": cluster.name,
            "chips_per_node": cluster.node.chips_per_node,
            "scale_up": cluster.node.scale_up.name,
            "scale_up_chips": cluster.node.scale_up.num_chips,
            "scale_out": [tier.name for tier in cluster.scale_out],
        },
        "calibration": chip.calibration.model_dump(),
        "sources": dict(chip.sources),
    }


def _binary_capacity(capacity_bytes: float) -> str:
    """SRAM sizes are binary by nature: 228 KiB reads better than 233.5 kB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if capacity_bytes >= size and (capacity_bytes / size) == int(capacity_bytes / size):
            return f"{int(capacity_bytes / size)} {unit}"
    return format_quantity(capacity_bytes, "capacity")


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
        table.add_row(f"SRAM {level.name}", _binary_capacity(level.capacity) + count)
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
