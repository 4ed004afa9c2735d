"""Area, yield, die/package/HBM cost, power and energy, TCO and $/token.

Public API:
  load_assumptions(path=None, overrides=None) -> Assumptions   every coefficient, with sources
  estimate_area(chip, assumptions) -> AreaBreakdown
  estimate_cost(chip, assumptions) -> CostBreakdown
  estimate_power(chip, activity, assumptions, area=None) -> PowerResult; estimate_tdp(chip)
  (estimate_tdp, typical_power_w, tco accept a precomputed `area`; full_load_power)
  energy_per_token(chip, flop=, dram_bytes=, link_bytes=, time_s=, tokens=) -> EnergyPerToken
  tco(chip, assumptions, power_w=) -> TcoResult; usd_per_million_tokens(...)
  training_run_cost(chip, num_chips=, time_s=) -> TrainingRunCost
  dies_per_wafer(...), die_yield(...)
"""

from tigris.cost.area import AreaBreakdown, estimate_area
from tigris.cost.coefficients import Assumptions, default_assumptions_path, load_assumptions
from tigris.cost.cost import CostBreakdown, estimate_cost
from tigris.cost.power import (
    Activity,
    EnergyPerToken,
    PowerResult,
    activity_from_op_times,
    energy_per_token,
    estimate_power,
    estimate_tdp,
    full_load_activity,
    full_load_power,
    serving_energy,
    training_step_energy,
)
from tigris.cost.tco import (
    TcoResult,
    TrainingRunCost,
    tco,
    training_run_cost,
    typical_power_w,
    usd_per_million_tokens,
)
from tigris.cost.wafer import die_yield, dies_per_wafer

__all__ = [
    "Activity",
    "AreaBreakdown",
    "Assumptions",
    "CostBreakdown",
    "EnergyPerToken",
    "PowerResult",
    "TcoResult",
    "TrainingRunCost",
    "activity_from_op_times",
    "default_assumptions_path",
    "die_yield",
    "dies_per_wafer",
    "energy_per_token",
    "estimate_area",
    "estimate_cost",
    "estimate_power",
    "estimate_tdp",
    "full_load_activity",
    "full_load_power",
    "load_assumptions",
    "serving_energy",
    "tco",
    "training_run_cost",
    "training_step_energy",
    "typical_power_w",
    "usd_per_million_tokens",
]
