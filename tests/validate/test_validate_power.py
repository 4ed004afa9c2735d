"""`tigris validate power`: every row accounted for, held-out scores never read the
scored row's measurement, the command in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from tigris.validate.power import read_power_rows
from tigris.validate.power_score import run_models, score


def test_every_row_is_scored_or_listed_with_a_reason() -> None:
    rows = read_power_rows()
    result = score(rows)
    scored = {r["id"] for r in result["rows"]}
    unmapped = {u["id"]: u["reason"] for u in result["unmapped"]}
    assert scored.isdisjoint(unmapped)
    assert scored | set(unmapped) == {r.row_id for r in rows}
    assert all(unmapped.values())
    totals = sum(g["rows_total"] for g in result["groups"] if "rows_total" in g)
    assert totals == len(rows)


def test_held_out_prediction_ignores_the_rows_own_measurement() -> None:
    rows = read_power_rows()
    mapped, _ = run_models(rows)
    target = mapped[0].row
    before = next(r for r in score(rows)["rows"] if r["id"] == target.row_id)
    changed = [
        replace(r, measured_power_w=r.measured_power_w * 3) if r.row_id == target.row_id else r
        for r in rows
    ]
    after = next(r for r in score(changed)["rows"] if r["id"] == target.row_id)
    assert after["power_w_held_out"] == before["power_w_held_out"]
    assert after["j_per_token_held_out"] == before["j_per_token_held_out"]
    assert after["power_w_in_sample"] != before["power_w_in_sample"]  # the fit does read it


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tigris", "validate", "power", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_json() -> None:
    done = _run("--json", "--quiet")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"groups", "rows", "unmapped", "fit_all_rows", "fits_held_out"} <= set(data)
    assert data["fit_all_rows"]["fitted_on"]


def test_cli_scores_other_data(tmp_path: Path) -> None:
    source = Path(read_power_rows.__code__.co_filename).parent / "data" / "power.csv"
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = tmp_path / "other.csv"
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["id"].startswith(("MLE2", "MLPI")))
    done = _run("--json", "--quiet", "--data", str(out), "--holdout", "chip")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rows"]) > 0


def test_cli_bad_data_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    for path in (bad, tmp_path / "missing.csv"):
        done = _run("--data", str(path))
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert path.name in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 2
