"""The fleet's TCO as an objective of `tigris explore` (issue 19, item 4): each design of a
sweep is put on the supply menu of a demand file (replacing an entry, or beside the
others), the fleet is planned as `tigris plan` plans it, and the fleet's figures are the
design's metrics, so the sweep's front and best are the designs that make the cheapest
fleet rather than the fastest chip.

    workloads:
      - name: lab
        task: fleet
        demand: demand-small.yaml     # relative to the sweep file
        replace: h100-sxm             # or leave it out: the design is added to the menu
        price_markup: 4.0             # or price_usd_per_chip; default: the cost model's
    objectives:
      - {metric: fleet_tco, goal: min, workload: lab}

Metrics (SI, dollars): `fleet_tco` ($ a year: capex over the lifetime + energy),
`fleet_capex` ($, the fleet's purchase), `fleet_peak_w` (W at the wall at the daily
peak), `fleet_chips` (all systems), `fleet_design_chips` (the design's). A design with
which no fleet meets the demand within the constraints, or whose chosen fleet still
misses an SLO or deadline at the re-check, is infeasible with the planner's reason.

The layering: explore sits below fleet, so explore names no fleet code. Its
`FleetWorkload` is data; `attach_fleet` binds each one to its demand (a
`PlannedFleetWorkload`, whose `design_metrics` the explore evaluator calls), as
`tigris explore run` does after loading the sweep (`load_fleet_sweep` for Python).
The planning is `plan_fleet` and the menu change `whatif.change_menu`: nothing of the
planner is repeated here. The candidates of the systems other than the design are
evaluated once per process and reused by every design (`known=`, as a what-if reuses
the baseline's), so a design costs its own candidates, the program and the re-check.
"""

from __future__ import annotations

from dataclasses import replace as replace_fields
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr

from tigris.errors import InfeasibleError, SpecError, given
from tigris.explore.sweep import Sweep, load_sweep, sweep_hash
from tigris.explore.workloads import FleetWorkload
from tigris.fleet.demand import Demand, SupplySystem, load_demand

METRICS = ("fleet_tco", "fleet_capex", "fleet_peak_w", "fleet_chips", "fleet_design_chips")


class PlannedFleetWorkload(FleetWorkload):
    """A fleet workload bound to its loaded demand (and, per process, the candidates of
    the menu's other systems, shared by every design)."""

    demand_spec: Demand = Field(exclude=True)
    _shared: dict[str, Any] = PrivateAttr(default_factory=dict)

    def design_metrics(self, chip: Any, figures: Any) -> dict[str, Any]:
        return fleet_metrics(self, chip, figures)


def load_fleet_sweep(path: str | Path) -> Sweep:
    """`tigris.explore.load_sweep` with its fleet workloads bound (SpecError naming the
    sweep file's key for a demand file that is missing or a `replace` not on its menu)."""
    return attach_fleet(load_sweep(path))


def attach_fleet(sweep: Sweep) -> Sweep:
    """The sweep with each `task: fleet` workload bound to its demand file; its hash
    covers the demand files' contents too, so an edited demand is a new sweep."""
    if not any(w.task == "fleet" for w in sweep.workloads):
        return sweep
    workloads = tuple(
        _bound(w, index, sweep.file) if w.task == "fleet" else w
        for index, w in enumerate(sweep.workloads)
    )
    demands = [w.demand_spec.model_dump_json() for w in workloads if w.task == "fleet"]
    digest = sweep_hash({"sweep": sweep.sweep_hash, "demands": demands})
    return replace_fields(sweep, workloads=workloads, sweep_hash=digest)


def _bound(workload: FleetWorkload, index: int, file: str) -> PlannedFleetWorkload:
    from tigris.fleet.whatif import find_system

    where = f"workloads[{index}]"
    _require_scipy(file, where)
    if workload.price_usd_per_chip is not None and workload.price_markup is not None:
        raise SpecError("give price_usd_per_chip or price_markup, not both", file=file,
                        key_path=f"{where}.price_markup")  # fmt: skip
    folder = Path(file).parent
    path = _beside(workload.demand, folder)
    if not Path(path).is_file():
        raise SpecError(f"demand file {given(path)} not found", file=file,
                        key_path=f"{where}.demand", hint="a path relative to the sweep file")  # fmt: skip
    demand = load_demand(path)  # its own mistakes name the demand file
    if workload.replace is not None:
        try:
            find_system(demand.supply, workload.replace)
        except SpecError as error:
            raise SpecError(error.message, file=file, key_path=f"{where}.replace",
                            hint=error.hint) from None  # fmt: skip
    system = _beside(workload.system, folder) if workload.system else None
    fields = workload.model_dump() | {"system": system}
    return PlannedFleetWorkload(**fields, demand_spec=demand)


def _beside(name: str, folder: Path) -> str:
    """A file name relative to the sweep file's folder; a catalog id as it is."""
    is_file = "/" in name or name.endswith((".yaml", ".yml", ".json"))
    return str(folder / name) if is_file and not Path(name).is_absolute() else name


def _require_scipy(file: str, where: str) -> None:
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        raise SpecError("a fleet workload needs scipy (HiGHS)", file=file, key_path=where,
                        hint="pip install 'tigris[plan]'") from None  # fmt: skip


def fleet_metrics(workload: PlannedFleetWorkload, chip: Any, figures: Any) -> dict[str, Any]:
    """The fleet planned with `chip` on the menu: its TCO, capex, peak power and chips.
    InfeasibleError when no fleet fits, or the chosen one misses an SLO or a deadline."""
    from tigris.fleet.plan import plan_fleet

    design, changed = design_menu(workload, chip, figures)
    plan, candidates = plan_fleet(changed, known=workload._shared)
    workload._shared.update(shared_candidates(changed, candidates, design.label))
    data = plan.to_dict()
    total = data["total"]
    if not (total["all_slos_met_at_peak"] and total["all_deadlines_met"]):  # type: ignore[index]
        raise InfeasibleError(
            f"the fleet misses an SLO or a deadline at the re-check after {plan.rounds} "
            f"rounds ({'; '.join(plan.derated)[:200]})"
        )
    chosen = next(s for s in data["systems"] if s["system"] == design.label)  # type: ignore[union-attr]
    return {
        "fleet_tco": total["tco_usd_per_year"],  # type: ignore[index]
        "fleet_capex": total["capex_usd"],  # type: ignore[index]
        "fleet_peak_w": total["peak_wall_mw"] * 1e6,  # type: ignore[index]
        "fleet_chips": total["chips"],  # type: ignore[index]
        "fleet_design_chips": chosen["chips"],
    }


def design_menu(
    workload: FleetWorkload, chip: Any, figures: Any = None
) -> tuple[SupplySystem, Demand]:
    """The design as a supply system, and the demand with it on the menu."""
    from tigris.fleet.whatif import change_menu

    price = workload.price_usd_per_chip
    if workload.price_markup is not None:
        price = workload.price_markup * float(figures.chip_cost().manufacturing_cost_usd)
    design = SupplySystem(
        chip=chip, system=workload.system, price_usd_per_chip=price,
        max_chips=workload.max_chips, chips_per_rack=workload.chips_per_rack,
    )  # fmt: skip
    demand = workload.demand_spec  # type: ignore[attr-defined]
    option = f"{workload.label}.replace"
    if workload.replace is not None:
        return design, change_menu(demand, [(workload.replace, design)], option=option)
    return design, change_menu(demand, added=[design], option=option)


def shared_candidates(demand: Demand, candidates: dict[str, Any], design: str) -> dict[str, Any]:
    """The candidates of every task on a system other than the design (the design's own
    differ from design to design: not kept)."""
    from tigris.fleet.plan import candidate_key, tasks_of

    keys = {candidate_key(t) for t in tasks_of(demand) if t.system.label != design}
    return {key: value for key, value in candidates.items() if key in keys}
