"""Samplers: random draws without repeats, optuna TPE and NSGA-II, each resuming a store."""

from __future__ import annotations

from pathlib import Path

import pytest
from explore_sweeps import ZDT1, write_sweep

from tigris.explore import Store, load_sweep, pareto_front, run_sweep

pytest.importorskip("optuna", reason="the tpe and nsga2 samplers need optuna (tigris[optimize])")


def sphere(tmp_path: Path, sampler: str):
    text = ZDT1.replace("function: zdt1", "function: sphere").replace(
        "  - {metric: f2, goal: min}\n", ""
    )
    return load_sweep(write_sweep(tmp_path, text, sampler=sampler, batch=4))


def run(sweep, db: Path, samples: int):
    with Store(db) as store:
        progress = run_sweep(sweep, store, samples=samples)
        return progress, store.evaluations(sweep.sweep_hash)


def test_random_draws_distinct_designs_and_resumes(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, ZDT1, sampler="random", batch=4))
    db = tmp_path / "random.duckdb"
    first, rows = run(sweep, db, 10)
    assert first.new == len(rows) == 10
    second, rows = run(sweep, db, 25)
    assert second.new == 15
    assert len({row.design_id for row in rows}) == 25
    # the whole space, then nothing more to draw
    third, rows = run(sweep, db, 10_000)
    assert len(rows) == sweep.space.size == 132
    assert third.new == 132 - 25


def test_tpe_finds_a_near_optimal_design(tmp_path: Path) -> None:
    (tmp_path / "grid").mkdir()
    grid_sweep = sphere(tmp_path / "grid", "grid")
    _, every = run(grid_sweep, tmp_path / "grid.duckdb", 10_000)
    values = sorted(row.objectives["f1"] for row in every)
    sweep = sphere(tmp_path, "tpe")
    progress, rows = run(sweep, tmp_path / "tpe.duckdb", 40)
    assert len(rows) == 40 == len({row.design_id for row in rows})
    best = min(row.objectives["f1"] for row in rows)
    assert best <= values[len(values) // 20]  # within the best 5% of all 132 designs
    assert progress.best["f1"] == best


def test_nsga2_resumes_without_repeats(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, ZDT1, sampler="nsga2", batch=8))
    db = tmp_path / "nsga2.duckdb"
    first, _ = run(sweep, db, 40)
    second, rows = run(sweep, db, 80)
    assert first.new == 40 and second.new == 40
    assert len({row.design_id for row in rows}) == len(rows) == 80
    front = pareto_front(rows, sweep.objectives)
    assert front and all(row.feasible for row in front)
