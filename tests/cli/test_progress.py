"""Progress on a non-terminal stream: plain lines, a heartbeat during long work, silent
when quiet."""

from __future__ import annotations

import io
import time

from tigris.cli.progress import Progress


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_heartbeat_writes_while_one_unit_of_work_runs_long() -> None:
    stream = io.StringIO()
    with Progress("rows", 3, every_s=0.05, stream=stream) as progress:
        progress.update(1)
        time.sleep(0.4)  # one long row: no update, yet the log must not go silent
    lines = _lines(stream)
    assert len(lines) >= 3, lines
    assert all(line.startswith("rows: 1/3 (33%)") for line in lines[:-1]), lines
    assert lines[-1].endswith("done")


def test_quiet_writes_nothing() -> None:
    stream = io.StringIO()
    with Progress("rows", 3, quiet=True, every_s=0.01, stream=stream) as progress:
        for done in range(4):
            progress.update(done)
            time.sleep(0.02)
    assert stream.getvalue() == ""


def test_every_update_a_line_when_every_s_is_zero() -> None:
    stream = io.StringIO()
    with Progress("designs", every_s=0, stream=stream) as progress:
        for done in (1, 2, 5):
            progress.update(done, total=10)
    assert _lines(stream) == [line for line in _lines(stream) if line.startswith("designs: ")] and [
        line.split(",")[0] for line in _lines(stream)
    ] == [
        "designs: 1/10 (10%)",
        "designs: 2/10 (20%)",
        "designs: 5/10 (50%)",
        "designs: 5/10 (50%)",
    ]


def test_fast_work_prints_nothing() -> None:
    stream = io.StringIO()
    with Progress("rows", 2, every_s=5, stream=stream) as progress:
        progress.update(2)
    assert stream.getvalue() == ""
