"""The validation protocol: fitting apart from scoring, every row counted, the user's CSV.

Tolerances are stated where they are used; none is today's error."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tigris.validate import gemm as gemm_validation
from tigris.validate.calibrate import refit_without
from tigris.validate.gemm import validate_gemm
from tigris.validate.measured import load_cases, source_label
from tigris.validate.protocol import (
    CALIBRATION_INPUT,
    Scored,
    ValidationCase,
    default_measured_csv,
    summarize_groups,
)
from tigris.validate.single_chip import evaluate


def _packaged_rows(ids: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    with open(default_measured_csv(), newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["id"] in ids]
        return list(reader.fieldnames or []), rows


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", "validate", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_leaving_a_source_out_changes_the_fit():
    cases = load_cases()
    full = refit_without(cases, ["a100-sxm-80gb"], lambda case: False)["a100-sxm-80gb"]
    left = refit_without(
        cases, ["a100-sxm-80gb"], lambda case: source_label(case.source) == "LLMCompass"
    )["a100-sxm-80gb"]
    assert not any(row_id.startswith("llmcompass") for row_id in left.row_ids)
    assert any(row_id.startswith("llmcompass") for row_id in full.row_ids)
    assert len(left.row_ids) == len(full.row_ids) - 20
    assert left.calibration != full.calibration


def _held_out(monkeypatch, perturb_id: str, factor: float) -> dict[str, float | None]:
    """Held-out predictions of h100's vidur rows, with one packaged row's measured value
    scaled by `factor` in the data the re-fits read."""
    perturbed = tuple(
        dataclasses.replace(c, measured=c.measured * factor) if c.row_id == perturb_id else c
        for c in load_cases()
    )
    monkeypatch.setattr(gemm_validation, "load_cases", lambda: perturbed)
    scored = [
        gemm_validation._validation_case(c, frozenset())
        for c in perturbed
        if c.chip_id == "h100-sxm" and c.category == "gemm"
    ]
    return gemm_validation._held_out_group(scored, "vidur", "source", "tile")


def test_a_scored_rows_measurement_never_feeds_its_held_out_prediction(monkeypatch):
    base = _held_out(monkeypatch, "none", 1.0)
    scored_moved = _held_out(monkeypatch, "vidur_op_316", 3.0)
    assert scored_moved == base  # the row's own (and its source's) values are never fitted on
    # control: a row of another source feeds the fit, so scaling it moves the predictions
    other_moved = _held_out(monkeypatch, "mamf_179", 3.0)
    assert other_moved["vidur_op_316"] != base["vidur_op_316"]


def test_chips_with_few_rows_are_calibration_input_not_an_error_figure():
    case = ValidationCase("x", "s", "mi300x", "gemm", None, 1.0, True, "flop_per_s")
    groups = summarize_groups([Scored(case, 1.0, 1.5)])
    chip = next(g for g in groups if g["group"] == "chip")
    assert chip["status"] == CALIBRATION_INPUT and chip["in_sample_mape"] is None
    assert chip["held_out_mape"] == pytest.approx(50.0)


UNKNOWN_PART = "Acme XPU-9 (no such chip)"


def _rename_part(rows: list[dict[str, str]], row_id: str) -> None:
    """Give one row a part no preset matches, so the unmapped path is exercised."""
    (row,) = [row for row in rows if row["id"] == row_id]
    row["hardware"] = UNKNOWN_PART


def test_data_with_copies_of_packaged_rows_reproduces_their_predictions(tmp_path):
    ids = ["vidur_op_316", "mamf_179", "mamf_160"]
    header, rows = _packaged_rows(ids)
    _rename_part(rows, "mamf_160")  # every packaged part has a preset now
    path = _write(tmp_path / "mine.csv", header, rows)
    result = _cli("gemm", "--data", str(path), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    cases = {c.row_id: c for c in load_cases()}
    predicted = {row["id"]: row for row in out["rows"]}
    for row_id in ("vidur_op_316", "mamf_179"):
        assert predicted[row_id]["predicted"] == evaluate(cases[row_id]).predicted
        assert predicted[row_id]["fitted"] is True
        assert predicted[row_id]["interval"] is None
        assert predicted[row_id]["predicted_held_out"] is not None
    assert out["unmapped"] == [{"id": "mamf_160", "reason": f"no preset for {UNKNOWN_PART}"}]
    assert {"in_sample_mape", "held_out_mape"} <= set(out["groups"][0])


def test_train_data_with_copies_of_packaged_rows_reproduces_their_predictions(tmp_path):
    from tigris.validate.train import evaluate_case, load_train_cases

    ids = ["meg21_t1_1", "meg21_t1_1_agg", "mpt_101"]
    header, rows = _packaged_rows(ids)
    path = _write(tmp_path / "mine.csv", header, rows)
    result = _cli("train", "--data", str(path), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    cases = {c.row_id: c for c in load_train_cases()}
    for row in out["rows"]:
        assert row["predicted"] == evaluate_case(cases[row["id"]]).predicted
    assert [u["id"] for u in out["unmapped"]] == ["meg21_t1_1_agg"]


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda row: row.pop("notes"), "notes"),
        (lambda row: row.update(metric_value="n/a"), "metric_value"),
    ],
)
def test_a_bad_data_file_exits_2_naming_the_file_and_column(tmp_path, change, column):
    header, rows = _packaged_rows(["vidur_op_316"])
    for row in rows:
        change(row)
    header = [h for h in header if h in rows[0]]
    path = _write(tmp_path / "bad.csv", header, rows)
    result = _cli("gemm", "--data", str(path), "--json", "--quiet")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bad.csv" in result.stderr and column in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert result.stdout == ""


@pytest.fixture(scope="module")
def gemm_groups():
    found = validate_gemm(holdout="source")
    return found, summarize_groups(s for s in found.scored if s.case.category == "gemm")


def test_gemm_held_out_by_source_stays_usable(gemm_groups):
    """Every source's held-out gemm MAPE below 50 %: a prediction off by more than half is
    of no use for choosing a chip, so above that the refit path is broken. (The issue's
    target for unseen GEMMs, 12 % overall, is checked in the next test.)"""
    found, groups = gemm_groups
    sources = [g for g in groups if g["group"] == "source"]
    assert len(sources) == 3
    assert all(g["held_out_mape"] < 50.0 for g in sources), sources
    assert all(g["rows"] == sum(s.case.source == g["name"] and s.case.category == "gemm"
                                for s in found.scored) for g in sources)  # fmt: skip


@pytest.mark.xfail(
    strict=True,
    reason="held-out gemm MAPE is 15.7 % by source, 12.5 % by chip (issue 14: 12 %); "
    "LLMCompass A100/MI210 rows held out at 35 %",
)
def test_gemm_held_out_meets_the_issue_target(gemm_groups):
    (overall,) = [g for g in gemm_groups[1] if g["group"] == "all"]
    assert overall["held_out_mape"] <= 12.0


def test_infer_data_with_copies_of_packaged_rows_reproduces_their_predictions(tmp_path):
    from tigris.validate.infer import evaluate_row, read_rows

    nvl = "mlpi_v4.1_ASUSTeK_ESC4000A_E12_4XH100_TRT_llama2-70b-99_Offline"
    llmcompass = [r["id"] for r in read_rows(("infer_cluster",)) if "LLMCompass" in r["source"]]
    header, rows = _packaged_rows([*llmcompass[:2], nvl])
    _rename_part(rows, nvl)  # H100 NVL has a preset now
    path = _write(tmp_path / "mine.csv", header, rows)
    result = _cli("infer", "--data", str(path), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    by_id = {row["id"]: row for row in rows}
    scored = [row for row in out["rows"] if row["predicted"] is not None]
    assert len(scored) == 2
    for row in scored:
        assert row["predicted"] == evaluate_row(by_id[row["id"]]).predicted
        assert row["predicted_held_out"] == evaluate_row(by_id[row["id"]], "source").predicted
    assert [u["id"] for u in out["unmapped"]] == [nvl]
    assert "no preset" in out["unmapped"][0]["reason"]


def test_gemm_holdout_chip_runs_and_a_bad_holdout_exits_2():
    result = _cli("gemm", "--holdout", "chip", "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["holdout"] == "chip"
    h100 = next(g for g in out["groups"] if g["category"] == "gemm" and g["name"] == "h100-sxm")
    assert h100["held_out_mape"] is not None and h100["in_sample_mape"] is not None
    bad = _cli("gemm", "--holdout", "row", "--json", "--quiet")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--holdout" in bad.stderr


def test_a_rows_interval_comes_from_other_groups_held_out_residuals():
    from tigris.validate.protocol import attach_intervals

    def row(i: int, source: str, measured: float) -> Scored:
        case = ValidationCase(f"r{i}", source, "c", "gemm", None, measured, False, "time_s")
        return Scored(case, 1.0, 1.0)

    rows = [row(i, f"s{i % 3}", 1.0 + 0.05 * i) for i in range(30)]
    base = attach_intervals(rows, "source")
    moved = attach_intervals([row(0, "s0", 50.0), *rows[1:]], "source")
    assert base[0].interval == moved[0].interval  # its own measurement: not used
    assert base[3].interval == moved[3].interval  # same source (s0): not used either
    assert base[1].interval != moved[1].interval  # another source's row: used
    assert base[0].interval["coverage"] == 0.8
    assert base[0].interval["low"] < base[0].interval["high"]
