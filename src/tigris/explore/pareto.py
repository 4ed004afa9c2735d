"""The Pareto front: designs no other design beats on every objective at once.

A design a dominates b when a is no worse on every objective and better on one. Sorting
the points lexicographically (every objective turned into a minimisation) puts any
dominating point before the points it dominates, so one pass that keeps the points not
dominated by the front so far finds the front in O(n * front size), vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tigris.explore.evaluate import Evaluation
from tigris.explore.sweep import Objective


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Indices of the rows of `values` (n x k, all minimised) on the Pareto front, in the
    order of the lexicographic sort. Duplicated points are all kept."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError("values must be n x k")
    if len(values) == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort(values.T[::-1])
    front: list[int] = []
    front_values = np.empty((0, values.shape[1]))
    for index in order:
        point = values[index]
        if len(front):
            no_worse = np.all(front_values <= point, axis=1)
            better = np.any(front_values < point, axis=1)
            if np.any(no_worse & better):
                continue
        front.append(int(index))
        front_values = np.vstack([front_values, point])
    return np.array(front, dtype=int)


def objective_matrix(
    evaluations: Sequence[Evaluation], objectives: Sequence[Objective]
) -> np.ndarray:
    """n x k objective values with maximised objectives negated (all minimised)."""
    signs = np.array([1.0 if o.goal == "min" else -1.0 for o in objectives])
    values = np.array(
        [[row.objectives[o.name] for o in objectives] for row in evaluations], dtype=float
    ).reshape(len(evaluations), len(objectives))
    return values * signs


def pareto_front(
    evaluations: Sequence[Evaluation], objectives: Sequence[Objective]
) -> list[Evaluation]:
    """The feasible evaluations on the front, best on the first objective first."""
    feasible = [row for row in evaluations if row.feasible]
    if not feasible:
        return []
    values = objective_matrix(feasible, objectives)
    front = non_dominated(values)
    ranked = sorted(front, key=lambda i: tuple(values[i]))
    return [feasible[i] for i in ranked]
