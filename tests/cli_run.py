"""Running the `tigris` command as a user does, in a subprocess, and checking that a user
mistake ends as one: exit 2, no traceback, a short message naming what was wrong.

Shared by the command-line tests of every package (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_tigris(
    *args: str,
    cwd: Path | str | None = None,
    every_s: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m tigris ARGS`; `every_s` sets TIGRIS_PROGRESS_EVERY_S (0: a progress line
    at every update, so a test sees one at once)."""
    env = dict(os.environ)
    if every_s is not None:
        env["TIGRIS_PROGRESS_EVERY_S"] = every_s
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_user_error(
    result: subprocess.CompletedProcess[str],
    *fragments: str,
    max_lines: int = 4,
    no_stdout: bool = False,
) -> None:
    """Exit 2, no traceback, 1..max_lines lines on stderr (rich may wrap a long line), each
    fragment in the message; with `no_stdout`, nothing on stdout."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= max_lines, result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message
    if no_stdout:
        assert result.stdout == ""


def live_processes() -> dict[int, tuple[int, int]]:
    """Every process not yet a zombie: pid -> (parent pid, session id), read from
    /proc/PID/stat (Linux), for the tests that check no worker outlives its command."""
    found: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone between listing and reading
        fields = stat.rsplit(")", 1)[1].split()  # the name in () may hold spaces
        if fields[0] != "Z":
            found[int(entry)] = (int(fields[1]), int(fields[3]))
    return found


def csv_rows(path: Path, keep) -> tuple[list[dict[str, str]], list[str]]:  # type: ignore[no-untyped-def]
    """The rows of a measured-data CSV whose dict `keep` accepts, and its header."""
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return [row for row in reader if keep(row)], list(reader.fieldnames or [])


def validate_rows(
    tmp_path: Path, category: str, rows: list[dict[str, str]], fields: list[str]
) -> dict:
    """`tigris validate CATEGORY --data` on `rows` alone (written to a CSV under tmp_path):
    exit 0, no traceback; the parsed --json."""
    import csv
    import json

    data = tmp_path / "rows.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    run = run_tigris("validate", category, "--data", str(data), "--json", "--quiet")
    assert run.returncode == 0, run.stderr[-1000:]
    assert "Traceback" not in run.stderr
    return json.loads(run.stdout)
