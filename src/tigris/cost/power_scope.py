"""Power with a scope: chip, board, node at the wall, facility.

Per chip (the board a GPU's NVML reports):

    board = idle + compute + memory + network
    idle     = static_fraction x TDP             (leakage, clocks, HBM refresh, fans of
                                                  the board: what an idle board holding a
                                                  context draws)
    compute  = load x (dense_tdp_fraction x TDP - idle - memory at dense load)
    load     = matrix flop/s / the chip's sustained dense matrix flop/s in that dtype
               (peak x calibrated matrix_fraction x sustained_clock_fraction)
    memory   = memory_scale x DRAM bytes x pJ/bit of the DRAM kind
    network  = link bytes x the scale-up SerDes pJ/bit (sourced, not scaled)

The compute term is identified by mechanism, not by the measured rows (which are mostly
memory-bound decode and barely see it): a vendor sets TDP so that dense matrix work at
the sustained clock reaches it, so the compute energy per flop of a chip in a dtype is
what is left of TDP, after idle and the DRAM power of a GEMM stream, divided by its
sustained dense flop/s. Evidence: one H100 at ~70 % of its dense bf16 peak drew its
700 W TDP (Epoch AI, training-cost-trends energy.py, server_TDP_fraction();
cost-area-power.yaml `epoch_single_h100_test`), hence dense_tdp_fraction = 1. FP8 work,
at twice the flop/s in the same TDP, costs half the energy per flop: an FP8 GEMM stream
on Hopper is power-limited at 700 W at the same clock as the BF16 one (DeepGEMM, an FP8
GEMM library: 1980 -> 1575 MHz, github.com/deepseek-ai/DeepGEMM/issues/120), so both
dense streams fill TDP at the same clock and FP8's twice-as-many flop share it. Measured
effect on the held-out rows (power_fit.json refit on its development rows): FP8 at bf16's
energy per flop instead moves held-out board power error 33.8 -> 34.9 % and J/token
48.1 -> 49.1 % (FP8 rows alone: 36.5 -> 34.2 % and 49.2 -> 44.8 %). A GEMM stream moves DRAM at DENSE_DRAM_FRACTION of its bandwidth: the tile
engine's own count for large GEMMs (8192 x 8192 x 8192 to 8192 x 28672 x 8192, bf16 and
fp8) is 0.33-0.36 on H100, 0.39-0.40 on A100, 0.35-0.37 on B200; 0.3 is kept. Measured
effect: 0.1 -> held-out board error 38.1 %, 0.5 -> 47.8 % (0.3: 33.8 %).

static_fraction and memory_scale are fitted by `tigris.cost.power_fit` on measured
board power rows, and the fit records the rows it used (`PowerCoefficients.fitted_on`).
`chip` scope is the board without the DRAM stacks' dynamic power.

Clock. Compute energy per flop goes as r^2 with the clock ratio r (voltage follows the
clock near the top of the DVFS curve, as tigris.parallel.clock takes it): the TDP anchor
above holds at the sustained clock s, so the same stream at the boost clock costs s^-2
times as much per flop. An activity says at which clock its time was made
(`Activity.clock_sq`, the flop-weighted mean r^2: 1 for engine times at boost, s^2 for a
training step the step model ran at its sustained clock, each op's own r under a cap).

Cap. One rule, tigris.parallel.clock.throttle: a board whose demand exceeds its limit
(min of TDP, the chip YAML's power_cap_w and a --power-cap) lowers its clock to the
ratio at which it fits. `apply_power_cap` puts the cap and this model's terms on the
chip, so the step model (per step) and the serving step timer (per op) time every op at
the clock the cap allows it; `scoped_power` evaluates the same rule on the whole
activity (a no-op when the times were already made under the cap).

Node at the wall, per chip: (board + host_w_per_chip) / psu_efficiency, host_w_per_chip
(the chip's share of host CPUs, DRAM, NICs, NVSwitch, fans, storage) fitted on wall
rows; where a fit has no wall row, the share from a measured node (HOST_W_FALLBACK).
psu_efficiency sourced. Facility: node_wall x PUE (tigris.cost assumptions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from tigris.cost.area import AreaBreakdown, estimate_area
from tigris.cost.coefficients import Assumptions, load_assumptions
from tigris.cost.power import (
    Activity,
    dram_energy_per_byte_j,
    estimate_tdp,
    full_load_activity,
    peak_dtype,
)
from tigris.errors import SpecError, UnsupportedError
from tigris.hardware.chip import Chip, PowerCapTerms
from tigris.parallel.clock import throttle

SCOPES = ("chip", "board", "node_wall", "facility")
# 80 PLUS Titanium (230 V internal redundant supplies, the DGX/HGX class): at least 94 %
# efficient at full load and 96 % at half load (CLEAResult 80 PLUS program table);
# the full-load figure is taken.
PSU_EFFICIENCY = 0.94
PSU_EFFICIENCY_SOURCE = "80 PLUS Titanium 230 V internal: >= 94 % at 100 % load (CLEAResult)"
# A GEMM stream's DRAM traffic over the chip's bandwidth (the tile engine counts
# 0.33-0.40 for large GEMMs on H100/A100/B200; only the compute term's TDP budget
# depends on it).
DENSE_DRAM_FRACTION = 0.3
# Board power at sustained dense matrix throughput over TDP (Epoch AI: one H100 at ~70 %
# of dense bf16 peak drew its 700 W TDP).
DENSE_TDP_FRACTION = 1.0
# A node's share per GPU of host CPUs, DRAM, NICs, NVSwitch, fans and storage, from a
# measured 8x H100 node: peak 8.4 kW at the wall in LLM fine-tuning (Latif et al., IEEE
# Access 13 (2025) 61740; cost-area-power.yaml `hgx_h100_measured_node_power`), the GPUs
# taken at their 700 W TDP: 8400 x 0.94 / 8 - 700. Upper bound: the DGX H100 rating,
# 10.2 kW (10200 x 0.94 / 8 - 700 = 499 W). Used where a fit has no wall row.
HOST_W_FALLBACK = 8400.0 * 0.94 / 8 - 700.0
HOST_W_FALLBACK_SOURCE = (
    "8x H100 node peak 8.4 kW at the wall, GPUs at 700 W (Latif et al., IEEE Access 13 "
    "(2025) 61740); bound: DGX H100 rated 10.2 kW -> 499 W"
)
FIT_FILE = "power_fit.json"


@dataclass(frozen=True)
class PowerCoefficients:
    """The fitted terms of the power model and the rows each was fitted on."""

    static_fraction: float
    dense_tdp_fraction: float
    memory_scale: float
    host_w_per_chip: float
    psu_efficiency: float = PSU_EFFICIENCY
    fitted_on: tuple[str, ...] = ()
    node_fitted_on: tuple[str, ...] = ()
    note: str = ""
    host_source: str = ""

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["fitted_on"] = list(self.fitted_on)
        data["node_fitted_on"] = list(self.node_fitted_on)
        return data


@lru_cache(maxsize=1)
def default_coefficients() -> PowerCoefficients:
    """The coefficients `tigris validate power --write-fit` fitted on every mappable row
    of the shipped power.csv (the file lists the row ids)."""
    text = resources.files("tigris.cost").joinpath("data", FIT_FILE).read_text()
    data = json.loads(text)
    data["fitted_on"] = tuple(data.get("fitted_on", ()))
    data["node_fitted_on"] = tuple(data.get("node_fitted_on", ()))
    return PowerCoefficients(**data)


@dataclass(frozen=True)
class RefRates:
    """An activity at its unthrottled time, before the fitted terms: its compute load
    (matrix flop/s over the chip's sustained dense flop/s in the dtype), DRAM and link
    power (W), the compute-bound share of its time, and the DRAM power of a GEMM stream
    on the chip (W, before memory_scale: what the compute term's TDP budget leaves out)."""

    compute_load: float
    memory_w: float
    link_w: float
    compute_bound: float
    dense_memory_w: float


def sustained_dense_flop_per_s(chip: Chip, dtype: str) -> float:
    """Matrix flop/s a back-to-back GEMM stream holds at the board limit: peak x the
    calibrated matrix_fraction x the sustained clock (tigris.parallel.clock). A dtype
    the chip lacks counts as its TDP-defining one (bf16 or its widest)."""
    try:
        peak = chip.peak_flop_per_s(dtype)
    except UnsupportedError:
        peak = chip.peak_flop_per_s(peak_dtype(chip))
    fraction = chip.calibration.matrix_fraction * (chip.sustained_clock_fraction or 1.0)
    return peak * fraction


def reference_rates(
    chip: Chip, activity: Activity, assumptions: Assumptions, area: AreaBreakdown
) -> RefRates:
    """`activity` as load and power, before the fitted terms. The load is relative to
    the dense stream at the sustained clock s, its energy per flop scaled to the clock
    the activity ran at: clock_sq / s^2."""
    del area  # the compute term no longer uses the per-event table (kept for callers)
    dram_j_per_byte = dram_energy_per_byte_j(chip, assumptions)
    t = activity.time_s
    link_j = activity.link_bytes * 8 * assumptions.energy.link_pj_per_bit * 1e-12
    try:
        peak = chip.peak_flop_per_s(activity.dtype)
    except UnsupportedError:  # a dtype the chip lacks: no compute-bound share
        peak = None
    bound = min(1.0, activity.flop / (peak * t)) if peak else 0.0
    s = chip.sustained_clock_fraction or 1.0
    load = activity.flop / t / sustained_dense_flop_per_s(chip, activity.dtype)
    load *= activity.clock_sq / (s * s)
    dense_memory_w = DENSE_DRAM_FRACTION * chip.dram_bandwidth_bytes_per_s * dram_j_per_byte
    return RefRates(load, activity.dram_bytes * dram_j_per_byte / t, link_j / t, bound,
                    dense_memory_w)  # fmt: skip


@dataclass(frozen=True)
class ScopedPower:
    """Average power per chip of an activity in every scope, after the cap."""

    chip_id: str
    time_s: float
    capped_time_s: float
    clock_ratio: float
    limit_w: float | None
    idle_w: float
    compute_w: float
    memory_w: float
    network_w: float
    host_w: float
    conversion_w: float
    facility_overhead_w: float

    @property
    def board_w(self) -> float:
        return self.idle_w + self.compute_w + self.memory_w + self.network_w

    @property
    def chip_w(self) -> float:
        return self.board_w - self.memory_w

    @property
    def node_wall_w(self) -> float:
        return self.board_w + self.host_w + self.conversion_w

    @property
    def facility_w(self) -> float:
        return self.node_wall_w + self.facility_overhead_w

    @property
    def slowdown(self) -> float:
        return self.capped_time_s / self.time_s

    def power_w(self, scope: str) -> float:
        """Power per chip in `scope` (one of SCOPES)."""
        if scope not in SCOPES:
            raise SpecError(f"unknown power scope {scope!r}", hint=f"one of {', '.join(SCOPES)}")
        return float(getattr(self, f"{scope}_w"))

    def energy_j(self, scope: str) -> float:
        """Energy per chip over the (capped) time in `scope`."""
        return self.power_w(scope) * self.capped_time_s

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data |= {f"power_{scope}_w": self.power_w(scope) for scope in SCOPES}
        data["slowdown"] = self.slowdown
        return data


def node_wall_w(board_w: float, coefficients: PowerCoefficients | None = None) -> float:
    """A chip's share of its node at the wall for a board drawing `board_w`:
    (board + host_w_per_chip) / psu_efficiency (what tco prices)."""
    c = coefficients or default_coefficients()
    return (board_w + c.host_w_per_chip) / c.psu_efficiency


def typical_board_w(
    chip: Chip,
    utilization: float,
    *,
    assumptions: Assumptions | None = None,
    area: AreaBreakdown | None = None,
) -> float:
    """Board power at `utilization` (what TCO prices without a workload): idle plus that
    share of what a full-load stream (tigris.cost.power.full_load_activity) adds over
    idle, both by this model under the board's limit (the throttle rule)."""
    full = scoped_power(chip, full_load_activity(chip), assumptions=assumptions, area=area)
    return full.idle_w + utilization * (full.board_w - full.idle_w)


def board_limit_w(chip: Chip, power_cap_w: float | None = None) -> float | None:
    """The board's limit: its TDP, lowered by its YAML cap or a --power-cap (a cap above
    TDP changes nothing)."""
    if power_cap_w is not None and power_cap_w <= 0:
        raise SpecError(f"must be positive, got {power_cap_w:g}", key_path="--power-cap")
    limits = [w for w in (chip.tdp, chip.power_cap_w, power_cap_w) if w is not None]
    return min(limits) if limits else None


def apply_power_cap(
    chip: Chip, power_cap_w: float | None = None, coefficients: PowerCoefficients | None = None
) -> Chip:
    """`chip` with its cap (the lower of its YAML power_cap_w and `power_cap_w`) and the
    terms the cap rule needs (tigris.parallel.clock), so that the step model and the
    serving step timer run every op at the clock the cap allows. Unchanged when no cap
    is below TDP."""
    limit = board_limit_w(chip, power_cap_w)
    if limit is None or (chip.tdp is not None and limit >= chip.tdp):
        return chip
    c = coefficients or default_coefficients()
    assumptions = load_assumptions()
    tdp = chip.tdp if chip.tdp is not None else estimate_tdp(chip, assumptions)
    j_per_byte = c.memory_scale * dram_energy_per_byte_j(chip, assumptions)
    idle = c.static_fraction * tdp
    dense_memory = DENSE_DRAM_FRACTION * chip.dram_bandwidth_bytes_per_s * j_per_byte
    budget = max(0.0, c.dense_tdp_fraction * tdp - idle - dense_memory)
    s = chip.sustained_clock_fraction or 1.0
    ratio = throttle(idle, budget, dense_memory, 1.0, limit)[0]  # the stream at s, under limit
    terms = PowerCapTerms(limit_w=limit, idle_w=idle, dense_compute_w=budget / s**3,
                          dram_j_per_byte=j_per_byte, dense_clock_ratio=ratio,
                          dtype=peak_dtype(chip))  # fmt: skip
    return chip.model_copy(update={"power_cap_w": limit, "power_cap_terms": terms})


def scoped_power(
    chip: Chip,
    activity: Activity,
    coefficients: PowerCoefficients | None = None,
    *,
    power_cap_w: float | None = None,
    assumptions: Assumptions | None = None,
    area: AreaBreakdown | None = None,
) -> ScopedPower:
    """Power per chip of `chip` doing `activity`, in every scope, under its TDP and cap."""
    coefficients = coefficients or default_coefficients()
    assumptions = assumptions or load_assumptions()
    area = area or estimate_area(chip, assumptions)
    rates = reference_rates(chip, activity, assumptions, area)
    # a chip without a published TDP idles at the share of the model's own TDP
    tdp = chip.tdp if chip.tdp is not None else estimate_tdp(chip, assumptions, area)
    return power_from_rates(
        chip.id,
        tdp,
        rates,
        activity.time_s,
        coefficients,
        limit_w=board_limit_w(chip, power_cap_w),
        pue=assumptions.operations.pue,
    )


def power_from_rates(
    chip_id: str,
    tdp_w: float | None,
    rates: RefRates,
    time_s: float,
    coefficients: PowerCoefficients,
    *,
    limit_w: float | None,
    pue: float,
) -> ScopedPower:
    """`scoped_power` from reference rates (what the fitter evaluates row by row)."""
    c = coefficients
    tdp = tdp_w if tdp_w is not None else 0.0
    idle = c.static_fraction * tdp
    dense_budget = c.dense_tdp_fraction * tdp - idle - c.memory_scale * rates.dense_memory_w
    core = rates.compute_load * max(0.0, dense_budget)
    memory = c.memory_scale * rates.memory_w
    ratio, stretch = throttle(idle, core, memory + rates.link_w, rates.compute_bound, limit_w)
    board = idle + (core * ratio * ratio + memory + rates.link_w) / stretch
    wall = (board + c.host_w_per_chip) / c.psu_efficiency
    return ScopedPower(
        chip_id=chip_id,
        time_s=time_s,
        capped_time_s=time_s * stretch,
        clock_ratio=ratio,
        limit_w=limit_w,
        idle_w=idle,
        compute_w=core * ratio * ratio / stretch,
        memory_w=memory / stretch,
        network_w=rates.link_w / stretch,
        host_w=c.host_w_per_chip,
        conversion_w=wall - board - c.host_w_per_chip,
        facility_overhead_w=wall * (pue - 1.0),
    )
