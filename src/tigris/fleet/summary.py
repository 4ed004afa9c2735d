"""A plan as the JSON `tigris plan --json` prints: chips, nodes and racks per system, MW
at the wall, capex and opex a year, $/M output tokens per service, SLO attainment at the
daily peak (the re-check), deadlines, utilisation over the day, every candidate."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tigris.fleet.costs import HOURS_PER_YEAR

if TYPE_CHECKING:
    from tigris.fleet.plan import FleetPlan

HOURS = 24


def plan_dict(plan: FleetPlan) -> dict[str, object]:
    solution = plan.solution
    ops = plan.ops
    return {
        "constraints": {
            "power_budget_mw": ops.power_budget_mw, "pue": ops.pue,
            "electricity_usd_per_kwh": ops.electricity_usd_per_kwh,
            "lifetime_years": ops.lifetime_years,
        },
        "total": _totals(plan),
        "systems": [_system(plan, s) for s in range(len(plan.economics))],
        "services": [_service(plan, v) for v in range(len(plan.demand.services))],
        "runs": [_run(plan, r) for r in range(len(plan.demand.runs))],
        "utilisation": utilisation(plan),
        "solver": {
            "name": "HiGHS via scipy.optimize.milp", "rounds": plan.rounds,
            "derated_after_recheck": list(plan.derated),
            "peak_wall_mw": solution.peak_wall_w / 1e6,
        },
        "candidates": {
            "services": [c.to_dict() for c in plan.services],
            "runs": [c.to_dict() for c in plan.runs],
        },
        "elapsed_s": plan.elapsed_s,
    }  # fmt: skip


def _totals(plan: FleetPlan) -> dict[str, object]:
    solution, econ = plan.solution, plan.economics
    chips = sum(solution.chips)
    capex = sum(e.server_capex_usd_per_chip * n for e, n in zip(econ, solution.chips, strict=True))
    racks = [_racks(e.chips_per_rack, n) for e, n in zip(econ, solution.chips, strict=True)]
    return {
        "chips": chips,
        "racks": sum(r for r in racks if r is not None) if all(r is not None for r in racks)
        else None,
        "peak_wall_mw": solution.peak_wall_w / 1e6,
        "peak_facility_mw": solution.peak_wall_w * plan.ops.pue / 1e6,
        "power_budget_mw": plan.ops.power_budget_mw,
        "capex_usd": capex,
        "capex_usd_per_year": solution.capex_usd_year,
        "opex_energy_usd_per_year": solution.energy_usd_year,
        "tco_usd_per_year": solution.tco_usd_year,
        "all_slos_met_at_peak": all(check.met for check in plan.checks),
        "all_deadlines_met": all(_run(plan, r)["deadline_met"] for r in range(len(plan.demand.runs))),
    }  # fmt: skip


def _racks(per_rack: int | None, chips: int) -> int | None:
    return None if per_rack is None else math.ceil(chips / per_rack)


def _system(plan: FleetPlan, s: int) -> dict[str, object]:
    econ, solution, problem = plan.economics[s], plan.solution, plan.problem
    chips = solution.chips[s]
    serving = sum(
        problem.serve[v, t].chips * n for (v, t), n in solution.replicas.items() if t == s
    )
    return {
        "system": econ.system, "chip": econ.chip_id, "chips": chips,
        "serving_chips": serving, "training_chips": chips - serving,
        "nodes": math.ceil(chips / econ.chips_per_node),
        "racks": _racks(econ.chips_per_rack, chips), "max_chips": econ.max_chips,
        "price_usd_per_chip": econ.price_usd_per_chip, "price_source": econ.price_source,
        "capex_usd": chips * econ.server_capex_usd_per_chip,
        "capex_usd_per_year": chips * econ.capex_usd_per_chip_year,
        "peak_wall_mw": _system_power_w(plan, s) / 1e6,
    }  # fmt: skip


def _system_power_w(plan: FleetPlan, s: int) -> float:
    problem, solution = plan.problem, plan.solution
    watts = 0.0
    for (v, t), n in solution.replicas.items():
        if t == s:
            option = problem.serve[v, t]
            watts += n * option.chips * option.idle_w
            watts += solution.shares[v, t] * option.dynamic_w_per_rate
    for r, t in solution.assignment.items():
        if t == s:
            option = problem.train[r, t]
            watts += option.chips * option.wall_w
    return watts


def _service(plan: FleetPlan, v: int) -> dict[str, object]:
    service, problem, solution = plan.demand.services[v], plan.problem, plan.solution
    need = problem.services[v]
    chosen = {s: n for (w, s), n in solution.replicas.items() if w == v}
    checks = [c for c in plan.checks if c.service == service.name]
    candidates = plan.services[v * len(plan.economics) : (v + 1) * len(plan.economics)]
    out_tokens = candidates[next(iter(chosen))].output_tokens_per_request if chosen else 0.0
    tokens_year = need.peak_rate * need.mean_over_peak * out_tokens * 3600 * HOURS_PER_YEAR
    return {
        "service": service.name, "model": service.model, "peak_rate_per_s": need.peak_rate,
        "slo": {"ttft_p99_s": service.slo.ttft_p99_s, "tpot_p99_s": service.slo.tpot_p99_s},
        "deployment": [
            {"system": plan.economics[s].system, "replicas": n, "tp": problem.serve[v, s].chips,
             "chips": n * problem.serve[v, s].chips,
             "rate_per_replica_max": problem.serve[v, s].rate,
             "peak_share_per_s": solution.shares[v, s]}
            for s, n in sorted(chosen.items())
        ],
        "usd_per_year": _service_cost(plan, v),
        "usd_per_million_output_tokens": _service_cost(plan, v) / tokens_year * 1e6
        if tokens_year > 0 else None,
        "peak_check": [vars(c) for c in checks],
        "slo_met_at_peak": all(c.met for c in checks),
    }  # fmt: skip


def _service_cost(plan: FleetPlan, v: int) -> float:
    """Capex a year of the service's chips, their idle energy, and the dynamic energy of
    its load at the day's mean."""
    problem, solution = plan.problem, plan.solution
    total = 0.0
    for (w, s), n in solution.replicas.items():
        if w != v:
            continue
        option, system = problem.serve[w, s], problem.systems[s]
        total += n * option.chips * (system.capex_usd_per_chip_year
                                     + option.idle_w * system.usd_per_wall_w_year)  # fmt: skip
        total += (solution.shares[w, s] * option.dynamic_w_per_rate
                  * problem.services[v].mean_over_peak * system.usd_per_wall_w_year)  # fmt: skip
    return total


def _run(plan: FleetPlan, r: int) -> dict[str, object]:
    run = plan.demand.runs[r]
    s = plan.solution.assignment.get(r)
    if s is None:
        return {"run": run.name, "model": run.model, "system": None, "deadline_met": False}
    candidate = plan.runs[r * len(plan.economics) + s]
    check = next((c for c in plan.run_checks if c.run == run.name), None)
    days = check.days if check is not None else candidate.days  # the re-check's, when run
    return {
        "run": run.name, "model": run.model, "system": plan.economics[s].system,
        "chips": candidate.num_chips, "days": days, "candidate_days": candidate.days,
        "deadline_days": run.deadline_days, "deadline_met": days <= run.deadline_days,
        "rechecked": check is not None, "mfu": candidate.mfu, "plan": candidate.plan,
        "wall_mw": candidate.num_chips * candidate.wall_w_per_chip / 1e6,
    }  # fmt: skip


def utilisation(plan: FleetPlan) -> dict[str, object]:
    """Busy chips over owned chips, hour by hour: a replica's load at hour h is its
    share of the peak x the hour's multiplier over the profile's peak, over its rate;
    training chips are busy all day."""
    problem, solution = plan.problem, plan.solution
    busy = [[0.0] * HOURS for _ in plan.economics]
    for (v, s), share in solution.shares.items():
        profile = plan.demand.services[v].traffic.daily_profile
        option = problem.serve[v, s]
        for h in range(HOURS):
            load = share * profile[h] / max(profile) / option.rate
            busy[s][h] += load * option.chips
    for r, s in solution.assignment.items():
        for h in range(HOURS):
            busy[s][h] += problem.train[r, s].chips
    total = sum(solution.chips) or 1
    return {
        "hours": list(range(HOURS)),
        "overall": [sum(b[h] for b in busy) / total for h in range(HOURS)],
        "by_system": {
            e.system: [b / n for b in busy[s]]
            for s, (e, n) in enumerate(zip(plan.economics, solution.chips, strict=True)) if n
        },
    }  # fmt: skip
