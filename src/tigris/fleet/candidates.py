"""Candidate deployments: what each service and each training run needs on each system
of the supply menu, from the serving and training models (tigris.api).

- A service on a system (`evaluate_service`): for each tensor-parallel width tried, one
  replica of `tp` chips is simulated in the server scenario (Poisson arrivals, the
  service's mean lengths) and the highest request rate meeting both p99 SLOs is found
  (`tigris.api.serve`); the width with the most requests/s per chip is kept, with its
  wall power per chip at that rate.
- A run on a system (`evaluate_run`): the fewest chips (a node multiple on the grid
  node x 2^k and node x 3 x 2^(k-1)) whose best parallel plan (`tigris.api.train`) trains
  the run's tokens by its deadline, failures and checkpoint restarts included (its
  goodput model's expected wall time), with its wall power per chip.

Each is one function of one task, so that the lead can wire in goodput (failures,
checkpoints: `run_days`, now wired) and trace replay (`service_lengths`) at one place. They
are pure (a task in, a candidate out) and run in any process (tigris.fleet.execute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tigris.errors import InfeasibleError, UnsupportedError
from tigris.fleet.demand import Service, Settings, SupplySystem, TrainingRun

SECONDS_PER_DAY = 86_400.0
# Default tokens per training step: Llama 3 405B's final batch of 16M tokens (Llama 3
# paper, arXiv:2407.21783, section 3.4.1: 4M, then 8M, then 16M tokens per step).
DEFAULT_BATCH_TOKENS = 16 * 2**20
# Sustained share of peak bf16 flop/s used only for the first guess of a run's size
# (Llama 3 405B: 38-43 % MFU on 8-16k H100s, same paper, Table 4).
FIRST_GUESS_MFU = 0.4
MAX_RUN_STEPS = 8  # plan searches per (run, system) at most


@dataclass(frozen=True)
class ServiceTask:
    service: Service
    system: SupplySystem
    settings: Settings


@dataclass(frozen=True)
class RunTask:
    run: TrainingRun
    system: SupplySystem


@dataclass(frozen=True)
class ServiceCandidate:
    """One replica of `chips_per_replica` chips sustaining `rate_per_replica` requests/s
    within the SLOs (0 and a reason when no width does)."""

    service: str
    system: str
    chips_per_replica: int = 0
    rate_per_replica: float = 0.0
    wall_w_per_chip: float = 0.0
    idle_wall_w_per_chip: float = 0.0
    output_tokens_per_request: float = 0.0
    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None
    reason: str | None = None
    tried: dict[int, str] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.rate_per_replica > 0 and self.chips_per_replica > 0

    def to_dict(self) -> dict[str, object]:
        return {
            "service": self.service, "system": self.system, "feasible": self.feasible,
            "tp": self.chips_per_replica, "rate_per_replica": self.rate_per_replica,
            "requests_per_s_per_chip": self.rate_per_replica / max(1, self.chips_per_replica),
            "wall_w_per_chip": self.wall_w_per_chip,
            "idle_wall_w_per_chip": self.idle_wall_w_per_chip,
            "ttft_p99_s": self.ttft_p99_s, "tpot_p99_s": self.tpot_p99_s,
            "reason": self.reason, "tried": {str(k): v for k, v in self.tried.items()},
        }  # fmt: skip


@dataclass(frozen=True)
class RunCandidate:
    """A run on `num_chips` chips of a system, done in `days` (0 chips and a reason when
    no size up to the system's availability meets the deadline)."""

    run: str
    system: str
    num_chips: int = 0
    days: float = math.inf
    wall_w_per_chip: float = 0.0
    mfu: float | None = None
    plan: dict[str, object] | None = None
    reason: str | None = None
    tried: dict[int, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.num_chips > 0

    def to_dict(self) -> dict[str, object]:
        return {
            "run": self.run, "system": self.system, "feasible": self.feasible,
            "num_chips": self.num_chips, "days": self.days if self.feasible else None,
            "wall_w_per_chip": self.wall_w_per_chip, "mfu": self.mfu, "plan": self.plan,
            "reason": self.reason, "days_by_chips": {str(k): v for k, v in self.tried.items()},
        }  # fmt: skip


def evaluate(task: ServiceTask | RunTask) -> ServiceCandidate | RunCandidate:
    """The candidate of one task (what the pool and Ray workers run)."""
    if isinstance(task, ServiceTask):
        return evaluate_service(task)
    return evaluate_run(task)


# ------------------------------------------------------------------------- serving


def service_lengths(service: Service) -> tuple[int, int, float]:
    """(mean input tokens, mean output tokens, requests/s at multiplier 1): as given,
    else the trace's means and mean rate (tigris.fleet.traffic)."""
    if service.traffic.trace is None:
        return service.input_len, service.output_len, service.traffic.rate  # type: ignore[return-value]
    from tigris.fleet.traffic import read_service_trace, trace_mean_rate

    trace = read_service_trace(service)
    mean_in = max(1, round(float(trace.input_len.mean())))
    mean_out = max(1, round(float(trace.output_len.mean())))
    return mean_in, mean_out, service.traffic.rate or trace_mean_rate(service)


def serve_at(task: ServiceTask, tp: int) -> dict[str, object]:
    """One replica of `tp` chips in the server scenario (`tigris.api.serve`): the highest
    rate meeting the SLOs, its latencies and wall power; a trace's requests replayed at
    each rate tried when the service has one."""
    import tigris.api as t

    service, settings = task.service, task.settings
    if service.traffic.trace is not None:
        return serve_trace_at(task, tp)
    input_len, output_len, _ = service_lengths(service)
    result = t.serve(
        service.model, chip=task.system.chip, num_chips=tp, tp=tp, scenario="server",
        num_requests=settings.num_requests, input_len=input_len, output_len=output_len,
        length_dist=settings.length_dist, compute_dtype=service.dtype,
        slo_ttft_s=service.slo.ttft_p99_s, slo_tpot_s=service.slo.tpot_p99_s,
        seed=settings.seed, max_time="1 h",
    )  # fmt: skip
    return result.to_dict()


def serve_trace_at(task: ServiceTask, tp: int) -> dict[str, object]:
    """`serve_at` for a trace: the serving simulator's rate search (run_server) over the
    trace window replayed at each rate (tigris.fleet.traffic), with its wall power."""
    from tigris.cost.power_report import serving_power
    from tigris.fleet.traffic import replay, trace_window
    from tigris.serving.deployment import build_deployment
    from tigris.serving.scenario import run_server

    service, settings = task.service, task.settings
    deployment = build_deployment(service.model, task.system.chip, num_chips=tp, tp=tp,
                                  compute_dtype=service.dtype)  # fmt: skip
    metrics = run_server(deployment, trace_window(service, settings),
                         slo_ttft_s=service.slo.ttft_p99_s, slo_tpot_s=service.slo.tpot_p99_s,
                         seed=settings.seed, arrivals=replay)  # fmt: skip
    return metrics | serving_power(deployment, metrics)


def simulate_at(task: ServiceTask, tp: int, rate_per_s: float) -> dict[str, object]:
    """One replica of `tp` chips at `rate_per_s` (the same requests and seed as the
    search in `serve_at`, one simulation rather than a search: the re-check); a trace's
    window replayed at that rate when the service has one."""
    from tigris.serving.deployment import build_deployment
    from tigris.serving.metrics import summarize
    from tigris.serving.simulator import simulate

    service = task.service
    deployment = build_deployment(service.model, task.system.chip, num_chips=tp, tp=tp,
                                  compute_dtype=service.dtype)  # fmt: skip
    arrivals = _arrivals_at(task, rate_per_s)
    return summarize(simulate(deployment, arrivals), service.slo.ttft_p99_s,
                     service.slo.tpot_p99_s)  # fmt: skip


def _arrivals_at(task: ServiceTask, rate_per_s: float):  # type: ignore[no-untyped-def]
    """The re-check's requests: the trace window replayed at the rate, or the search's
    drawn requests (same seed) arriving as a Poisson process at it."""
    from tigris.serving.requests import synthetic_workload, with_poisson_arrivals

    service, settings = task.service, task.settings
    if service.traffic.trace is not None:
        from tigris.fleet.traffic import replay, trace_window

        return replay(trace_window(service, settings), rate_per_s)
    input_len, output_len, _ = service_lengths(service)
    requests = synthetic_workload(settings.num_requests, input_len, output_len, rate_per_s=None,
                                  seed=settings.seed, length_dist=settings.length_dist)  # fmt: skip
    return with_poisson_arrivals(requests, rate_per_s, settings.seed)


def evaluate_service(task: ServiceTask) -> ServiceCandidate:
    """The width (tp, one replica) with the most SLO-meeting requests/s per chip."""
    name, system = task.service.name, task.system.label
    tried: dict[int, str] = {}
    best: tuple[float, int, dict[str, object]] | None = None
    for tp in _widths(task):
        try:
            figures = serve_at(task, tp)
        except (InfeasibleError, UnsupportedError) as error:
            tried[tp] = str(error).splitlines()[0]
            continue
        rate = float(figures["max_rate_meeting_slo"])  # type: ignore[arg-type]
        tried[tp] = f"{rate:.4g} req/s" if rate > 0 else "misses the SLO at any rate"
        if rate > 0 and (best is None or rate / tp > best[0]):
            best = (rate / tp, tp, figures)
    if best is None:
        reason = "; ".join(f"tp={tp}: {why}" for tp, why in tried.items()) or "no width tried"
        return ServiceCandidate(name, system, reason=reason, tried=tried)
    _, tp, figures = best
    return ServiceCandidate(
        name, system, chips_per_replica=tp,
        rate_per_replica=float(figures["max_rate_meeting_slo"]),  # type: ignore[arg-type]
        wall_w_per_chip=float(figures["power_node_wall_w"]),  # type: ignore[arg-type]
        idle_wall_w_per_chip=idle_wall_w(task.system),
        output_tokens_per_request=float(service_lengths(task.service)[1]),
        ttft_p99_s=figures["ttft_p99_s"], tpot_p99_s=figures["tpot_p99_s"],  # type: ignore[arg-type]
        tried=tried,
    )  # fmt: skip


def _widths(task: ServiceTask) -> list[int]:
    """The widths tried: those of the settings within the system's scale-up domain."""
    from tigris.api.inputs import resolve_chip, resolve_system

    chip = resolve_chip(task.system.chip)
    domain = resolve_system(task.system.system, chip).scale_up_chips
    return [tp for tp in task.settings.tp if tp <= domain] or [1]


def idle_wall_w(system: SupplySystem) -> float:
    """Wall power of one chip's share of its node doing nothing (idle board and host)."""
    from tigris.api.inputs import resolve_chip
    from tigris.cost.power import Activity
    from tigris.cost.power_scope import scoped_power

    power = scoped_power(resolve_chip(system.chip), Activity(time_s=1.0))
    return power.node_wall_w


# ------------------------------------------------------------------------- training


def run_days(figures: dict[str, object]) -> float:
    """Days to train, from `tigris train --goodput`'s figures: the expected wall time
    with failures, checkpoints and restarts (tigris.parallel.goodput), else the
    failure-free time."""
    goodput = figures.get("goodput")
    if isinstance(goodput, dict) and goodput.get("wall_time_s") is not None:
        return float(goodput["wall_time_s"]) / SECONDS_PER_DAY
    return float(figures["time_to_train_s"]) / SECONDS_PER_DAY  # type: ignore[arg-type]


PLAN_FIELDS = ("tp", "pp", "dp", "cp", "ep", "micro_batch", "virtual_stages", "recompute",
               "zero", "sequence_parallel", "pp_layers")  # fmt: skip


def train_at(
    task: RunTask, num_chips: int, plan: dict[str, object] | None = None
) -> dict[str, object]:
    """The best plan's figures for the run on `num_chips` chips of the system; with
    `plan` (a candidate's), that plan's alone (the deadline re-check)."""
    import tigris.api as t

    run = task.run
    batch = run.global_batch or max(1, DEFAULT_BATCH_TOKENS // run.seq_len)
    fixed = {key: plan[key] for key in PLAN_FIELDS if plan and plan.get(key) is not None}
    if "pp_layers" in fixed:
        fixed["pp_layers"] = tuple(fixed["pp_layers"])  # type: ignore[arg-type]
    result = t.train(
        run.model, chip=task.system.chip, system=task.system.system, num_chips=num_chips,
        global_batch=batch, seq_len=run.seq_len, tokens=run.tokens, dtype=run.dtype, top=1,
        goodput=True, **fixed,  # type: ignore[arg-type]
    )  # fmt: skip
    return result.to_dict()


def evaluate_run(task: RunTask) -> RunCandidate:
    """The fewest chips on the size grid that meet the deadline: a first guess from the
    model's flop, then steps along the grid (up while late, down while on time)."""
    run, system = task.run, task.system.label
    grid = size_grid(task)
    tried: dict[int, float] = {}
    found: dict[int, dict[str, object]] = {}
    index = _first_guess(task, grid)
    for _ in range(MAX_RUN_STEPS):
        size = grid[index]
        if size not in tried:
            try:
                found[size] = train_at(task, size)
                tried[size] = run_days(found[size])
            except InfeasibleError:
                tried[size] = math.inf
        index = _next_index(tried, grid, index, run.deadline_days)
        if index is None:
            break
    meeting = sorted(n for n, days in tried.items() if days <= run.deadline_days)
    if not meeting:
        fastest = min(tried.values())
        why = f"{fastest:.0f} days" if fastest < math.inf else "no plan fits"
        return RunCandidate(run.name, system, reason=f"late: {why} on {max(tried):,} chips "
                            f"(deadline {run.deadline_days:g} days)", tried=tried)  # fmt: skip
    size = meeting[0]
    figures = found[size]
    return RunCandidate(
        run.name, system, num_chips=size, days=tried[size],
        wall_w_per_chip=float(figures["power_node_wall_w"]),  # type: ignore[arg-type]
        mfu=figures.get("mfu"), plan=figures.get("plan"), tried=tried,  # type: ignore[arg-type]
    )  # fmt: skip


def size_grid(task: RunTask) -> list[int]:
    """Chip counts tried: node x 2^k and node x 3 x 2^(k-1), up to the availability
    (at most 2^20 chips without one)."""
    from tigris.api.inputs import resolve_chip, resolve_system

    chip = resolve_chip(task.system.chip)
    node = resolve_system(task.system.system, chip).node.chips_per_node
    limit = task.system.max_chips or 2**20
    sizes = {node * 2**k for k in range(31)} | {node * 3 * 2**k for k in range(30)}
    grid = sorted(n for n in sizes if n <= limit)
    return grid or [min(limit, node)]


def _first_guess(task: RunTask, grid: list[int]) -> int:
    """The grid index nearest the chips that 6 x active parameters x tokens flop at
    FIRST_GUESS_MFU of the chip's peak would need by the deadline."""
    from tigris.api.inputs import resolve_chip, resolve_model

    spec = resolve_model(task.run.model)
    peak = resolve_chip(task.system.chip).peak_flop_per_s(task.run.dtype)
    flop = 6.0 * spec.num_active_params * task.run.tokens
    chips = flop / (task.run.deadline_days * SECONDS_PER_DAY * peak * FIRST_GUESS_MFU)
    above = [i for i, n in enumerate(grid) if n >= chips]
    return above[0] if above else len(grid) - 1


def _next_index(
    tried: dict[int, float], grid: list[int], index: int, deadline: float
) -> int | None:
    """One grid step down after a size on time, up after a late one; None when that
    size is known (the boundary lies between the two) or off the grid."""
    nxt = index - 1 if tried[grid[index]] <= deadline else index + 1
    if not 0 <= nxt < len(grid) or grid[nxt] in tried:
        return None
    return nxt
