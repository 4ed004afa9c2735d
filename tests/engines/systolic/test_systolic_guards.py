"""`tigris systolic` refuses runs that would exhaust memory or time, before allocating;
writes --trace safely; reports progress on stderr. The CLI runs in a subprocess, as a
user runs it, so exit codes and stderr are real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cli_run
from tigris.engines.systolic.budget import estimate_run
from tigris.engines.systolic.config import SystolicConfig


def run_tigris(*args: str, every_s: str | None = None) -> subprocess.CompletedProcess[str]:
    return cli_run.run_tigris("systolic", *args, every_s=every_s)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    cli_run.assert_user_error(result, *fragments, max_lines=2, no_stdout=True)


@pytest.mark.parametrize(
    "args",
    [
        ("100000", "100000", "100000", "--rows", "128", "--cols", "128", "--verify"),
        ("100000", "100000", "100000", "--rows", "1", "--cols", "1"),
        ("100", "100", "100", "--rows", "100000", "--cols", "100000"),
        ("100000", "100000", "100000", "--rows", "16", "--cols", "16", "--trace", "t.json"),
    ],
)
def test_runs_over_the_memory_limit_are_refused_with_the_estimate(args, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "systolic", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert_user_error(result, "--max-memory", "needs about", "GiB", "raises the limit")
    assert not (tmp_path / "t.json").exists()


def test_the_limit_is_the_options():
    small = ("64", "64", "64", "--rows", "8", "--cols", "8", "--verify", "--json")
    assert_user_error(run_tigris(*small, "--max-memory", "1KiB"), "--max-memory", "1 KiB")
    assert json.loads(run_tigris(*small).stdout)["verified"] is True


def test_runs_over_the_time_limit_are_refused():
    args = ("2048", "2048", "2048", "--rows", "128", "--cols", "128", "--dtype", "bf16")
    assert_user_error(run_tigris(*args, "--verify", "--max-time", "1s"), "--max-time", "would take")


def test_more_cycles_than_the_counters_hold_are_refused():
    result = run_tigris("1", "1", str(10**19), "--rows", "4", "--cols", "4")
    assert_user_error(result, "2^62")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("0", "4", "4", "--rows", "4", "--cols", "4"), "M"),
        (("4", "4", "4", "--rows", "-4", "--cols", "4"), "rows"),
        (("4", "4", "4", "--rows", "4", "--cols", "0"), "cols"),
        (("4", "4", "4", "--rows", "4", "--cols", "4", "--max-memory", "0GiB"), "--max-memory"),
        (("4", "4", "4", "--rows", "4", "--cols", "4", "--max-time", "8 GB"), "--max-time"),
    ],
)
def test_zero_negative_and_bad_limits_are_user_errors(args, fragment):
    assert_user_error(run_tigris(*args), fragment)


def test_estimate_grows_with_the_work():
    config = SystolicConfig(rows=8, cols=8)
    base = estimate_run(256, 256, 256, config)
    verified = estimate_run(256, 256, 256, config, compute=True)
    traced = estimate_run(256, 256, 256, config, fold_trace=True)
    assert base.num_folds == 32 * 32
    assert verified.memory_bytes > base.memory_bytes and verified.time_s > base.time_s
    assert traced.memory_bytes > base.memory_bytes
    # Python integers: any size is answered without allocating
    assert estimate_run(10**12, 10**12, 10**12, config).memory_bytes > 1e24


def test_trace_goes_through_the_safe_writer(tmp_path: Path):
    args = ("8", "8", "8", "--rows", "4", "--cols", "4", "--trace")
    target = tmp_path / "sub" / "trace.json"
    assert_user_error(run_tigris(*args, str(target)), "--trace", "--mkdir")
    assert not target.parent.exists()
    assert_user_error(run_tigris(*args, str(tmp_path)), "--trace", "directory")
    result = run_tigris(*args, str(target), "--mkdir")
    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text())["otherData"]["total_cycles"] > 0


def test_progress_on_stderr_and_quiet(tmp_path: Path):
    args = ("64", "64", "64", "--rows", "4", "--cols", "4", "--dram-bandwidth", "4")
    args += ("--verify", "--trace", str(tmp_path / "t.json"), "--json")
    loud = run_tigris(*args, every_s="0")
    assert loud.returncode == 0, loud.stderr
    json.loads(loud.stdout)  # stdout carries only the JSON
    for label in ("scheduling folds:", "computing C (MACs):", "writing the fold trace:"):
        assert label in loud.stderr, loud.stderr
    quiet = run_tigris(*args, "--quiet", every_s="0")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout) == json.loads(loud.stdout)
