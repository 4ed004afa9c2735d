"""`plan_fleet`: the demand file -> candidates (tigris.fleet.candidates) -> the
mixed-integer program (tigris.fleet.milp) -> the chosen fleet, re-checked.

The re-check: every (service, system) the program chose is simulated again at the
daily peak, each replica at its share of the peak (`tigris.api.serve` at that rate).
A replica that misses an SLO there has its rate lowered below the rate it missed at
(by the ratio of the SLO to the latency it saw, at least by DERATE) and the program is
solved again (at most MAX_ROUNDS solutions are checked); the SLO attainment
reported is always that of the fleet reported, so it never says met when the
simulator says otherwise. Deadlines likewise: every chosen (run, system) is trained
again with its candidate's plan (`tigris.api.train`, goodput: failures, checkpoints
and restarts) and its days compared with the deadline; a run late there loses that
option and the program is solved again; the days and "met" reported are the re-check's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tigris.fleet.candidates import (
    RunCandidate,
    RunTask,
    ServiceCandidate,
    ServiceTask,
    evaluate,
    run_days,
    service_lengths,
    simulate_at,
    train_at,
)
from tigris.fleet.costs import Economics, Operations, economics, operations
from tigris.fleet.demand import Demand
from tigris.fleet.milp import Problem, RunOption, ServeOption, ServiceNeed, Solution, SystemCost
from tigris.fleet.milp import solve as solve_program

MAX_ROUNDS = 4
DERATE = 0.9  # a rate missed at the peak is retried at this share of it
Progress = Callable[[int, int], None] | None
Candidates = dict[str, ServiceCandidate | RunCandidate]


@dataclass(frozen=True)
class PeakCheck:
    """One (service, system) of the fleet simulated at its share of the peak."""

    service: str
    system: str
    rate_per_replica: float
    ttft_p99_s: float
    tpot_p99_s: float
    slo_attainment: float
    met: bool


@dataclass(frozen=True)
class RunCheck:
    """One chosen (run, system) trained again with its candidate's plan."""

    run: str
    system: str
    num_chips: int
    days: float
    deadline_days: float

    @property
    def met(self) -> bool:
        return self.days <= self.deadline_days


@dataclass(frozen=True)
class FleetPlan:
    """The chosen fleet and everything it was chosen from."""

    demand: Demand
    ops: Operations
    economics: tuple[Economics, ...]
    services: tuple[ServiceCandidate, ...]  # by service, then system
    runs: tuple[RunCandidate, ...]  # by run, then system
    problem: Problem
    solution: Solution
    checks: tuple[PeakCheck, ...]
    rounds: int
    elapsed_s: float
    derated: tuple[str, ...] = field(default_factory=tuple)
    run_checks: tuple[RunCheck, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        from tigris.fleet.summary import plan_dict

        return plan_dict(self)


def candidate_key(task: ServiceTask | RunTask) -> str:
    """A task's identity by value (what a what-if, or a design sweep's next design,
    reuses): the price is left out, since no candidate depends on it."""
    system = task.system.model_dump_json(exclude={"price_usd_per_chip"})
    if isinstance(task, ServiceTask):
        return "serve|" + task.service.model_dump_json() + system + \
            task.settings.model_dump_json()  # fmt: skip
    return "train|" + task.run.model_dump_json() + system


def tasks_of(demand: Demand) -> list[ServiceTask | RunTask]:
    tasks: list[ServiceTask | RunTask] = [
        ServiceTask(service, system, demand.settings)
        for service in demand.services
        for system in demand.supply
    ]
    tasks += [RunTask(run, system) for run in demand.runs for system in demand.supply]
    return tasks


def evaluate_candidates(
    demand: Demand, *, workers: int = 1, ray: bool = False, progress: Progress = None,
    known: Candidates | None = None,
) -> Candidates:  # fmt: skip
    """Every task's candidate by key; those in `known` are not evaluated again."""
    from tigris.fleet.execute import map_tasks

    known = dict(known or {})
    todo = [task for task in tasks_of(demand) if candidate_key(task) not in known]
    found = map_tasks(evaluate, todo, workers=workers, ray=ray, progress=progress)
    known.update({candidate_key(task): result for task, result in zip(todo, found, strict=True)})
    return known


def plan_fleet(
    demand: Demand, *, workers: int = 1, ray: bool = False, progress: Progress = None,
    known: Candidates | None = None,
) -> tuple[FleetPlan, Candidates]:  # fmt: skip
    """The cheapest fleet meeting the demand, re-checked at the peak; and the candidates
    (to reuse in a what-if). InfeasibleError (exit 3) naming what binds."""
    started = time.perf_counter()
    ops = operations(demand.constraints)
    econ = tuple(economics(system, ops) for system in demand.supply)
    candidates = evaluate_candidates(demand, workers=workers, ray=ray, progress=progress,
                                     known=known)  # fmt: skip
    tasks = tasks_of(demand)
    services = tuple(
        c for t in tasks if isinstance((c := candidates[candidate_key(t)]), ServiceCandidate)
    )
    runs = tuple(c for t in tasks if isinstance((c := candidates[candidate_key(t)]), RunCandidate))
    problem = build_problem(demand, ops, econ, services, runs)
    solution, checks, rounds, derated, run_checks = _solve_and_check(
        demand, problem, runs, workers, ray
    )
    plan = FleetPlan(demand, ops, econ, services, runs, problem, solution, checks, rounds,
                     time.perf_counter() - started, derated, run_checks)  # fmt: skip
    return plan, candidates


def peak_and_mean(demand: Demand, index: int) -> tuple[float, float]:
    """(requests/s at the daily peak with growth, the day's mean over its peak)."""
    service = demand.services[index]
    profile = service.traffic.daily_profile
    _, _, rate = service_lengths(service)
    peak = rate * max(profile) * (1.0 + service.growth)
    return peak, sum(profile) / len(profile) / max(profile)


def build_problem(
    demand: Demand,
    ops: Operations,
    econ: tuple[Economics, ...],
    services: tuple[ServiceCandidate, ...],
    runs: tuple[RunCandidate, ...],
) -> Problem:
    """The program's numbers from the candidates (infeasible candidates left out)."""
    count = len(demand.supply)
    systems = tuple(
        SystemCost(e.system, e.capex_usd_per_chip_year, e.usd_per_wall_w_year, e.max_chips)
        for e in econ
    )
    needs = tuple(
        ServiceNeed(s.name, *peak_and_mean(demand, v)) for v, s in enumerate(demand.services)
    )
    serve = {
        (i // count, i % count): ServeOption(c.chips_per_replica, c.rate_per_replica,
                                             c.wall_w_per_chip, c.idle_wall_w_per_chip)
        for i, c in enumerate(services) if c.feasible
    }  # fmt: skip
    train = {
        (i // count, i % count): RunOption(c.num_chips, c.wall_w_per_chip)
        for i, c in enumerate(runs) if c.feasible
    }  # fmt: skip
    return Problem(systems, needs, tuple(r.name for r in demand.runs), serve, train,
                   ops.power_budget_mw * 1e6)  # fmt: skip


def _solve_and_check(
    demand: Demand,
    problem: Problem,
    runs: tuple[RunCandidate, ...],
    workers: int,
    ray: bool,
) -> tuple[Solution, tuple[PeakCheck, ...], int, tuple[str, ...], tuple[RunCheck, ...]]:
    """Solve, re-check at the peak and the deadlines, lower the rates that missed and
    drop the run options that were late, until all are met or MAX_ROUNDS solutions were
    checked."""
    derated: list[str] = []
    for rounds in range(1, MAX_ROUNDS + 1):
        solution = solve_program(problem)
        checks = recheck(demand, problem, solution, workers=workers, ray=ray)
        late = recheck_runs(demand, runs, solution, workers=workers, ray=ray)
        missed = [(key, check) for key, check in checks.items() if not check.met]
        overdue = [key for key, check in late.items() if not check.met]
        if (not missed and not overdue) or rounds == MAX_ROUNDS:
            return solution, tuple(checks.values()), rounds, tuple(derated), tuple(late.values())
        serve = dict(problem.serve)
        for key, check in missed:
            serve[key] = replace(serve[key], rate=derated_rate(check, demand))
            derated.append(f"{check.service} on {check.system}: {check.rate_per_replica:.4g} "
                           f"-> {serve[key].rate:.4g} req/s per replica")  # fmt: skip
        train = {key: option for key, option in problem.train.items() if key not in overdue}
        derated += [f"{late[key].run} on {late[key].system}: late at the re-check "
                    f"({late[key].days:.1f} days)" for key in overdue]  # fmt: skip
        problem = replace(problem, serve=serve, train=train)
    raise AssertionError("unreachable")  # pragma: no cover


def recheck_runs(
    demand: Demand, runs: tuple[RunCandidate, ...], solution: Solution, *, workers: int = 1,
    ray: bool = False,
) -> dict[tuple[int, int], RunCheck]:  # fmt: skip
    """Each chosen (run, system) trained again on its chips with its candidate's plan."""
    from tigris.fleet.execute import map_tasks

    count = len(demand.supply)
    keys = sorted(solution.assignment.items())
    jobs = [(RunTask(demand.runs[r], demand.supply[s]), runs[r * count + s]) for r, s in keys]
    found = map_tasks(check_deadline, jobs, workers=workers, ray=ray)
    return dict(zip(keys, found, strict=True))


def check_deadline(job: tuple[RunTask, RunCandidate]) -> RunCheck:
    """The run's expected days (goodput) on the candidate's chips and plan."""
    task, candidate = job
    days = run_days(train_at(task, candidate.num_chips, candidate.plan))
    return RunCheck(task.run.name, task.system.label, candidate.num_chips, days,
                    task.run.deadline_days)  # fmt: skip


def derated_rate(check: PeakCheck, demand: Demand) -> float:
    """The rate to try after a miss at `check.rate_per_replica`: lowered by the worse of
    the two latencies' SLO / measured ratios, and by DERATE at least."""
    slo = next(s.slo for s in demand.services if s.name == check.service)
    ratio = min(slo.ttft_p99_s / check.ttft_p99_s, slo.tpot_p99_s / check.tpot_p99_s)
    return check.rate_per_replica * min(DERATE, ratio)


def recheck(
    demand: Demand, problem: Problem, solution: Solution, *, workers: int = 1, ray: bool = False
) -> dict[tuple[int, int], PeakCheck]:
    """Each chosen (service, system) simulated at its replicas' share of the peak."""
    from tigris.fleet.execute import map_tasks

    keys = sorted(solution.replicas)
    jobs = [
        (ServiceTask(demand.services[v], demand.supply[s], demand.settings),
         problem.serve[v, s].chips, solution.shares[v, s] / solution.replicas[v, s])
        for v, s in keys
    ]  # fmt: skip
    found = map_tasks(check_at_peak, jobs, workers=workers, ray=ray)
    return dict(zip(keys, found, strict=True))


def check_at_peak(job: tuple[ServiceTask, int, float]) -> PeakCheck:
    """One replica of `tp` chips at `rate` requests/s: are both p99 SLOs met?"""
    task, tp, rate = job
    figures = simulate_at(task, tp, rate) if rate > 0 else None
    slo = task.service.slo
    if figures is None:  # a replica given no traffic meets its SLO trivially
        return PeakCheck(task.service.name, task.system.label, 0.0, 0.0, 0.0, 1.0, True)
    ttft, tpot = float(figures["ttft_p99_s"]), float(figures["tpot_p99_s"])  # type: ignore[arg-type]
    return PeakCheck(
        task.service.name, task.system.label, rate, ttft, tpot,
        float(figures["slo_attainment"]),  # type: ignore[arg-type]
        ttft <= slo.ttft_p99_s and tpot <= slo.tpot_p99_s,
    )  # fmt: skip
