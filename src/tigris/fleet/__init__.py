"""The fleet planner (`tigris plan`): what a cloud should buy to serve its traffic within
SLOs and finish its training runs by their deadlines, at the lowest total cost of
ownership within a power budget.

    demand.py      the demand file (services, runs, supply menu, constraints)
    candidates.py  each service and run on each system, from tigris.api's models
    execute.py     candidates evaluated in this process, a local pool or Ray
    costs.py       $ per chip-year (capex over the lifetime) and per W-year (energy)
    milp.py        the mixed-integer program (scipy.optimize.milp, HiGHS)
    plan.py        plan_fleet: candidates -> program -> the chosen fleet re-checked
    whatif.py      --replace / --add: the plan again with a changed menu, and the delta
    report.py      the HTML report and an SVG of the fleet mix
    design_sweep.py  `fleet_tco`: an explore sweep's designs scored by the fleet they make

Sits above tigris.api (it calls the serving and training models through it) and below
tigris.cli. Names load on first use.
"""

from __future__ import annotations

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "load_demand": "tigris.fleet.demand",
    "Demand": "tigris.fleet.demand",
    "plan_fleet": "tigris.fleet.plan",
    "FleetPlan": "tigris.fleet.plan",
    "what_if": "tigris.fleet.whatif",
    "attach_fleet": "tigris.fleet.design_sweep",
    "load_fleet_sweep": "tigris.fleet.design_sweep",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
