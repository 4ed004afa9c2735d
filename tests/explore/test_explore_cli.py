"""`explore run` prints the front and writes the page; `explore show` reads the file back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from explore_sweeps import ZDT1, write_sweep


def explore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris.cli.explore", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_then_show(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, ZDT1, sampler="grid", batch=16)
    db = tmp_path / "zdt1.duckdb"
    result = explore("run", str(sweep), "--db", str(db), "--workers", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["designs"] == report["new"] == 132
    assert report["statuses"] == {"ok": 132}
    front_ids = [row["design_id"] for row in report["pareto_front"]]
    assert len(front_ids) == 11

    page = Path(report["html"]).read_text()
    assert page.count("plotly-graph-div") >= 1
    for design in front_ids:  # every front point is linkable and described
        assert f"id='design-{design}'" in page
        assert f'"{design}": {{' in page

    shown = explore("show", str(db), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["sweep_hash"] == report["sweep_hash"]
    assert [row["design_id"] for row in summary["pareto_front"]] == front_ids

    table = explore("show", str(db), "--html", str(tmp_path / "again.html"))
    assert table.returncode == 0
    assert (tmp_path / "again.html").read_text().count(f"id='design-{front_ids[0]}'") == 1
    assert "Pareto front (11 designs)" in table.stdout
    assert "132 ok" in table.stdout


def test_show_missing_file_is_a_user_error(tmp_path: Path) -> None:
    result = explore("show", str(tmp_path / "nothing.duckdb"))
    assert result.returncode == 2
    assert "no such results file" in result.stderr


def test_wired_into_the_tigris_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "explore", "show", str(tmp_path / "none.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no such results file" in result.stderr
