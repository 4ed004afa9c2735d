"""Per chip: the cost model's area, cost, TDP and hourly cost; and the checks of area and
TDP against published figures (data/published.yaml) for chips that publish them.

The model estimates from public specs alone (it never reads a chip's die_area or tdp);
the checks pass when area lands within 20% and TDP within 25% of the published value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from tigris.cost import Assumptions, estimate_area, estimate_cost, estimate_tdp, tco
from tigris.errors import TigrisError
from tigris.hardware.chip import Chip
from tigris.io.loader import load_mapping

AREA_TOLERANCE = 0.20
TDP_TOLERANCE = 0.25


@dataclass(frozen=True)
class ChipSummary:
    """What the cost model says about one chip, SI units and dollars."""

    chip_id: str
    name: str
    node_nm: float
    num_dies: int
    die_area_mm2: float
    compute_die_area_mm2: float
    total_area_mm2: float
    exceeds_reticle: bool
    area_parts_mm2: dict[str, float]
    assumed: tuple[str, ...]
    cost_parts_usd: dict[str, float]
    manufacturing_cost_usd: float
    capex_usd: float
    server_capex_per_chip_usd: float
    estimated_tdp_w: float
    tdp_w: float | None
    usd_per_chip_hour: float | None  # at the typical power, on the assumptions' price basis
    cost_note: str | None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["assumed"] = list(self.assumed)
        return data


AREA_PARTS = (
    ("matrix", "matrix_mm2"),
    ("vector", "vector_mm2"),
    ("control", "control_mm2"),
    ("register files", "register_file_mm2"),
    ("core SRAM", "core_sram_mm2"),
    ("NoC", "noc_mm2"),
    ("disabled units", "disabled_units_mm2"),
    ("shared SRAM", "shared_sram_mm2"),
    ("memory PHY", "memory_phy_mm2"),
    ("memory controller", "memory_controller_mm2"),
    ("links", "link_mm2"),
    ("host interface", "host_interface_mm2"),
)
COST_PARTS = (
    ("logic dies", "silicon_cost_usd"),
    ("memory (HBM/DRAM)", "memory_cost_usd"),
    ("package", "package_cost_usd"),
    ("bonding loss", "bonding_loss_usd"),
    ("test and assembly", "test_and_assembly_usd"),
)


def summarize_chip(chip: Chip, assumptions: Assumptions) -> ChipSummary:
    area = estimate_area(chip, assumptions)
    cost = estimate_cost(chip, assumptions, area)
    hourly: float | None = None
    note: str | None = None
    try:
        hourly = tco(chip, assumptions, cost=cost).usd_per_chip_hour
    except TigrisError as error:
        note = str(error).splitlines()[0]
    return ChipSummary(
        chip_id=chip.id,
        name=chip.name,
        node_nm=area.node_nm,
        num_dies=area.num_dies,
        die_area_mm2=area.die_area_mm2,
        compute_die_area_mm2=area.compute_die_area_mm2,
        total_area_mm2=area.total_mm2,
        exceeds_reticle=area.exceeds_reticle,
        area_parts_mm2={label: getattr(area, key) for label, key in AREA_PARTS},
        assumed=tuple(area.assumed),
        cost_parts_usd={label: getattr(cost, key) for label, key in COST_PARTS},
        manufacturing_cost_usd=cost.manufacturing_cost_usd,
        capex_usd=cost.capex_usd,
        server_capex_per_chip_usd=cost.server_capex_per_chip_usd,
        estimated_tdp_w=estimate_tdp(chip, assumptions),
        tdp_w=chip.tdp,
        usd_per_chip_hour=hourly,
        cost_note=note,
    )


@dataclass(frozen=True)
class PublishedCheck:
    """The model's die area and TDP for a chip against the published figures."""

    chip_id: str
    die: str
    published_die_area_mm2: float
    model_die_area_mm2: float
    published_tdp_w: float
    model_tdp_w: float
    area_source: str
    tdp_source: str

    @property
    def area_error(self) -> float:
        return self.model_die_area_mm2 / self.published_die_area_mm2 - 1

    @property
    def tdp_error(self) -> float:
        return self.model_tdp_w / self.published_tdp_w - 1

    @property
    def area_ok(self) -> bool:
        return abs(self.area_error) <= AREA_TOLERANCE

    @property
    def tdp_ok(self) -> bool:
        return abs(self.tdp_error) <= TDP_TOLERANCE

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data |= {
            "area_error": self.area_error,
            "tdp_error": self.tdp_error,
            "area_ok": self.area_ok,
            "tdp_ok": self.tdp_ok,
        }
        return data


def published_path() -> Path:
    return Path(str(resources.files("tigris.compare") / "data" / "published.yaml"))


def published_checks(
    assumptions: Assumptions, path: str | Path | None = None
) -> list[PublishedCheck]:
    """Model vs published die area and TDP for each chip in the published-figures file."""
    from tigris.hardware.presets import load_chip

    data = load_mapping(path or published_path())
    sources = data.get("sources", {})
    checks = []
    for chip_id, entry in data["checks"].items():
        chip = load_chip(chip_id)
        area = estimate_area(chip, assumptions)
        model_area = area.compute_die_area_mm2 if entry.get("compute_die") else area.die_area_mm2
        checks.append(
            PublishedCheck(
                chip_id=chip_id,
                die=str(entry["die"]),
                published_die_area_mm2=float(entry["die_area_mm2"]),
                model_die_area_mm2=model_area,
                published_tdp_w=float(entry["tdp_w"]),
                model_tdp_w=estimate_tdp(chip, assumptions),
                area_source=sources.get(f"{chip_id}.die_area_mm2", ""),
                tdp_source=sources.get(f"{chip_id}.tdp_w", ""),
            )
        )
    return checks
