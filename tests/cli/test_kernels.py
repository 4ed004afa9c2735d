"""`tigris attention|collective|stream` and `tigris validate attention|collectives` in a
subprocess: valid input prints the figures and an `interval`; bad input is one line naming
the option, exit 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tigris.validate.protocol import default_measured_csv


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2, result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message


def _interval_around(data: dict) -> None:
    interval = data["interval"]
    assert interval["metric"] == "time_s" and interval["coverage"] == 0.8
    assert 0 < interval["low"] < interval["high"]
    assert "held-out" in interval["basis"]


ATTENTION = ("attention", "--batch", "4", "--heads", "32", "--head-dim", "128")


def test_attention_json() -> None:
    result = run_tigris(
        *ATTENTION, "--chip", "h100-sxm", "--kv-heads", "8", "--seq-len", "4096",
        "--phase", "fwd+bwd", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["bound"] in ("compute", "memory", "overhead")
    assert len(data["kernels"]) == 2
    assert data["achieved_flop_per_s"] == pytest.approx(data["flop"] / data["time_s"])
    _interval_around(data)


def test_unmeasured_chip_gets_the_chip_held_out_basis() -> None:
    result = run_tigris(*ATTENTION, "--chip", "tpu-v5p", "--seq-len", "2048", "--json")
    assert result.returncode == 0, result.stderr
    assert "by chip" in json.loads(result.stdout)["interval"]["basis"]


def test_collective_json() -> None:
    result = run_tigris(
        "collective", "--system", "dgx-h100", "--kind", "all_reduce", "--bytes", "1 GiB",
        "--ranks", "8", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["bytes"] == 2**30
    # nccl-tests: bus bandwidth = algorithm bandwidth x 2 (n - 1) / n for all-reduce
    assert data["bus_bandwidth_bytes_per_s"] == pytest.approx(
        data["algorithm_bandwidth_bytes_per_s"] * 2 * 7 / 8
    )
    assert "NVLink" in data["tier"]
    _interval_around(data)


def test_stream_json() -> None:
    result = run_tigris(
        "stream", "--chip", "h100-sxm", "--read-bytes", "1 GB", "--write-bytes", "1000000000",
        "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["achieved_bytes_per_s"] < data["peak_bytes_per_s"]
    assert data["bound"] == "memory"
    _interval_around(data)


H100_ATTENTION = (*ATTENTION, "--chip", "h100-sxm", "--seq-len", "64")
COLLECTIVE = ("collective", "--system", "dgx-h100")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ((*H100_ATTENTION, "--kv-heads", "5"), ("--kv-heads",)),
        ((*H100_ATTENTION, "--impl", "flash9"), ("--impl", "flash2")),
        ((*H100_ATTENTION, "--kv-len", "8"), ("--kv-len",)),
        ((*H100_ATTENTION, "--phase", "up"), ("--phase",)),
        ((*COLLECTIVE, "--kind", "gather", "--bytes", "8", "--ranks", "8"), ("--kind",)),
        ((*COLLECTIVE, "--kind", "all_reduce", "--bytes", "-1", "--ranks", "8"), ("--bytes",)),
        ((*COLLECTIVE, "--kind", "all_reduce", "--bytes", "8", "--ranks", "1"), ("--ranks",)),
        (("stream", "--chip", "h100-sxm", "--read-bytes", "lots"), ("--read-bytes",)),
        (("stream", "--chip", "h100-sxm"), ("--read-bytes", "nothing to move")),
    ],
)
def test_bad_input_names_the_option(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_user_error(run_tigris(*args), *fragments)


def _rows_of(category: str, count: int) -> list[dict[str, str]]:
    with open(default_measured_csv(), newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["category"] == category]
    return rows[:count]


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("command", ["attention", "collectives"])
def test_validate_with_data_and_chip_holdout(tmp_path: Path, command: str) -> None:
    category = "attention" if command == "attention" else "collective"
    rows = _rows_of(category, 6)
    rows[0] = rows[0] | {"id": "mine_bad", "hardware": "Some Future GPU"}
    data = _write_csv(tmp_path / "mine.csv", rows)
    result = run_tigris(
        "validate", command, "--data", str(data), "--holdout", "chip", "--quiet", "--json"
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["holdout"] == "chip"
    scored = [row for row in found["rows"] if row["predicted"] is not None]
    assert len(scored) == 5
    for row in scored:
        assert {"id", "measured", "predicted", "fitted", "interval"} <= set(row)
    assert [u["id"] for u in found["unmapped"]] == ["mine_bad"]
    assert "Some Future GPU" in found["unmapped"][0]["reason"]
    groups = {(g["group"], g["name"]): g for g in found["groups"]}
    assert groups["all", "all"]["rows"] == 5
    assert {"in_sample_mape", "held_out_mape"} <= set(groups["all", "all"])


def test_validate_bad_holdout() -> None:
    assert_user_error(run_tigris("validate", "attention", "--holdout", "row"), "--holdout")
