"""What one chip of a supply system costs a year: its server capex spread over the
lifetime, and what one watt drawn at the wall costs in electricity at the PUE.

Capex per chip = the chip's price (given in the demand file, else the cost model's:
the reported purchase price where the assumptions have one, else the modelled
manufacturing cost) x the server multiplier (host, memory, NICs, chassis: tigris.cost
assumptions `package.server_cost_multiplier`). Constraints not given in the demand file
(PUE, electricity price, lifetime) are the cost assumptions' (`operations.*`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tigris.fleet.demand import Constraints, SupplySystem

HOURS_PER_YEAR = 365.25 * 24


@dataclass(frozen=True)
class Economics:
    """The yearly cost figures of one supply system."""

    system: str
    chip_id: str
    chips_per_node: int
    chips_per_rack: int | None
    max_chips: int | None
    price_usd_per_chip: float
    price_source: str
    server_capex_usd_per_chip: float
    lifetime_years: float
    pue: float
    electricity_usd_per_kwh: float

    @property
    def capex_usd_per_chip_year(self) -> float:
        return self.server_capex_usd_per_chip / self.lifetime_years

    @property
    def usd_per_wall_w_year(self) -> float:
        """Electricity for one watt at the wall for a year, at the facility (x PUE)."""
        return HOURS_PER_YEAR * self.pue * self.electricity_usd_per_kwh / 1000.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {
            "capex_usd_per_chip_year": self.capex_usd_per_chip_year,
            "usd_per_wall_w_year": self.usd_per_wall_w_year,
        }


@dataclass(frozen=True)
class Operations:
    """The constraints with the cost assumptions' defaults filled in."""

    power_budget_mw: float
    pue: float
    electricity_usd_per_kwh: float
    lifetime_years: float


def operations(constraints: Constraints) -> Operations:
    from tigris.cost import load_assumptions

    ops = load_assumptions().operations
    return Operations(
        power_budget_mw=constraints.power_budget_mw,
        pue=constraints.pue if constraints.pue is not None else ops.pue,
        electricity_usd_per_kwh=_given(
            constraints.electricity_usd_per_kwh, ops.electricity_usd_per_kwh
        ),  # fmt: skip
        lifetime_years=_given(constraints.lifetime_years, ops.lifetime_years),
    )


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def economics(system: SupplySystem, ops: Operations) -> Economics:
    """The yearly figures of `system` under `ops`."""
    from tigris.api.inputs import resolve_chip, resolve_system
    from tigris.cost import load_assumptions
    from tigris.cost.cost import estimate_cost

    chip = resolve_chip(system.chip)
    node = resolve_system(system.system, chip).node.chips_per_node
    assumptions = load_assumptions(overrides=["package.capex_basis=purchase"])
    cost = estimate_cost(chip, assumptions)
    if system.price_usd_per_chip is not None:
        price, source = system.price_usd_per_chip, "demand file"
    elif cost.purchase_price_usd is not None:
        price, source = cost.purchase_price_usd, "cost assumptions: reported purchase price"
    else:
        price, source = cost.manufacturing_cost_usd, "cost model: manufacturing cost (no price)"
    return Economics(
        system=system.label, chip_id=chip.id, chips_per_node=node,
        chips_per_rack=system.chips_per_rack, max_chips=system.max_chips,
        price_usd_per_chip=price, price_source=source,
        server_capex_usd_per_chip=price * cost.server_cost_multiplier,
        lifetime_years=ops.lifetime_years, pue=ops.pue,
        electricity_usd_per_kwh=ops.electricity_usd_per_kwh,
    )  # fmt: skip
