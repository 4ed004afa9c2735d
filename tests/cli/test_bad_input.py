"""Each kind of bad input exits 2 with a one- or two-line message naming file and key path.

The CLI runs in a subprocess, as a user would run it, so exit codes and stderr are real.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tigris.hardware.presets import chip_path

H100 = chip_path("h100-sxm").read_text()


def run_tigris(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args], capture_output=True, text=True, timeout=120
    )


def write_chip(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chip.yaml"
    path.write_text(text)
    return str(path)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())  # rich may wrap long lines
    assert 1 <= len(result.stderr.strip().splitlines()) <= 4  # one or two lines, maybe wrapped
    for fragment in fragments:
        assert fragment in message, message


def test_duplicate_key(tmp_path: Path) -> None:
    path = write_chip(tmp_path, H100.replace("tdp: 700 W", "tdp: 700 W\ntdp: 650 W"))
    assert_user_error(run_tigris("show", path), path, "tdp", "duplicate key")


def test_bandwidth_as_bare_number(tmp_path: Path) -> None:
    text = H100.replace("bandwidth: 3.35 TB/s", "bandwidth: 3350000000000")
    path = write_chip(tmp_path, text)
    assert_user_error(run_tigris("show", path), path, "memory.dram.bandwidth", "no unit")


def test_ambiguous_tbps(tmp_path: Path) -> None:
    path = write_chip(tmp_path, H100.replace("bandwidth: 3.35 TB/s", "bandwidth: 3.35 TBps"))
    assert_user_error(run_tigris("show", path), path, "memory.dram.bandwidth", "ambiguous", "TB/s")


def _replaced(old: str, new: str) -> str:
    """The H100 preset with one line changed (the line must be there: else the test would
    run on a valid chip)."""
    assert old in H100, old
    return H100.replace(old, new)


def test_negative_capacity(tmp_path: Path) -> None:
    path = write_chip(tmp_path, _replaced("capacity: 81559 MiB", "capacity: -80 GB"))
    assert_user_error(run_tigris("show", path), path, "memory.dram.capacity", "positive")


def test_unknown_field(tmp_path: Path) -> None:
    path = write_chip(tmp_path, H100.replace("tdp: 700 W", "tdp: 700 W\nturbo_mode: true"))
    assert_user_error(run_tigris("show", path), path, "turbo_mode", "unknown field")


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.yaml")
    assert_user_error(run_tigris("show", path), path, "file not found")


def test_unknown_chip_id_suggests_nearest() -> None:
    assert_user_error(
        run_tigris("gemm", "8", "8", "8", "--chip", "h100-smx"), "unknown chip", "h100-sxm"
    )


@pytest.mark.parametrize("bad", ["matrix.clock=fast", "memory.dram.bandwidth=3", "matrix.clock="])
def test_bad_override(bad: str) -> None:
    result = run_tigris("show", "h100-sxm", "--set", bad)
    assert_user_error(result, bad.split("=")[0])


def test_unsupported_dtype_is_a_user_error() -> None:
    assert_user_error(
        run_tigris("gemm", "64", "64", "64", "--chip", "h100-sxm", "--dtype", "fp4"), "fp4"
    )


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("num_sms: 132", "num_sms: true", "matrix.num_sms"),
        ("year: 2022", "year: false", "year"),
    ],
)
def test_a_yes_no_where_a_number_belongs(tmp_path: Path, old: str, new: str, where: str) -> None:
    """pydantic reads true as 1: a one-SM H100 would pass unseen."""
    assert old in H100
    path = write_chip(tmp_path, H100.replace(old, new, 1))
    assert_user_error(run_tigris("show", path), path, where, "expected a number")
