"""Design-space exploration: sweep chip designs over workloads, keep every result, find the
Pareto front.

Public API:
  load_sweep(path) -> Sweep                      the sweep file, checked before anything runs
  Evaluator(sweep).evaluate(params) -> Evaluation    one design on every workload (pure)
  evaluate_batch(sweep, batch) -> list[Evaluation]   what a worker or a Ray task runs
  run_sweep(sweep, store, samples=, workers=, use_ray=, ray_address=, on_progress=,
            ray_timeout_s=) -> Progress
  Store(path)                                    the DuckDB results file
  pareto_front(evaluations, objectives) -> list[Evaluation]; non_dominated(values)
  parse_expression(text) -> Expression           the safe arithmetic of derived values

The names are imported on first use, so that importing one light module of the package
(tigris.explore.defaults, read by the command line at start-up) does not load the whole
explorer (DuckDB included).
"""

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "Evaluation": "tigris.explore.rows",
    "Evaluator": "tigris.explore.evaluate",
    "design_id": "tigris.explore.rows",
    "evaluate_batch": "tigris.explore.evaluate",
    "Expression": "tigris.explore.expression",
    "parse_expression": "tigris.explore.expression",
    "non_dominated": "tigris.explore.pareto",
    "pareto_front": "tigris.explore.pareto",
    "Progress": "tigris.explore.run",
    "run_sweep": "tigris.explore.run",
    "Store": "tigris.explore.store",
    "Objective": "tigris.explore.sweep",
    "Sweep": "tigris.explore.sweep",
    "load_sweep": "tigris.explore.sweep",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
