"""The Pareto front: a brute-force oracle on random points, and a sweep whose front is
known in closed form (ZDT1: x2..xn = 0, f2 = 1 - sqrt(f1))."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from explore_sweeps import ZDT1, write_sweep
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.explore import Store, load_sweep, non_dominated, pareto_front, run_sweep


def brute_force_front(values: np.ndarray) -> set[int]:
    front = set()
    for i, point in enumerate(values):
        dominated = any(
            np.all(other <= point) and np.any(other < point)
            for j, other in enumerate(values)
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=n, max_size=n
        )
    )
)
def test_non_dominated_equals_brute_force(points: list[list[int]]) -> None:
    values = np.array(points, dtype=float)
    assert set(non_dominated(values).tolist()) == brute_force_front(values)


def test_two_objective_staircase() -> None:
    values = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5]], dtype=float)
    assert sorted(non_dominated(values).tolist()) == [0, 1, 3, 4]


def test_zdt1_sweep_finds_the_known_front(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, ZDT1, sampler="grid", batch=16))
    with Store(tmp_path / "zdt1.duckdb") as store:
        progress = run_sweep(sweep, store)
        rows = store.evaluations(sweep.sweep_hash)
    assert progress.new == len(rows) == 11 * 4 * 3
    front = pareto_front(rows, sweep.objectives)
    # The front is x2 = x3 = 0 (the smallest rows and cols) for every x1 (clock).
    assert {(r.params["matrix.rows"], r.params["matrix.cols"]) for r in front} == {(16, 16)}
    assert len(front) == 11
    for row in front:
        f1, f2 = row.objectives["f1"], row.objectives["f2"]
        assert math.isclose(f2, 1 - math.sqrt(f1), abs_tol=1e-12)
        assert math.isclose(f1, (row.params["matrix.clock"] - 1e9) / 1e9, abs_tol=1e-12)
    # and nothing off the front lies on or below the f2 = 1 - sqrt(f1) curve
    for row in rows:
        if row.design_id not in {r.design_id for r in front}:
            f1, f2 = row.objectives["f1"], row.objectives["f2"]
            assert f2 > 1 - math.sqrt(f1) + 1e-9
