"""Layout search for serving under an SLO: disaggregated (issue 18, item 5) and
colocated (one pool: tp x ep x pp x replicas; issue 16, item 6).

One search (`evaluate_layouts`): each candidate layout is a row (its layout and cost)
and a function that simulates it; the rows are simulated in order, a layout that does
not fit kept as infeasible with the reason, and the cheapest meeting p99 TTFT and p99
TPOT chosen, with the Pareto front (cost, p99 TTFT, p99 TPOT).

Colocated (`search_colocated`, `tigris serve --search`): with at most `max_chips` chips,
tp in the powers of two up to the scale-up domain dividing the heads, ep (MoE) in the
powers of two dividing the experts, pp only where it helps (the serving step model runs
pipeline stages one after another, so pp adds memory, not speed: a tp x ep layout that
does not fit gets the smallest pp that does), and every replica count; each layout
serves the whole workload on its replicas.

Disaggregated: given a model, a workload (its arrivals fixed: a trace or a Poisson stream) and at most
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
from functools import partial

from tigris.errors import InfeasibleError
from tigris.hardware.chip import Chip
from tigris.serving.deployment import Deployment
from tigris.serving.disaggregated import (
    replica_timer,
    simulate_disaggregated,
    simulate_prefill,
)
from tigris.serving.metrics import summarize
from tigris.serving.requests import Workload
from tigris.serving.simulator import SimulationResult, simulate
from tigris.serving.speculative import SpeculativeSpec


@dataclass(frozen=True)
class PoolLayout:
    tp: int
    replicas: int
    ep: int = 1
    pp: int = 1

    @property
    def chips_per_replica(self) -> int:
        return self.tp * self.ep * self.pp

    @property
    def num_chips(self) -> int:
        return self.chips_per_replica * self.replicas


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


def _slo_metrics(summary: dict[str, object], slo: tuple[float, float]) -> dict[str, object]:
    """What a row keeps of a run's summary (metrics.summarize at the SLOs)."""
    return {
        "ttft_p99_s": summary["ttft_p99_s"],
        "tpot_p99_s": summary["tpot_p99_s"],
        "goodput_requests_per_s": summary["goodput_requests_per_s"],
        "meets_slo": summary["ttft_p99_s"] <= slo[0] and summary["tpot_p99_s"] <= slo[1],  # type: ignore[operator]
    }


def _deployment(base: Deployment, chip: Chip, layout: PoolLayout) -> Deployment:
    from dataclasses import replace

    return replace(base, chip=chip, num_chips=layout.num_chips, tp=layout.tp, pp=layout.pp,
                   ep=layout.ep)  # fmt: skip


Candidate = tuple[dict[str, object], Callable[[], dict[str, object]]]
Price = Callable[[Chip], float]  # $ per chip-hour


def evaluate_layouts(
    candidates: list[Candidate],
    slo: tuple[float, float],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Each (row, evaluate) in order: the row gets `feasible` and evaluate()'s metrics, or
    the InfeasibleError's reason; then the cheapest meeting the SLOs and the Pareto front."""
    rows = []
    for done, (row, evaluate) in enumerate(candidates, 1):
        try:
            row.update(feasible=True, **evaluate())
        except InfeasibleError as error:
            row.update(feasible=False, reason=str(error))
        rows.append(row)
        if progress is not None:
            progress(done, len(candidates))
    return _choose(rows, *slo)


# ---- disaggregated: a prefill pool and a decode pool -------------------------------------


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
    *,
    price: Price,
    prefill_settings: dict[str, object] | None = None,
    decode_base: Deployment | None = None,
) -> dict[str, object]:
    """Every (prefill, decode) layout within the limits, simulated; the cheapest meeting
    the SLOs and the Pareto front (cost, p99 TTFT, p99 TPOT). `base` holds the model,
    dtypes and engine settings; `price` gives a chip's $ per chip-hour (the cost model
    lives above this package: tigris.cost.tco.usd_per_chip_hour); `prefill_settings`:
    the prefill pool's simulate settings (chunked_prefill, prefix, prefill_first);
    `decode_base`: the decode pool's engine limits and stack when they differ from
    `base`'s (a pool of another chip or stack)."""
    heads = base.model.num_heads
    slo = (slo_ttft_s, slo_tpot_s)
    candidates: list[Candidate] = []
    for p in pool_layouts(prefill_chip, max_prefill_chips, heads):
        prefill_run = _prefill_run(base, prefill_chip, p, workload, prefill_settings or {})
        for d in pool_layouts(decode_chip, max_decode_chips, heads):
            evaluate = partial(_evaluate_pair, prefill_run, decode_base or base, decode_chip, d,
                               workload, slo)  # fmt: skip
            candidates.append((_row(prefill_chip, p, decode_chip, d, price), evaluate))
    return evaluate_layouts(candidates, slo, progress)


def _prefill_run(
    base: Deployment, chip: Chip, layout: PoolLayout, workload: Workload, settings: dict
) -> Callable[[], tuple[Deployment, SimulationResult]]:
    """The prefill pool's deployment and simulation, run once when first asked for (every
    decode layout reuses it); an InfeasibleError naming the prefill pool when it fails."""
    outcome: list[object] = []

    def run() -> tuple[Deployment, SimulationResult]:
        if not outcome:
            try:
                prefill = _deployment(base, chip, layout)
                outcome.append((prefill, simulate_prefill(prefill, workload, **settings)))
            except InfeasibleError as error:
                outcome.append(InfeasibleError(f"prefill pool: {error}"))
        if isinstance(outcome[0], InfeasibleError):
            raise outcome[0]
        return outcome[0]  # type: ignore[return-value]

    return run


def _evaluate_pair(
    prefill_run: Callable[[], tuple[Deployment, SimulationResult]],
    base: Deployment,
    decode_chip: Chip,
    layout: PoolLayout,
    workload: Workload,
    slo: tuple[float, float],
) -> dict[str, object]:
    prefill, prefill_result = prefill_run()
    decode = _deployment(base, decode_chip, layout)
    result = simulate_disaggregated(prefill, decode, workload, prefill_result=prefill_result)
    return _slo_metrics(summarize(result.combined, *slo), slo)


def _row(
    prefill_chip: Chip, p: PoolLayout, decode_chip: Chip, d: PoolLayout, price: Price
) -> dict[str, object]:
    cost = p.num_chips * price(prefill_chip) + d.num_chips * price(decode_chip)
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


# ---- colocated: one pool of tp x ep x pp replicas ----------------------------------------


def _powers_of_two(limit: int) -> list[int]:
    out, value = [], 1
    while value <= limit:
        out.append(value)
        value *= 2
    return out


def _fits(base: Deployment, chip: Chip, layout: PoolLayout) -> bool:
    """Whether one replica of the layout holds the weights and a KV block (an invalid
    layout counts as fitting: its row then says why it is infeasible)."""
    from tigris.serving.memory import plan_memory

    try:
        return plan_memory(_deployment(base, chip, layout)).fits
    except InfeasibleError:
        return True


def colocated_layouts(base: Deployment, chip: Chip, max_chips: int) -> list[PoolLayout]:
    """tp x ep x pp x replicas within max_chips (see the module doc): pp > 1 only for a
    tp x ep that does not fit without it, the smallest power of two that does."""
    spec = base.model
    eps = [
        e for e in _powers_of_two(max_chips) if e == 1 or (spec.is_moe and not spec.num_experts % e)
    ]
    layouts = []
    for tp in tp_choices(chip, max_chips, spec.num_heads):
        for ep in (e for e in eps if tp * e <= max_chips):
            pp = 1
            while (
                not _fits(base, chip, PoolLayout(tp, 1, ep, pp)) and tp * ep * pp * 2 <= max_chips
            ):
                if pp * 2 > spec.num_layers:
                    break
                pp *= 2
            per_replica = tp * ep * pp
            layouts += [PoolLayout(tp, r, ep, pp) for r in range(1, max_chips // per_replica + 1)]
    return layouts


def search_colocated(
    base: Deployment,
    workload: Workload,
    slo: tuple[float, float],
    *,
    chunked_prefill: bool = False,
    speculative: SpeculativeSpec | None = None,
    progress: Callable[[int, int], None] | None = None,
    price: Price,
) -> dict[str, object]:
    """Every colocated layout of up to base.num_chips of base.chip, each serving
    `workload` on its replicas (requests dealt round-robin, as `tigris serve`), with
    speculative decoding when given; the cheapest meeting the SLOs (at `price` $ per
    chip-hour) and the Pareto front."""
    chip = base.chip
    chip_price = price(chip)
    candidates: list[Candidate] = []
    for layout in colocated_layouts(base, chip, base.num_chips):
        row: dict[str, object] = {
            "chip": chip.id, "num_chips": layout.num_chips, "tp": layout.tp, "ep": layout.ep,
            "pp": layout.pp, "num_replicas": layout.replicas,
            "usd_per_hour": layout.num_chips * chip_price,
        }  # fmt: skip
        run = partial(
            _evaluate_colocated, base, layout, workload, slo, chunked_prefill, speculative
        )
        candidates.append((row, run))
    return evaluate_layouts(candidates, slo, progress)


def _evaluate_colocated(
    base: Deployment,
    layout: PoolLayout,
    workload: Workload,
    slo: tuple[float, float],
    chunked_prefill: bool,
    speculative: SpeculativeSpec | None,
) -> dict[str, object]:
    from tigris.serving.speculative import Speculation, SpeculativeTimer

    deployment = _deployment(base, base.chip, layout)
    timer = replica_timer(deployment)
    if speculative is not None:
        one = timer.deployment  # step times do not depend on the replica count
        timer = SpeculativeTimer(one, Speculation(speculative, one))
    result = simulate(deployment, workload, chunked_prefill=chunked_prefill, timer=timer)
    summary = summarize(result, *slo)
    return _slo_metrics(summary, slo) | {
        "throughput_tokens_per_s": summary["throughput_tokens_per_s"]
    }
