"""A training workload on one chip: the best plan found, and its energy and cost.

The plan comes from `tigris.parallel.search.search_plans` (options in the workload's
`plan` held fixed). Energy per token: the flop, DRAM bytes and link bytes of the best
plan's step as the step model's tree gives them (the ops and collectives it timed),
through `tigris.cost.energy_per_token` (capped at TDP). Cost: `tigris.cost.tco` at that
power.
"""

from __future__ import annotations

from tigris.compare.activity import OpTimer, Traffic
from tigris.compare.cell import Cell, failed, price
from tigris.compare.workloads import TrainWorkload
from tigris.cost import Assumptions, energy_per_token, training_run_cost
from tigris.engines.base import get_engine
from tigris.errors import InfeasibleError, TigrisError
from tigris.hardware.chip import Chip
from tigris.hardware.presets import default_cluster
from tigris.parallel.clock import sustained_clock_ratio
from tigris.parallel.search import SearchResult, search_plans
from tigris.parallel.sharded_step import step_parts
from tigris.parallel.step import StepResult, TimeNode, TrainSetup
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model


def where_time_goes(breakdown: TimeNode) -> dict[str, float]:
    """The step's parts: compute by pass, then exposed communication, bubble, optimizer."""
    parts: dict[str, float] = {}
    for child in breakdown.children:
        if child.name == "compute" and child.children:
            parts |= {node.name: node.time_s for node in child.children}
        else:
            parts[child.name] = child.time_s
    return parts


def step_traffic(result: StepResult) -> tuple[Traffic, float]:
    """(flop and DRAM bytes, link bytes sent) of one chip over one step, averaged over the
    pipeline stages: read from the step model's tree, so energy counts the ops and the
    collectives the step time was made of."""
    tree = result.tree
    return Traffic(tree.flop, tree.dram_bytes), tree.link_bytes


def best_plan(setup: TrainSetup, fixed: dict[str, object]) -> SearchResult:
    """search_plans with Megatron-LM's rule that sequence parallelism is on whenever
    tp > 1 (it cuts activation memory at no extra communication), unless the caller fixes
    tp or sequence parallelism: tp = 1 plans, then tp > 1 plans with it on. This halves
    the plans searched. When neither search finds a plan, the reason of the closer miss
    (smallest memory overshoot) is raised."""
    if fixed.get("tp") is not None or fixed.get("sequence_parallel") is not None:
        return search_plans(setup, fixed, top_k=1)
    found: list[SearchResult] = []
    errors: list[InfeasibleError] = []
    searched = 0
    for part in ({"tp": 1, "sequence_parallel": False}, {"sequence_parallel": True}):
        try:
            result = search_plans(setup, {**fixed, **part}, top_k=1)
        except InfeasibleError as error:
            errors.append(error)
            continue
        found.append(result)
        searched += result.num_searched
    if not found:
        overs = [e for e in errors if e.over_bytes is not None]
        raise min(overs, key=lambda e: e.over_bytes or 0.0) if overs else errors[0]
    best = min(found, key=lambda r: r.best.step_time_s)
    return SearchResult(
        best.best,
        best.top,
        num_searched=sum(r.num_searched for r in found),
        num_valid=sum(r.num_valid for r in found),
        num_fit=sum(r.num_fit for r in found),
    )


def evaluate_train(chip: Chip, workload: TrainWorkload, assumptions: Assumptions) -> Cell:
    """The workload's best plan on `chip`, or the reason none runs."""
    try:
        return _evaluate(chip, workload, assumptions)
    except TigrisError as error:
        return failed(workload.name, "train", chip.id, error)


def _search(chip: Chip, workload: TrainWorkload):  # -> (TrainSetup, the plan search)
    """The workload's best plan on `chip`'s default system (InfeasibleError without one)."""
    spec = load_model(workload.model)
    chip.peak_flop_per_s(workload.dtype)  # UnsupportedError without that matrix path
    cluster = default_cluster(chip)
    if cluster is None:
        raise InfeasibleError(f"{chip.id} names no system to connect {workload.num_chips} chips")
    setup = TrainSetup(
        spec,
        chip,
        cluster,
        workload.num_chips,
        workload.global_batch,
        workload.seq_len,
        precision=Precision(compute_dtype=workload.dtype),
    )
    return setup, best_plan(setup, {**workload.plan, "dtype": workload.dtype})


def _run_figures(chip, workload, best, power_w_per_chip, assumptions) -> dict[str, object]:
    """Time, cost and energy of the whole run when the workload names a token budget."""
    run_s = best.time_to_train_s(workload.tokens)
    extra: dict[str, object] = {"tokens": workload.tokens, "time_to_train_s": run_s}
    try:
        run = training_run_cost(
            chip,
            num_chips=workload.num_chips,
            time_s=run_s,
            power_w_per_chip=power_w_per_chip,
            assumptions=assumptions,
        )
        extra |= {"run_cost_usd": run.cost_usd, "run_energy_mwh": run.energy_mwh}
    except TigrisError:
        pass  # no price on this basis: the cell's cost_note says why
    return extra


def _evaluate(chip: Chip, workload: TrainWorkload, assumptions: Assumptions) -> Cell:
    setup, found = _search(chip, workload)
    best: StepResult = found.best
    timer = OpTimer(get_engine(setup.engine), chip)
    for ops in step_parts(setup, best.plan).values():  # the per-chip ops, for the roofline
        timer.traffic(ops)
    traffic, link_bytes = step_traffic(best)
    n = workload.num_chips
    energy = energy_per_token(
        chip,
        flop=traffic.flop * n,
        dram_bytes=traffic.dram_bytes * n,
        link_bytes=link_bytes * n,
        time_s=best.step_time_s,
        tokens=best.tokens_per_step,
        num_chips=n,
        dtype=workload.dtype,
        assumptions=assumptions,
        clock_sq=sustained_clock_ratio(chip) ** 2,  # the step was timed at that clock
    )
    per_chip = best.tokens_per_s / n
    extra: dict[str, object] = {
        "hfu": best.hfu,
        "num_microbatches": best.num_microbatches,
        "plans_valid": found.num_valid,
        "plans_fit": found.num_fit,
    }
    if workload.tokens:
        extra |= _run_figures(chip, workload, best, energy.power_w_per_chip, assumptions)
    return Cell(
        workload=workload.name,
        kind="train",
        chip_id=chip.id,
        plan=best.plan.as_dict(),
        time_s=best.step_time_s,
        tokens_per_s=best.tokens_per_s,
        tokens_per_s_per_chip=per_chip,
        mfu=best.mfu,
        memory_per_chip_bytes=best.memory.total_bytes,
        memory_capacity_bytes=best.memory.usable_bytes,
        fits=best.fits,
        energy_per_token_j=energy.energy_per_token_j,
        power_w_per_chip=energy.power_w_per_chip,
        power_cap_slowdown=energy.slowdown,
        breakdown=where_time_goes(best.breakdown),
        extra=extra,
        ops=timer.results(),
        num_plans_searched=found.num_searched,
        **price(chip, assumptions, energy, per_chip),  # type: ignore[arg-type]
    )
