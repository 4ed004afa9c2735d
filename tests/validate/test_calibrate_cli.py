"""`tigris calibrate CHIP --data FILE.csv -o my-chip.yaml` in a subprocess: measure (a CSV
of one's own rows), refit, predict with the written preset; too few rows exit 2 naming
--data and the count, and leave no file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml

from tigris.validate.hardware_names import chip_for_hardware
from tigris.validate.protocol import default_measured_csv


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


def _h100_rows(count: int, slower: float = 1.0) -> list[dict[str, str]]:
    """Vidur's H100 GEMM rows (times) of the packaged CSV, renamed, their times multiplied
    by `slower` (a slower part of the same design)."""
    with open(default_measured_csv(), newline="", encoding="utf-8") as handle:
        rows = [
            row
            for row in csv.DictReader(handle)
            if row["category"] == "gemm" and row["metric_name"].endswith("_time_median")
            and chip_for_hardware(row["hardware"]) == "h100-sxm"
        ]  # fmt: skip
    return [
        row | {"id": f"mine_{i}", "metric_value": str(float(row["metric_value"]) * slower)}
        for i, row in enumerate(rows[-count:])
    ]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _gemm_flop_per_s(chip: str) -> float:
    result = run_tigris("gemm", "8192", "8192", "8192", "--chip", chip, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["achieved_flop_per_s"]


def test_measure_refit_predict(tmp_path: Path) -> None:
    rows = _h100_rows(6, slower=1.4)
    assert len(rows) == 6
    data = _write(tmp_path / "mine.csv", rows)
    out = tmp_path / "presets" / "my-h100.yaml"
    fitted = run_tigris("calibrate", "h100-sxm", "--data", str(data), "-o", str(out), "--mkdir")
    assert fitted.returncode == 0, fitted.stderr
    preset = yaml.safe_load(out.read_text())
    assert preset["base"] == "h100-sxm" and preset["id"] == "my-h100"
    assert all(f"mine_{i}" in preset["sources"]["calibration"] for i in range(6))
    assert str(data) in preset["calibration"]["fitted_on"]
    # 40 % slower measurements: the refit chip predicts a large GEMM clearly slower
    assert _gemm_flop_per_s(str(out)) < 0.85 * _gemm_flop_per_s("h100-sxm")


def test_too_few_rows(tmp_path: Path) -> None:
    data = _write(tmp_path / "few.csv", _h100_rows(2))
    out = tmp_path / "my-h100.yaml"
    result = run_tigris("calibrate", "h100-sxm", "--data", str(data), "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "--data" in message and "2 gemm/memory_bw rows" in message
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not out.exists()


def test_existing_file_kept_on_failure(tmp_path: Path) -> None:
    data = _write(tmp_path / "few.csv", _h100_rows(1))
    out = tmp_path / "my-h100.yaml"
    out.write_text("keep me\n")
    result = run_tigris("calibrate", "h100-sxm", "--data", str(data), "-o", str(out))
    assert result.returncode == 2
    assert out.read_text() == "keep me\n"
