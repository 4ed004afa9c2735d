"""data/measured-moe.csv: published MoE measurements, their split, and that `tigris validate
infer|train --data` accounts for every row (scored, or unmapped with a reason).

No tolerance on the errors: they are reported (data/measured-moe.md), not asserted."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "measured-moe.csv"
PACKAGED = ROOT / "src" / "tigris" / "validate" / "data" / "measured.csv"
SPLIT_SEED = 16  # data/measured-moe.md: the held-out sources are drawn with this seed


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _split(row: dict[str, str]) -> str:
    return row["notes"].rsplit("split=", 1)[-1]


def test_header_is_the_calibration_schema():
    with DATA.open(encoding="utf-8") as mine, PACKAGED.open(encoding="utf-8") as theirs:
        assert mine.readline() == theirs.readline()


def test_every_row_is_sourced_and_positive():
    rows = _rows()
    assert len(rows) >= 25
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({row["source"] for row in rows}) >= 4
    for row in rows:
        for column in ("source", "source_locator", "category", "hardware", "model", "notes"):
            assert row[column].strip(), (row["id"], column)
        assert float(row["metric_value"]) > 0, row["id"]
        assert int(row["num_chips"]) >= 1, row["id"]


def test_held_out_rows_follow_the_stated_rule():
    """Sources shuffled with the seed, taken in order until at least half the rows are
    held out; every row of a source carries its source's mark."""
    rows = _rows()
    order = sorted({row["source"] for row in rows})
    random.Random(SPLIT_SEED).shuffle(order)
    held, count = set(), 0
    for source in order:
        if 2 * count >= len(rows):
            break
        held.add(source)
        count += sum(row["source"] == source for row in rows)
    for row in rows:
        assert _split(row) == ("HELD OUT" if row["source"] in held else "development"), row["id"]
    assert 2 * count >= len(rows)


def _validate(command: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "tigris", "validate", command, "--data", str(DATA), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize(
    ("command", "categories"),
    [("infer", ("infer_chip", "infer_cluster")), ("train", ("train_cluster",))],
)
def test_validate_accounts_for_every_row(command, categories):
    out = _validate(command)
    wanted = {row["id"] for row in _rows() if row["category"] in categories}
    unmapped = {item["id"]: item["reason"] for item in out["unmapped"]}
    scored = {row["id"] for row in out["rows"] if row["id"] not in unmapped}
    assert all(reason.strip() for reason in unmapped.values())
    assert scored | set(unmapped) == wanted
    assert not scored & set(unmapped)
    for row in out["rows"]:
        if row["id"] in scored:
            assert row["error_pct"] is not None, row["id"]


# data/measured-moe.md, "a second split": inside the TensorRT-LLM v0.9.0 rows the H100 and
# A100 rows develop a mechanism, the H200 and L40S rows are held out from that choice.
TRTLLM_DEVELOPMENT_CHIPS = ("h100", "a100")
TRTLLM_HELD_OUT_CHIPS = ("h200", "l40s")


def test_trtllm_rows_split_by_chip_in_halves():
    rows = [row for row in _rows() if row["id"].startswith("trtllm09_mixtral_")]
    chips = [row["id"].split("_")[2] for row in rows]
    assert set(chips) == set(TRTLLM_DEVELOPMENT_CHIPS + TRTLLM_HELD_OUT_CHIPS)
    development = sum(chip in TRTLLM_DEVELOPMENT_CHIPS for chip in chips)
    assert 2 * development == len(rows)
