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
"""

from tigris.explore.evaluate import Evaluation, Evaluator, design_id, evaluate_batch
from tigris.explore.expression import Expression, parse_expression
from tigris.explore.pareto import non_dominated, pareto_front
from tigris.explore.run import Progress, run_sweep
from tigris.explore.store import Store
from tigris.explore.sweep import Objective, Sweep, load_sweep

__all__ = [
    "Evaluation",
    "Evaluator",
    "Expression",
    "Objective",
    "Progress",
    "Store",
    "Sweep",
    "design_id",
    "evaluate_batch",
    "load_sweep",
    "non_dominated",
    "parse_expression",
    "pareto_front",
    "run_sweep",
]
