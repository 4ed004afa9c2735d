"""Which GEMM calibration terms a chip's rows can tell apart (validate.calibrate.fitted_terms),
and the held-out gemm figures by chip family that the issue-14/15 targets are judged on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tigris.validate.calibrate import MIN_ROWS_FOR_ALL_TERMS, fitted_terms
from tigris.validate.measured import load_cases


def _gemm_cases(host_timed: bool):
    return [c for c in load_cases() if c.category == "gemm" and c.host_timed == host_timed]


def test_one_or_two_peak_rows_fit_only_matrix_fraction():
    device = _gemm_cases(host_timed=False)[:2]
    assert fitted_terms(device) == {"matrix_fraction"}


def test_host_overhead_is_fitted_only_where_a_row_was_host_timed():
    device = _gemm_cases(host_timed=False)[:MIN_ROWS_FOR_ALL_TERMS]
    assert "host_overhead" not in fitted_terms(device)
    assert fitted_terms(device) == {"matrix_fraction", "dram_fraction", "kernel_overhead"}
    host = [replace(device[0], host_timed=True), *device[1:]]
    assert fitted_terms(host) == {
        "matrix_fraction",
        "dram_fraction",
        "kernel_overhead",
        "host_overhead",
    }


@pytest.mark.parametrize("rows", [0, MIN_ROWS_FOR_ALL_TERMS - 1])
def test_few_host_timed_rows_fit_the_harness_floor_and_the_rate_only(rows):
    host = _gemm_cases(host_timed=True)[: max(rows, 1)]
    assert fitted_terms(host) == {"matrix_fraction", "host_overhead"}


def test_a_preset_that_inherits_its_calibration_is_refitted_on_the_donors_rows():
    from tigris.validate.calibrate import calibration_donor

    assert calibration_donor("h100-sxm") == "h100-sxm"
    assert calibration_donor("gb200") == "b200"  # base: b200, no calibration block
    assert calibration_donor("h100-nvl") == "h100-sxm"
    assert calibration_donor("h200-sxm") == "h100-sxm"  # block taken from H100's fit
    assert calibration_donor("mi325x") == "mi325x"


def test_rows_of_an_inheriting_chip_are_scored_not_fitted_and_held_out_by_chip(tmp_path):
    """GB200's MAMF rows never fed its preset (it inherits B200's fit): `fitted` false, and
    with GB200 left out, B200's rows still fit it, so the held-out prediction is the
    preset's."""
    import csv
    import io
    import json
    import subprocess
    import sys

    from tigris.validate.measured import read_rows

    rows = [r for r in read_rows(("gemm",)) if r["id"] in ("mamf_168", "mamf_178")]
    assert len(rows) == 2
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = tmp_path / "gb200.csv"
    data.write_text(text.getvalue(), encoding="utf-8")
    args = ["gemm", "--data", str(data), "--holdout", "chip", "--json", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "validate", *args], capture_output=True, text=True
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    scored = json.loads(result.stdout)["rows"]
    assert [row["id"] for row in scored] == ["mamf_168", "mamf_178"]
    for row in scored:
        assert row["chip"] == "gb200" and row["fitted"] is False
        assert row["predicted_held_out"] == pytest.approx(row["predicted"], rel=1e-12)
