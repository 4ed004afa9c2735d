"""JetStream / MLPerf GPT-J throughput rows (tigris.validate.infer_tpu): every row of
data/measured-tpu-inference.csv is scored or listed with a reason, nothing fitted."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tigris.validate.infer import evaluate_row, source_family
from tigris.validate.protocol import read_measured

DATA = Path(__file__).resolve().parents[2] / "data" / "measured-tpu-inference.csv"


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_parses_in_the_measured_schema_with_sources():
    rows = read_measured(DATA, ("infer_cluster",))
    assert len(rows) == len(_rows()) == 8
    assert all(row["source"] and row["source_locator"] for row in rows)


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["id"])
def test_every_row_is_scored_or_has_a_reason(row):
    result = evaluate_row(row)
    if "jetstream" in row["id"]:
        assert source_family(row) == "JetStream"
        assert result.skipped is None
        # held out, nothing fitted: the prediction is a plausible throughput, not a copy
        assert 0.3 < result.predicted / result.measured < 3.0
    else:
        assert "beam search" in result.skipped


def test_int8_row_is_faster_than_its_bf16_row():
    by_id = {row["id"]: row for row in _rows()}
    bf16 = evaluate_row(by_id["jetstream_pt_llama2_7b_bf16"]).predicted
    int8 = evaluate_row(by_id["jetstream_pt_llama2_7b_int8"]).predicted
    assert int8 > bf16


def test_cli_scores_the_file():
    done = subprocess.run(
        [sys.executable, "-m", "tigris", "validate", "infer", "--data", str(DATA), "--quiet",
         "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    scored = {row["row_id"] for row in report["rows"]}
    unmapped = {row["id"] for row in report["unmapped"]}
    assert scored | unmapped == {row["id"] for row in _rows()}
