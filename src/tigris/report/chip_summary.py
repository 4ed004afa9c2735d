"""Derived figures of a chip, as a plain dict (JSON and the terminal table in tigris.cli)."""

from __future__ import annotations

from typing import Any

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


def binary_capacity(capacity_bytes: float) -> str:
    """SRAM sizes are binary by nature: 228 KiB reads better than 233.5 kB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if capacity_bytes >= size and (capacity_bytes / size) == int(capacity_bytes / size):
            return f"{int(capacity_bytes / size)} {unit}"
    return format_quantity(capacity_bytes, "capacity")
