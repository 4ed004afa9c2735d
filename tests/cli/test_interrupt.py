"""Ctrl-C: one line 'interrupted' on stderr and exit 130, no traceback; a command that
catches KeyboardInterrupt itself says what it wants and is not followed by a second line.

The CLI runs in a subprocess with a test command added to the real app, which says
'ready' on stderr and then sleeps, so that SIGINT arrives inside the command."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SLEEPER = """
import sys, time
import typer
import tigris.cli as cli

@cli.app.command("sleep-test")
def sleep_test(catch: bool = typer.Option(False, "--catch")) -> None:
    try:  # 'ready' inside the try: a SIGINT sent the moment it is read lands in here
        print("ready", file=sys.stderr, flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        if not catch:
            raise
        print("stopped: 3 rows kept", file=sys.stderr, flush=True)
        raise typer.Exit(130) from None

sys.argv = ["tigris", *sys.argv[1:]]
cli.main()
"""


def _interrupt(*args: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SLEEPER, "sleep-test", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell may start background jobs with SIGINT ignored; the test needs Python's
        # own handler, which it installs only when SIGINT is at its default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    try:
        assert process.stderr.readline().strip() == "ready"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_ctrl_c_is_one_line_and_exit_130() -> None:
    result = _interrupt()
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["interrupted"]


def test_a_command_that_handles_ctrl_c_keeps_its_own_message() -> None:
    result = _interrupt("--catch")
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines() == ["stopped: 3 rows kept"]
