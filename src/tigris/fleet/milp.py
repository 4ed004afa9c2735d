"""The fleet as a mixed-integer program, solved by HiGHS (scipy.optimize.milp).

Variables, for service v, system s, run r:

    x[v,s]  integer  replicas of v on s (each `chips` chips: the candidate's width)
    f[v,s]  >= 0     requests/s of v's daily peak sent to s
    y[r,s]  binary   run r trains on s (on the candidate's chip count)

Constraints:

    sum_s f[v,s] = peak[v]                    every service's peak is served
    f[v,s] <= rate[v,s] x[v,s]                no replica above its SLO-meeting rate
    sum_s y[r,s] = 1                          every run has a system
    chips on s <= max_chips[s]                availability
    wall power at the peak <= budget          (below)

Power: a replica draws its idle wall power, plus its load's share (f / x over the rate)
of the difference to its wall power at the SLO-meeting rate (linear in load); a run's
chips draw their training wall power all year (a run sizes a cluster that stays busy
with runs like it). Cost (a year): chips x capex per chip-year, plus energy: idle power
all year, a replica's dynamic power at the day's mean load (mean / peak of its profile),
training power all year, each watt at the wall x PUE x electricity price.

Everything here is numbers (no models), so tests build small problems directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from tigris.errors import InfeasibleError


@dataclass(frozen=True)
class SystemCost:
    name: str
    capex_usd_per_chip_year: float
    usd_per_wall_w_year: float
    max_chips: int | None = None


@dataclass(frozen=True)
class ServiceNeed:
    name: str
    peak_rate: float  # requests/s at the daily peak (growth included)
    mean_over_peak: float = 1.0  # the day's mean load over its peak


@dataclass(frozen=True)
class ServeOption:
    """One replica of a service on a system: its chips, SLO-meeting rate, wall power per
    chip at that rate and idle."""

    chips: int
    rate: float
    wall_w: float
    idle_w: float

    @property
    def dynamic_w_per_rate(self) -> float:
        """Wall watts of the whole replica per request/s of load above idle."""
        return max(0.0, self.wall_w - self.idle_w) * self.chips / self.rate


@dataclass(frozen=True)
class RunOption:
    chips: int
    wall_w: float


@dataclass(frozen=True)
class Problem:
    """`serve[(v, s)]` and `train[(r, s)]` hold the feasible options by index."""

    systems: tuple[SystemCost, ...]
    services: tuple[ServiceNeed, ...]
    runs: tuple[str, ...]
    serve: dict[tuple[int, int], ServeOption]
    train: dict[tuple[int, int], RunOption]
    power_budget_w: float


@dataclass(frozen=True)
class Solution:
    replicas: dict[tuple[int, int], int]
    shares: dict[tuple[int, int], float]  # requests/s at the peak
    assignment: dict[int, int]  # run -> system
    chips: tuple[int, ...]  # per system
    peak_wall_w: float
    capex_usd_year: float
    energy_usd_year: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def tco_usd_year(self) -> float:
        return self.capex_usd_year + self.energy_usd_year


@dataclass
class _Columns:
    """Variable layout: index of each x, f, y column."""

    x: dict[tuple[int, int], int] = field(default_factory=dict)
    f: dict[tuple[int, int], int] = field(default_factory=dict)
    y: dict[tuple[int, int], int] = field(default_factory=dict)
    count: int = 0

    def add(self, table: dict[tuple[int, int], int], key: tuple[int, int]) -> None:
        table[key] = self.count
        self.count += 1


def _columns(problem: Problem) -> _Columns:
    cols = _Columns()
    for key in sorted(problem.serve):
        cols.add(cols.x, key)
        cols.add(cols.f, key)
    for key in sorted(problem.train):
        cols.add(cols.y, key)
    return cols


def _objective(problem: Problem, cols: _Columns) -> tuple[np.ndarray, np.ndarray]:
    """(cost, wall power at the peak) per unit of each variable."""
    cost, power = np.zeros(cols.count), np.zeros(cols.count)
    for (v, s), option in problem.serve.items():
        system = problem.systems[s]
        idle = option.idle_w * option.chips
        cost[cols.x[v, s]] = option.chips * system.capex_usd_per_chip_year
        cost[cols.x[v, s]] += idle * system.usd_per_wall_w_year
        power[cols.x[v, s]] = idle
        dynamic = option.dynamic_w_per_rate
        mean = problem.services[v].mean_over_peak
        cost[cols.f[v, s]] = dynamic * mean * system.usd_per_wall_w_year
        power[cols.f[v, s]] = dynamic
    for (r, s), option in problem.train.items():
        system = problem.systems[s]
        watts = option.chips * option.wall_w
        cost[cols.y[r, s]] = option.chips * system.capex_usd_per_chip_year
        cost[cols.y[r, s]] += watts * system.usd_per_wall_w_year
        power[cols.y[r, s]] = watts
    return cost, power


def _rows(problem: Problem, cols: _Columns, power: np.ndarray) -> tuple[list, list, list, list]:
    """(rows, lower bounds, upper bounds, names) of every constraint."""
    rows, low, high, names = [], [], [], []

    def add(row: np.ndarray, lo: float, hi: float, name: str) -> None:
        rows.append(row), low.append(lo), high.append(hi), names.append(name)

    for v, need in enumerate(problem.services):
        row = np.zeros(cols.count)
        for (w, _s), j in cols.f.items():
            row[j] = 1.0 if w == v else 0.0
        add(row, need.peak_rate, need.peak_rate, f"demand:{v}")
    for (v, s), option in problem.serve.items():
        row = np.zeros(cols.count)
        row[cols.f[v, s]], row[cols.x[v, s]] = 1.0, -option.rate
        add(row, -np.inf, 0.0, f"capacity:{v}:{s}")
    for r in range(len(problem.runs)):
        row = np.zeros(cols.count)
        for (k, _s), j in cols.y.items():
            row[j] = 1.0 if k == r else 0.0
        add(row, 1.0, 1.0, f"run:{r}")
    for s, system in enumerate(problem.systems):
        if system.max_chips is not None:
            add(_chip_row(problem, cols, s), -np.inf, system.max_chips, f"availability:{s}")
    add(power, -np.inf, problem.power_budget_w, "power")
    return rows, low, high, names


def _chip_row(problem: Problem, cols: _Columns, s: int) -> np.ndarray:
    row = np.zeros(cols.count)
    for (v, t), option in problem.serve.items():
        if t == s:
            row[cols.x[v, t]] = option.chips
    for (r, t), option in problem.train.items():
        if t == s:
            row[cols.y[r, t]] = option.chips
    return row


def _bounds(problem: Problem, cols: _Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, integrality): replicas up to what covers the peak alone on s."""
    low, high = np.zeros(cols.count), np.full(cols.count, np.inf)
    integer = np.zeros(cols.count)
    for (v, s), option in problem.serve.items():
        high[cols.x[v, s]] = math.ceil(problem.services[v].peak_rate / option.rate)
        integer[cols.x[v, s]] = 1
    for j in cols.y.values():
        high[j], integer[j] = 1.0, 1
    return low, high, integer


def solve(problem: Problem) -> Solution:
    """The cheapest fleet; InfeasibleError saying what binds when there is none."""
    _check_coverage(problem)
    found = _solve(problem)
    if found is None:
        raise InfeasibleError(diagnose(problem))
    return found


def _solve(problem: Problem, minimise_power: bool = False) -> Solution | None:
    from scipy.optimize import Bounds, LinearConstraint, milp

    cols = _columns(problem)
    cost, power = _objective(problem, cols)
    rows, low, high, _ = _rows(problem, cols, power)
    lower, upper, integer = _bounds(problem, cols)
    result = milp(
        power if minimise_power else cost,
        integrality=integer,
        bounds=Bounds(lower, upper),
        constraints=LinearConstraint(np.array(rows), low, high),
        options={"disp": False, "mip_rel_gap": 1e-9},
    )
    if result.status != 0 or result.x is None:
        return None
    return _solution(problem, cols, result.x, cost, power)


def _solution(
    problem: Problem, cols: _Columns, values: np.ndarray, cost: np.ndarray, power: np.ndarray
) -> Solution:
    replicas = {key: round(values[j]) for key, j in cols.x.items() if round(values[j]) > 0}
    shares = {key: float(values[cols.f[key]]) for key in replicas}
    assignment = {r: s for (r, s), j in cols.y.items() if round(values[j]) == 1}
    chips = tuple(
        int(round(_chip_row(problem, cols, s) @ np.round(values)))
        for s in range(len(problem.systems))
    )
    capex = sum(problem.systems[s].capex_usd_per_chip_year * n for s, n in enumerate(chips))
    return Solution(
        replicas=replicas, shares=shares, assignment=assignment, chips=chips,
        peak_wall_w=float(power @ values), capex_usd_year=capex,
        energy_usd_year=float(cost @ values) - capex,
    )  # fmt: skip


def _check_coverage(problem: Problem) -> None:
    """A service or run no system can take makes any budget infeasible: said first."""
    for v, need in enumerate(problem.services):
        if not any(w == v for w, _ in problem.serve):
            raise InfeasibleError(f"service {need.name}: no system meets its SLOs")
    for r, name in enumerate(problem.runs):
        if not any(k == r for k, _ in problem.train):
            raise InfeasibleError(f"run {name}: no system meets its deadline")


def diagnose(problem: Problem) -> str:
    """Which constraint binds: the power budget, the availability, or both together."""
    free_power = replace(problem, power_budget_w=math.inf)
    unlimited = tuple(replace(s, max_chips=None) for s in problem.systems)
    budget_mw = problem.power_budget_w / 1e6
    least = _solve(free_power, minimise_power=True)
    if least is not None:
        return (
            f"the power budget binds: the fleet needs at least {least.peak_wall_w / 1e6:.3g} MW "
            f"at the wall, the budget is {budget_mw:.3g} MW"
        )
    free_chips = _solve(replace(problem, systems=unlimited), minimise_power=True)
    if free_chips is not None:
        over = [
            f"{problem.systems[s].name}: {n:,} chips > {problem.systems[s].max_chips:,}"
            for s, n in enumerate(free_chips.chips)
            if problem.systems[s].max_chips is not None and n > problem.systems[s].max_chips
        ]
        return "availability binds within the power budget (" + "; ".join(over) + ")"
    return (
        f"availability and the power budget bind together ({budget_mw:.3g} MW): "
        "no mix of the systems fits both"
    )
