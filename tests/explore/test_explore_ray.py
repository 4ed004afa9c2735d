"""Ray runs the same pure evaluation as the local runners: identical rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from explore_sweeps import PREFILL, write_sweep

from tigris.explore import Store, load_sweep, run_sweep

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'tigris[ray]'")


def rows(db: Path, sweep, **options) -> dict[str, tuple]:
    with Store(db) as store:
        progress = run_sweep(sweep, store, **options)
        found = store.evaluations(sweep.sweep_hash)
    assert progress.new == len(found) == sweep.space.size
    return {
        r.design_id: (r.params, r.derived, r.status, r.reason, r.objectives, r.metrics)
        for r in found
    }


def test_ray_equals_local(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, PREFILL, num_bw=2, batch=8))
    local = rows(tmp_path / "local.duckdb", sweep, workers=1)
    pooled = rows(tmp_path / "pool.duckdb", sweep, workers=2)
    on_ray = rows(tmp_path / "ray.duckdb", sweep, workers=2, use_ray=True)
    assert {status for _, _, status, *_ in local.values()} == {"ok", "infeasible"}
    assert on_ray == local
    assert pooled == local
