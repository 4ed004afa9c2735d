"""Total cost of ownership: $ per chip-hour, $ per million tokens, $ and MWh of a run.

Owned ('capex' basis): server capex per chip (chip capex x server multiplier) spread
evenly over the lifetime's hours, plus electricity: the chip's share of its node at the
wall (tigris.cost.power_scope: (board + the fitted host share) / PSU efficiency, where the
board power is the workload's) x PUE x price. Without a workload's power, the same
with the typical board power of the same model (power_scope.typical_board_w: idle plus
the assumed utilisation's share of the full-load stream, under the throttle rule).
Rented ('cloud' basis): the public on-demand price per chip-hour. Every figure comes
from the Assumptions object, printed with its source by `str(assumptions)`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tigris.cost._record import record
from tigris.cost.area import AreaBreakdown, estimate_area
from tigris.cost.coefficients import Assumptions, load_assumptions
from tigris.cost.cost import CostBreakdown, estimate_cost
from tigris.cost.power import PowerResult, estimate_power, full_load_activity
from tigris.cost.power_scope import node_wall_w, typical_board_w
from tigris.errors import UnsupportedError
from tigris.hardware.chip import Chip

HOURS_PER_YEAR = 365.25 * 24


@dataclass(frozen=True)
class TcoResult:
    """Hourly cost of one chip in service, both ways where a cloud price is public."""

    chip_id: str
    basis: str
    server_capex_per_chip_usd: float
    lifetime_h: float
    power_w: float
    facility_power_w: float
    electricity_usd_per_kwh: float
    cloud_usd_per_chip_hour: float | None

    @property
    def capex_usd_per_hour(self) -> float:
        return self.server_capex_per_chip_usd / self.lifetime_h

    @property
    def energy_usd_per_hour(self) -> float:
        return self.facility_power_w / 1000 * self.electricity_usd_per_kwh

    @property
    def owned_usd_per_chip_hour(self) -> float:
        return self.capex_usd_per_hour + self.energy_usd_per_hour

    @property
    def usd_per_chip_hour(self) -> float:
        """The price of a chip-hour on the chosen basis."""
        if self.basis == "cloud":
            if self.cloud_usd_per_chip_hour is None:
                raise UnsupportedError(f"no public cloud price for {self.chip_id}")
            return self.cloud_usd_per_chip_hour
        return self.owned_usd_per_chip_hour

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(
            capex_usd_per_hour=self.capex_usd_per_hour,
            energy_usd_per_hour=self.energy_usd_per_hour,
            owned_usd_per_chip_hour=self.owned_usd_per_chip_hour,
        )
        if self.basis != "cloud" or self.cloud_usd_per_chip_hour is not None:
            data["usd_per_chip_hour"] = self.usd_per_chip_hour
        return data


def typical_power_w(
    chip: Chip,
    assumptions: Assumptions,
    area: AreaBreakdown | None = None,
    *,
    full_load: PowerResult | None = None,
) -> float:
    """Power at the assumed utilisation by the area-based activity model (estimate_power):
    static plus that share of full-load dynamic power, at most TDP (explore's chip
    metric; TCO's default is power_scope.typical_board_w). `area` (the chip's
    estimate_area) or `full_load` (its full_load_power) save recomputing them."""
    result = full_load or estimate_power(chip, full_load_activity(chip), assumptions, area)
    dynamic = result.dynamic_energy_j / result.capped_time_s
    return result.static_w + assumptions.operations.utilization * dynamic


def tco(
    chip: Chip,
    assumptions: Assumptions | None = None,
    *,
    power_w: float | None = None,
    cost: CostBreakdown | None = None,
    area: AreaBreakdown | None = None,
) -> TcoResult:
    """Hourly cost of `chip`; `power_w` (a workload's average board power per chip: its
    electricity is its node-wall share, power_scope.node_wall_w) defaults to the typical
    board power (power_scope.typical_board_w). `area` (the chip's estimate_area) saves
    recomputing it."""
    assumptions = assumptions or load_assumptions()
    ops = assumptions.operations
    if cost is None or power_w is None:
        area = area or estimate_area(chip, assumptions)
    if cost is None:
        cost = estimate_cost(chip, assumptions, area)
    if power_w is None:
        power_w = typical_board_w(chip, ops.utilization, assumptions=assumptions, area=area)
    wall_w = node_wall_w(power_w)
    return record(
        TcoResult,
        {
            "chip_id": chip.id,
            "basis": ops.price_basis,
            "server_capex_per_chip_usd": cost.server_capex_per_chip_usd,
            "lifetime_h": ops.lifetime_years * HOURS_PER_YEAR,
            "power_w": power_w,
            "facility_power_w": wall_w * ops.pue,
            "electricity_usd_per_kwh": ops.electricity_usd_per_kwh,
            "cloud_usd_per_chip_hour": ops.cloud_usd_per_chip_hour.get(chip.id),
        },
    )


def usd_per_million_tokens(usd_per_chip_hour: float, tokens_per_s_per_chip: float) -> float:
    """$ per 1e6 tokens for a chip-hour price and a per-chip token rate."""
    if tokens_per_s_per_chip <= 0:
        raise ValueError("token rate must be positive")
    return usd_per_chip_hour / (tokens_per_s_per_chip * 3600) * 1e6


@dataclass(frozen=True)
class TrainingRunCost:
    """Cost and facility energy of a training run on `num_chips` chips."""

    chip_id: str
    num_chips: int
    time_s: float
    usd_per_chip_hour: float
    facility_power_w_per_chip: float

    @property
    def chip_hours(self) -> float:
        return self.num_chips * self.time_s / 3600

    @property
    def cost_usd(self) -> float:
        return self.chip_hours * self.usd_per_chip_hour

    @property
    def energy_mwh(self) -> float:
        return self.num_chips * self.facility_power_w_per_chip * self.time_s / 3.6e9

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(chip_hours=self.chip_hours, cost_usd=self.cost_usd, energy_mwh=self.energy_mwh)
        return data


def training_run_cost(
    chip: Chip,
    *,
    num_chips: int,
    time_s: float,
    power_w_per_chip: float | None = None,
    assumptions: Assumptions | None = None,
) -> TrainingRunCost:
    """$ and MWh (at the facility meter) of training for `time_s` on `num_chips` chips."""
    assumptions = assumptions or load_assumptions()
    hourly = tco(chip, assumptions, power_w=power_w_per_chip)
    return TrainingRunCost(
        chip_id=chip.id,
        num_chips=num_chips,
        time_s=time_s,
        usd_per_chip_hour=hourly.usd_per_chip_hour,
        facility_power_w_per_chip=hourly.facility_power_w,
    )


def usd_per_chip_hour(chip: Chip) -> float:
    """$ per chip-hour on the default cost assumptions' price basis (capex + energy), the
    price a serving layout search ranks layouts by (kept with the chip: a search prices
    the same chip for every layout)."""
    return chip.derived("usd_per_chip_hour", lambda c: tco(c, load_assumptions()).usd_per_chip_hour)
