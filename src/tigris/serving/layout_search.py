"""Layout search for disaggregated serving under an SLO (issue 18, item 5).

Given a model, a workload (its arrivals fixed: a trace or a Poisson stream) and at most
`max_chips` of a prefill chip and of a decode chip, every layout is enumerated: for each
pool, tp in the powers of two up to the chip's scale-up domain (and the pool's limit) and
the replica count; each layout is simulated and checked against p99 TTFT and p99 TPOT.
The cheapest layout meeting both is chosen (cost: chips x $ per chip-hour from the cost
assumptions, tigris.cost.tco on their price basis); the Pareto front is the set of
layouts no other layout beats on cost, p99 TTFT and p99 TPOT at once.

Speed: the prefill pool's simulation depends only on the prefill layout, so it is run
once per prefill layout and reused for every decode layout; step times are memoised per
deployment (step_time.shared_timer). A layout that does not fit (weights, a request's
KV) is kept in the list as infeasible with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from tigris.errors import InfeasibleError
from tigris.hardware.chip import Chip
from tigris.serving.deployment import Deployment
from tigris.serving.disaggregated import prefill_workload, replica_timer, simulate_disaggregated
from tigris.serving.metrics import summarize
from tigris.serving.requests import Workload
from tigris.serving.simulator import SimulationResult, simulate


@dataclass(frozen=True)
class PoolLayout:
    tp: int
    replicas: int

    @property
    def num_chips(self) -> int:
        return self.tp * self.replicas


def tp_choices(chip: Chip, max_chips: int, model_heads: int) -> list[int]:
    """Powers of two up to the scale-up domain and the pool's limit that divide the heads."""
    from tigris.hardware.presets import default_cluster

    system = default_cluster(chip)
    domain = system.scale_up_chips if system is not None else 1
    choices, tp = [], 1
    while tp <= min(domain, max_chips):
        if model_heads % tp == 0:
            choices.append(tp)
        tp *= 2
    return choices


def pool_layouts(chip: Chip, max_chips: int, model_heads: int) -> list[PoolLayout]:
    return [
        PoolLayout(tp, replicas)
        for tp in tp_choices(chip, max_chips, model_heads)
        for replicas in range(1, max_chips // tp + 1)
    ]


@cache
def usd_per_chip_hour(chip_id: str) -> float:
    """$ per chip-hour on the cost assumptions' price basis (capex + energy by default)."""
    from tigris.cost import load_assumptions, tco
    from tigris.hardware.presets import load_chip

    return tco(load_chip(chip_id), load_assumptions()).usd_per_chip_hour


def _evaluate(
    prefill: Deployment,
    decode: Deployment,
    workload: Workload,
    prefill_result: SimulationResult,
    slo: tuple[float, float],
) -> dict[str, object]:
    result = simulate_disaggregated(prefill, decode, workload, prefill_result=prefill_result)
    s = summarize(result.combined, *slo)
    return {
        "ttft_p99_s": s["ttft_p99_s"],
        "tpot_p99_s": s["tpot_p99_s"],
        "goodput_requests_per_s": s["goodput_requests_per_s"],
        "meets_slo": s["ttft_p99_s"] <= slo[0] and s["tpot_p99_s"] <= slo[1],  # type: ignore[operator]
    }


def _deployment(base: Deployment, chip: Chip, layout: PoolLayout) -> Deployment:
    from dataclasses import replace

    return replace(base, chip=chip, num_chips=layout.num_chips, tp=layout.tp, pp=1, ep=1)


def search_layouts(
    base: Deployment,
    prefill_chip: Chip,
    decode_chip: Chip,
    max_prefill_chips: int,
    max_decode_chips: int,
    workload: Workload,
    slo_ttft_s: float,
    slo_tpot_s: float,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Every (prefill, decode) layout within the limits, simulated; the cheapest meeting
    the SLOs and the Pareto front (cost, p99 TTFT, p99 TPOT). `base` holds the model,
    dtypes and engine settings."""
    heads = base.model.num_heads
    prefills = pool_layouts(prefill_chip, max_prefill_chips, heads)
    decodes = pool_layouts(decode_chip, max_decode_chips, heads)
    total, done, rows = len(prefills) * len(decodes), 0, []
    for p in prefills:
        prefill, prefill_result, reason = _prefill_run(base, prefill_chip, p, workload)
        for d in decodes:
            row = _row(prefill_chip, p, decode_chip, d)
            if prefill_result is None:
                row.update(feasible=False, reason=reason)
            else:
                try:
                    decode = _deployment(base, decode_chip, d)
                    metrics = _evaluate(
                        prefill, decode, workload, prefill_result, (slo_ttft_s, slo_tpot_s)
                    )  # type: ignore[arg-type]
                    row.update(feasible=True, **metrics)
                except InfeasibleError as error:
                    row.update(feasible=False, reason=str(error))
            rows.append(row)
            done += 1
            if progress is not None:
                progress(done, total)
    return _choose(rows, slo_ttft_s, slo_tpot_s)


def _prefill_run(
    base: Deployment, chip: Chip, layout: PoolLayout, workload: Workload
) -> tuple[Deployment | None, SimulationResult | None, str]:
    try:
        prefill = _deployment(base, chip, layout)
        result = simulate(prefill, prefill_workload(workload), timer=replica_timer(prefill))
        return prefill, result, ""
    except InfeasibleError as error:
        return None, None, f"prefill pool: {error}"


def _row(prefill_chip: Chip, p: PoolLayout, decode_chip: Chip, d: PoolLayout) -> dict[str, object]:
    cost = p.num_chips * usd_per_chip_hour(prefill_chip.id)
    cost += d.num_chips * usd_per_chip_hour(decode_chip.id)
    return {
        "prefill": {"chip": prefill_chip.id, "num_chips": p.num_chips, "tp": p.tp},
        "decode": {"chip": decode_chip.id, "num_chips": d.num_chips, "tp": d.tp},
        "usd_per_hour": cost,
    }


def pareto_front(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Feasible rows no other feasible row matches or beats on cost, p99 TTFT and p99
    TPOT with one strictly better; sorted by cost."""
    keys = ("usd_per_hour", "ttft_p99_s", "tpot_p99_s")
    feasible = [r for r in rows if r["feasible"]]

    def dominated(row: dict[str, object]) -> bool:
        return any(
            all(o[k] <= row[k] for k in keys) and any(o[k] < row[k] for k in keys)  # type: ignore[operator]
            for o in feasible
        )

    front = [r for r in feasible if not dominated(r)]
    return sorted(front, key=lambda r: (r["usd_per_hour"], r["ttft_p99_s"]))  # type: ignore[arg-type, return-value]


def _choose(rows: list[dict[str, object]], slo_ttft_s: float, slo_tpot_s: float) -> dict:
    meeting = [r for r in rows if r.get("meets_slo")]
    best = min(meeting, key=lambda r: (r["usd_per_hour"], r["ttft_p99_s"]), default=None)  # type: ignore[arg-type, return-value]
    return {
        "slo_ttft_s": slo_ttft_s,
        "slo_tpot_s": slo_tpot_s,
        "num_layouts": len(rows),
        "num_feasible": sum(1 for r in rows if r["feasible"]),
        "num_meeting_slo": len(meeting),
        "cheapest_meeting_slo": best,
        "pareto_front": pareto_front(rows),
        "layouts": rows,
    }
