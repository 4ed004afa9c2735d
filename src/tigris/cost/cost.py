"""Manufacturing cost of one chip package: dies, HBM, packaging, test; then capex.

die cost = wafer price / (gross dies per wafer x sellable fraction), the sellable fraction
being the full-die yield plus the share of defective dies recovered by disabling units.
Each die of a multi-die chip is taken at the mean silicon per die. Chips with HBM or
several dies use a silicon interposer (CoWoS-class) priced per mm2 of interposer, which
spans the dies and the HBM stacks; others a plain flip-chip package. A failed bond scraps
everything on the package, so bonded parts are divided by the bonding yield.
Capex is the manufacturing cost (comparable across products and one's own designs), or,
with capex_basis 'purchase', the reported price where one is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tigris.cost._record import record
from tigris.cost.area import AreaBreakdown, estimate_area, hbm_stack_count
from tigris.cost.coefficients import Assumptions, PackageAssumptions, load_assumptions
from tigris.cost.wafer import die_yield, dies_per_wafer
from tigris.hardware.chip import Chip


@dataclass(frozen=True)
class CostBreakdown:
    """Cost of one chip package (USD), and the wafer arithmetic behind the die cost."""

    chip_id: str
    die_area_mm2: float
    num_dies: int
    dies_per_wafer: float
    die_yield: float
    wafer_price_usd: float
    die_cost_usd: float
    silicon_cost_usd: float
    memory_cost_usd: float
    package_cost_usd: float
    bonding_loss_usd: float
    test_and_assembly_usd: float
    purchase_price_usd: float | None
    capex_basis: str
    server_cost_multiplier: float

    @property
    def manufacturing_cost_usd(self) -> float:
        return (
            self.silicon_cost_usd
            + self.memory_cost_usd
            + self.package_cost_usd
            + self.bonding_loss_usd
            + self.test_and_assembly_usd
        )

    @property
    def capex_usd(self) -> float:
        """What one chip costs its owner: manufacturing cost, or the reported price when
        the basis is 'purchase' and a price is known."""
        if self.capex_basis == "purchase" and self.purchase_price_usd is not None:
            return self.purchase_price_usd
        return self.manufacturing_cost_usd

    @property
    def server_capex_per_chip_usd(self) -> float:
        """Chip plus its share of the server (host CPUs, memory, NICs, chassis)."""
        return self.capex_usd * self.server_cost_multiplier

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(
            manufacturing_cost_usd=self.manufacturing_cost_usd,
            capex_usd=self.capex_usd,
            server_capex_per_chip_usd=self.server_capex_per_chip_usd,
        )
        return data


def memory_cost_usd(chip: Chip, assumptions: Assumptions) -> float:
    """HBM on the package; DDR/LPDDR is counted only when it is on the package (never here)."""
    dram = chip.memory.dram
    if not dram.kind.upper().startswith("HBM"):
        return 0.0
    usd_per_gb = assumptions.package.keyed("hbm_usd_per_gb", dram.kind, "HBM3")
    return dram.capacity / 1e9 * usd_per_gb


def package_cost_usd(chip: Chip, area: AreaBreakdown, assumptions: Assumptions) -> float:
    return _package_cost_usd(chip, area, hbm_stack_count(chip, assumptions), assumptions.package)


def _package_cost_usd(
    chip: Chip, area: AreaBreakdown, stacks: int, package: PackageAssumptions
) -> float:
    """`package_cost_usd` given the chip's HBM stacks (estimate_cost has them already)."""
    if stacks == 0 and chip.num_dies == 1:
        return package.base_package_usd
    interposer_mm2 = package.interposer_area_factor * (
        area.total_mm2 + stacks * package.hbm_stack_footprint_mm2
    )
    return (
        package.base_package_usd + interposer_mm2 * package.advanced_package_usd_per_interposer_mm2
    )


def estimate_cost(
    chip: Chip,
    assumptions: Assumptions | None = None,
    area: AreaBreakdown | None = None,
) -> CostBreakdown:
    """Cost breakdown of `chip` from its modelled area (never its published die_area)."""
    assumptions = assumptions or load_assumptions()
    area = area or estimate_area(chip, assumptions)
    fab = assumptions.fab
    die_mm2 = area.die_area_mm2
    node_nm = area.node_nm
    dram = chip.memory.dram
    # The DRAM part's figures and the node's fab figures, once per (part, node) and
    # assumptions: one lookup per design.
    memory, stacks, defect_density, wafer_price = assumptions.memo_parts(
        "cost_parts",
        (dram,),
        (node_nm,),
        lambda: (
            memory_cost_usd(chip, assumptions),
            hbm_stack_count(chip, assumptions),
            fab.at_node("defect_density_per_cm2", node_nm),
            fab.at_node("wafer_price_usd", node_nm),
        ),
    )
    gross = dies_per_wafer(die_mm2, fab.wafer_diameter_mm, fab.edge_loss_mm, fab.scribe_mm)
    good_fraction = die_yield(die_mm2, defect_density, fab.yield_model, fab.clustering_alpha)
    sellable = good_fraction + (1 - good_fraction) * fab.harvest_recovered_fraction
    die_cost = wafer_price / (gross * sellable) if gross * sellable > 0 else float("inf")
    silicon = die_cost * chip.num_dies
    package_ = assumptions.package
    package = _package_cost_usd(chip, area, stacks, package_)
    bonded = silicon + memory + package
    advanced = stacks > 0 or chip.num_dies > 1
    bonding_loss = bonded * (1 / package_.bonding_yield - 1) if advanced else 0.0
    test = (bonded + bonding_loss) * package_.test_and_assembly_fraction
    return record(
        CostBreakdown,
        {
            "chip_id": chip.id,
            "die_area_mm2": die_mm2,
            "num_dies": chip.num_dies,
            "dies_per_wafer": gross,
            "die_yield": good_fraction,
            "wafer_price_usd": wafer_price,
            "die_cost_usd": die_cost,
            "silicon_cost_usd": silicon,
            "memory_cost_usd": memory,
            "package_cost_usd": package,
            "bonding_loss_usd": bonding_loss,
            "test_and_assembly_usd": test,
            "purchase_price_usd": package_.chip_price_usd.get(chip.id),
            "capex_basis": package_.capex_basis,
            "server_cost_multiplier": package_.server_cost_multiplier,
        },
    )
