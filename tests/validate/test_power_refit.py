"""`python -m tigris.validate.power_score`, the entry point that regenerates the shipped
power_fit.json and power_interval.json: a bad output path fails at once, before any row
is run, and writes nothing."""

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tigris.validate.power_score", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("option", ["--write-fit-dev", "--write-intervals"])
def test_a_missing_folder_fails_before_the_work(tmp_path: Path, option: str) -> None:
    target = tmp_path / "missing" / "out.json"
    result = _run(option, str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and option in result.stderr
    assert not target.parent.exists()


def test_a_directory_is_refused_and_kept(tmp_path: Path) -> None:
    result = _run("--write-fit-dev", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--write-fit-dev" in result.stderr and tmp_path.is_dir()
