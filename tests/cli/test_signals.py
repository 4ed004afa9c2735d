"""Signals sent to a running command, as a user's Ctrl-C or a scheduler's SIGTERM would be.

Each test starts the CLI in a session of its own and signals it mid-work: it must end with
the signal's exit code, at most a one-line message, no traceback, no process of its session
left behind (worker processes included) and no partial output file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_run import live_processes

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

PREVIOUS = "<html>previous</html>"


def session_pids(sid: int) -> set[int]:
    """The live processes of session `sid`."""
    return {pid for pid, (_, session) in live_processes().items() if session == sid}


def wait_for_second_pool(proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    """Wait until a second set of worker processes appears (compare's figure pool, after
    its runner pool); False if the command ended first."""
    first: set[int] = set()
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        workers = session_pids(proc.pid) - {proc.pid}
        if workers and not first:
            first = workers
        elif workers and not workers & first:
            return True
        time.sleep(0.01)
    return False


def test_sigterm_while_compare_draws_figures_leaves_no_workers(tmp_path: Path) -> None:
    out = tmp_path / "X.html"
    out.write_text(PREVIOUS)
    for _attempt in range(3):  # the figure pool lives a fraction of a second
        proc = subprocess.Popen(
            [sys.executable, "-m", "tigris", "compare", "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            # progress lines are allowed on stderr, but on a loaded machine compare passes
            # the 5 s heartbeat: count only what SIGTERM itself makes compare print
            env={**os.environ, "TIGRIS_PROGRESS_EVERY_S": "3600"},
        )
        try:
            caught = wait_for_second_pool(proc)
            if caught:
                proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            time.sleep(2)
            left = session_pids(proc.pid)
        finally:
            for pid in session_pids(proc.pid):  # this test's own processes only
                os.kill(pid, signal.SIGKILL)
        if caught:
            break
        out.write_text(PREVIOUS)
    else:
        pytest.skip("compare finished before its figure workers could be signalled")
    assert not left, f"processes left after SIGTERM: {left}"
    assert proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 1
    assert out.read_text() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.html"]
