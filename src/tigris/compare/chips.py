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
from tigris.errors import SpecError, TigrisError
from tigris.hardware.chip import Chip
from tigris.io.loader import load_mapping

AREA_TOLERANCE = 0.20
TDP_TOLERANCE = 0.25


@dataclass(frozen=True)
class GivenChip:
    """A chip of the comparison: its row label, the spec, and the file it came from.

    The label is the chip's id, unless that could be mistaken for another chip: a file
    whose id is also a catalog id (a copy of a preset, edited or not) or the id of another
    chip given is labelled `id (file name)`, or `id (path)` where file names repeat too."""

    label: str
    chip: Chip
    file: str | None  # the YAML file given; None for a catalog id (or the catalog's own file)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.chip.id, "name": self.chip.name, "file": self.file}


def _catalog_file(chip: Chip, given: str) -> bool:
    """Whether the path `given` is the catalog's own file for `chip`."""
    from tigris.hardware.presets import chip_path, list_chip_ids

    if chip.id not in list_chip_ids():
        return False
    return Path(given).resolve() == chip_path(chip.id).resolve()


def _load_given(name: str | Chip) -> tuple[Chip, str | None]:
    from tigris.hardware.presets import load_chip

    if isinstance(name, Chip):  # a spec object (tigris.api.compare): known by its id
        return name, None
    chip = load_chip(name)
    looks_like_file = name.endswith((".yaml", ".yml", ".json")) or "/" in name
    if not looks_like_file or _catalog_file(chip, name):
        return chip, None
    return chip, name


def resolve_chips(names: list[str | Chip] | tuple[str | Chip, ...]) -> list[GivenChip]:
    """The chips named by ids or YAML files (or given as Chip objects), labelled so that
    no two rows read alike; SpecError for a bad file or id, or for the same chip given
    twice."""
    from tigris.hardware.presets import list_chip_ids

    loaded: list[tuple[str, Chip, str | None]] = []
    seen: dict[object, str] = {}
    for name in names:
        chip, file = _load_given(name)
        name = name if isinstance(name, str) else f"Chip {chip.id}"  # never a whole spec
        key = ("file", Path(file).resolve()) if file else ("catalog", chip.id)
        if key in seen:
            raise SpecError(
                f"{name!r} is the same chip as {seen[key]!r}; give each chip once",
                key_path="--chips",
            )
        seen[key] = name
        loaded.append((name, chip, file))
    catalog = set(list_chip_ids())
    ids = [chip.id for _, chip, _ in loaded]
    labels = []
    for _, chip, file in loaded:
        ambiguous = chip.id in catalog or ids.count(chip.id) > 1
        labels.append(f"{chip.id} ({Path(file).name})" if file and ambiguous else chip.id)
    by_name = list(labels)
    for index, (_, chip, file) in enumerate(loaded):
        if file and by_name.count(by_name[index]) > 1:  # file names repeat too
            labels[index] = f"{chip.id} ({file})"
    for label in labels:
        if labels.count(label) > 1:  # two catalog ids cannot repeat; kept as a guard
            raise SpecError(f"two chips read as {label!r}", key_path="--chips")
    return [
        GivenChip(label, chip, file) for label, (_, chip, file) in zip(labels, loaded, strict=True)
    ]


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
    capex_basis: str  # the basis this chip's capex is on: 'manufacturing' or 'purchase'
    capex_fallback: bool  # asked for 'purchase', but no price is known: manufacturing cost
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


def capex_basis_used(asked: str, purchase_price_usd: float | None) -> str:
    """The basis a chip's capex is on: 'purchase' only where a price is known (as
    tigris.cost.CostBreakdown.capex_usd does), else 'manufacturing'."""
    return "purchase" if asked == "purchase" and purchase_price_usd is not None else "manufacturing"


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
        capex_basis=capex_basis_used(cost.capex_basis, cost.purchase_price_usd),
        capex_fallback=cost.capex_basis == "purchase" and cost.purchase_price_usd is None,
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
