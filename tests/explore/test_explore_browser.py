"""The Pareto page in headless Chromium: the plot is drawn, no console errors, and a link
to a design (#design-<id>) opens that design's details."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from explore_sweeps import ZDT1, write_sweep

from tigris.explore import Store, load_sweep, pareto_front, run_sweep
from tigris.explore.report import pareto_page, write_pareto_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)"
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
)


def test_page_draws_and_links_to_designs(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path, ZDT1, sampler="grid", batch=32))
    with Store(tmp_path / "zdt1.duckdb") as store:
        run_sweep(sweep, store)
        rows = store.evaluations(sweep.sweep_hash)
    front = pareto_front(rows, sweep.objectives)
    off_front = next(row for row in rows if row.design_id not in {r.design_id for r in front})
    page = tmp_path / "zdt1.html"
    write_pareto_page(
        page, pareto_page("zdt1", rows, front, sweep.objectives, [a.path for a in sweep.axes], "")
    )
    result = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            f"{page.resolve().as_uri()}#design-{off_front.design_id}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert errors == []
    assert 'class="main-svg"' in result.stdout
    assert f"design {off_front.design_id}" in result.stdout  # the linked design is shown
    assert '"matrix.rows": ' in result.stdout.split(f"design {off_front.design_id}")[1][:2000]
