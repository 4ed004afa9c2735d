"""The fleet program (tigris.fleet.milp) on small instances with fixed candidate figures:
HiGHS against brute force, and the directions a planner expects (property tests)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("scipy")

from tigris.errors import InfeasibleError  # noqa: E402
from tigris.fleet.milp import (  # noqa: E402
    Problem,
    RunOption,
    ServeOption,
    ServiceNeed,
    SystemCost,
    solve,
)

USD_PER_W_YEAR = 8766 * 1.1 * 0.08 / 1000


def small_problem(budget_w: float = 1e9, max_a: int | None = None) -> Problem:
    """2 systems (a: cheap, power-hungry; b: dear, efficient), 2 services, 1 run."""
    systems = (
        SystemCost("a", 5000.0, USD_PER_W_YEAR, max_a),
        SystemCost("b", 8000.0, USD_PER_W_YEAR, None),
    )
    services = (ServiceNeed("chat", 9.0, 0.7), ServiceNeed("code", 5.0, 0.5))
    serve = {
        (0, 0): ServeOption(chips=2, rate=2.5, wall_w=1100.0, idle_w=300.0),
        (0, 1): ServeOption(chips=1, rate=2.0, wall_w=900.0, idle_w=200.0),
        (1, 0): ServeOption(chips=1, rate=1.5, wall_w=1000.0, idle_w=300.0),
        (1, 1): ServeOption(chips=2, rate=4.0, wall_w=800.0, idle_w=200.0),
    }
    train = {(0, 0): RunOption(chips=8, wall_w=1200.0), (0, 1): RunOption(chips=4, wall_w=1000.0)}
    return Problem(systems, services, ("pretrain",), serve, train, budget_w)


def brute_force(problem: Problem) -> float:
    """The least TCO over every integer choice; the requests/s split of each choice by
    an LP (scipy.optimize.linprog), so only the integers are enumerated here."""
    from scipy.optimize import linprog

    keys = sorted(problem.serve)
    ranges = [range(math.ceil(problem.services[v].peak_rate / problem.serve[v, s].rate) + 1)
              for v, s in keys]  # fmt: skip
    runs = [[s for (r, s) in problem.train if r == k] for k in range(len(problem.runs))]
    best = math.inf
    for counts in itertools.product(*ranges):
        for placement in itertools.product(*runs):
            best = min(best, _cost_of(problem, keys, counts, placement, linprog))
    return best


def _cost_of(problem, keys, counts, placement, linprog) -> float:  # type: ignore[no-untyped-def]
    chips = [0] * len(problem.systems)
    fixed_cost, fixed_w = 0.0, 0.0
    for (v, s), n in zip(keys, counts, strict=True):
        option, system = problem.serve[v, s], problem.systems[s]
        chips[s] += n * option.chips
        fixed_cost += n * option.chips * (system.capex_usd_per_chip_year
                                          + option.idle_w * system.usd_per_wall_w_year)  # fmt: skip
        fixed_w += n * option.chips * option.idle_w
    for r, s in enumerate(placement):
        option, system = problem.train[r, s], problem.systems[s]
        chips[s] += option.chips
        fixed_cost += option.chips * (system.capex_usd_per_chip_year
                                      + option.wall_w * system.usd_per_wall_w_year)  # fmt: skip
        fixed_w += option.chips * option.wall_w
    for s, system in enumerate(problem.systems):
        if system.max_chips is not None and chips[s] > system.max_chips:
            return math.inf
    # the continuous split: f per key, sum per service = peak, f <= rate x, power
    cost = [problem.serve[k].dynamic_w_per_rate * problem.services[k[0]].mean_over_peak
            * problem.systems[k[1]].usd_per_wall_w_year for k in keys]  # fmt: skip
    equal = [[1.0 if k[0] == v else 0.0 for k in keys] for v in range(len(problem.services))]
    power = [[problem.serve[k].dynamic_w_per_rate for k in keys]]
    bounds = [(0, problem.serve[k].rate * n) for k, n in zip(keys, counts, strict=True)]
    result = linprog(cost, A_ub=power, b_ub=[problem.power_budget_w - fixed_w], A_eq=equal,
                     b_eq=[s.peak_rate for s in problem.services], bounds=bounds)  # fmt: skip
    return fixed_cost + result.fun if result.status == 0 else math.inf


@pytest.mark.parametrize(
    "variant",
    [{}, {"budget_w": 12_000.0}, {"max_a": 3}, {"budget_w": 12_500.0, "max_a": 4}],
    ids=["free", "power-bound", "availability-bound", "both"],
)
def test_the_milp_matches_brute_force(variant: dict) -> None:
    problem = small_problem(**variant)
    if variant:  # the constraint binds: the unconstrained fleet breaks it
        free = solve(small_problem())
        assert free.peak_wall_w > problem.power_budget_w or free.chips[0] > variant["max_a"]
    expected = brute_force(problem)
    assert expected < math.inf
    found = solve(problem)
    assert found.tco_usd_year == pytest.approx(expected, rel=1e-7)
    assert found.peak_wall_w <= problem.power_budget_w * (1 + 1e-9)


def test_an_infeasible_fleet_names_what_binds() -> None:
    with pytest.raises(InfeasibleError, match="power budget binds"):
        solve(small_problem(budget_w=1000.0))
    tight = small_problem(max_a=0)
    tight = replace(tight, systems=(tight.systems[0], replace(tight.systems[1], max_chips=3)))
    with pytest.raises(InfeasibleError, match="availability binds"):
        solve(tight)
    no_system = replace(small_problem(), serve={k: v for k, v in small_problem().serve.items()
                                                if k[0] != 1})  # fmt: skip
    with pytest.raises(InfeasibleError, match="service code: no system meets its SLOs"):
        solve(no_system)


# ------------------------------------------------------------------ property tests

rates = st.sampled_from([1.0, 2.0, 4.0])
watts = st.floats(100.0, 1500.0)


@st.composite
def instances(draw) -> Problem:  # type: ignore[no-untyped-def]
    """A service or two on two systems, one replica = one chip, rates dividing the
    peak (so capacity comes in exact units and no rounding hides the direction); a
    run; system 0 is less efficient than system 1 (more idle and more busy watts per
    request/s), its capex per chip drawn either side of system 1's."""
    services = tuple(ServiceNeed(f"s{v}", 4.0 * draw(st.integers(1, 4)), draw(st.floats(0.3, 1.0)))
                     for v in range(draw(st.integers(1, 2))))  # fmt: skip
    serve = {}
    for v in range(len(services)):
        rate_b, idle_b, busy_b = draw(rates), draw(watts), draw(watts)
        rate_a = draw(rates)
        factor = draw(st.floats(1.1, 3.0))
        serve[v, 1] = ServeOption(1, rate_b, idle_b + busy_b, idle_b)
        serve[v, 0] = ServeOption(1, rate_a, (idle_b + busy_b) * factor * rate_a / rate_b,
                                  idle_b * factor * rate_a / rate_b)  # fmt: skip
    run_w = draw(watts)
    train = {(0, 0): RunOption(4, run_w * 1.5), (0, 1): RunOption(4, run_w)}
    systems = (SystemCost("a", draw(st.floats(1000, 20000)), USD_PER_W_YEAR),
               SystemCost("b", draw(st.floats(1000, 20000)), USD_PER_W_YEAR))  # fmt: skip
    return Problem(systems, services, ("run",), serve, train, 1e12)


def _share_of_a(problem: Problem) -> float:
    found = solve(problem)
    return found.chips[0] / sum(found.chips)


@settings(max_examples=40, deadline=None)
@given(instances(), st.floats(0.05, 0.9))
def test_raising_the_power_budget_never_raises_tco(problem: Problem, fraction: float) -> None:
    need = solve(problem).peak_wall_w
    tight = replace(problem, power_budget_w=need * (1 + fraction))
    loose = replace(problem, power_budget_w=need * (2 + fraction))
    assert solve(loose).tco_usd_year <= solve(tight).tco_usd_year * (1 + 1e-7)


@settings(max_examples=40, deadline=None)
@given(instances(), st.floats(1.5, 20.0))
def test_dearer_electricity_never_raises_the_less_efficient_chips_share(
    problem: Problem, factor: float
) -> None:
    dear = replace(problem, systems=tuple(replace(s, usd_per_wall_w_year=s.usd_per_wall_w_year
                                                  * factor) for s in problem.systems))  # fmt: skip
    assert _share_of_a(dear) <= _share_of_a(problem) + 1e-9


@settings(max_examples=40, deadline=None)
@given(instances(), st.sampled_from([0, 1]), st.floats(1.1, 5.0))
def test_a_dearer_chip_is_never_bought_more(problem: Problem, which: int, factor: float) -> None:
    systems = list(problem.systems)
    systems[which] = replace(systems[which],
                             capex_usd_per_chip_year=systems[which].capex_usd_per_chip_year * factor)  # fmt: skip
    dearer = replace(problem, systems=tuple(systems))
    assert solve(dearer).chips[which] <= solve(problem).chips[which]


def test_the_solution_serves_every_peak_within_each_replicas_rate() -> None:
    problem = small_problem(budget_w=12_500.0, max_a=4)
    found = solve(problem)
    for v, need in enumerate(problem.services):
        served = sum(share for (w, _), share in found.shares.items() if w == v)
        assert served == pytest.approx(need.peak_rate)
    for key, share in found.shares.items():
        assert share <= problem.serve[key].rate * found.replicas[key] * (1 + 1e-9)
    assert np.isclose(found.tco_usd_year, found.capex_usd_year + found.energy_usd_year)
