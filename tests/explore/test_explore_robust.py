"""`tigris explore run` for real users: a huge sweep is refused with its cost, workers die
with the command, Ctrl-C and SIGTERM keep what was stored and say how to resume, an
unreachable Ray cluster fails fast, output paths are checked before any work, and a sweep
whose every design fails says why."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from explore_sweeps import write_sweep

from cli_run import live_processes
from tigris.explore import Store, load_sweep
from tigris.explore.samplers import GridSampler

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /proc")

HUGE = """
name: huge
base: tigris-1
axes:
  matrix.clock: {range: ['1 GHz', '2 GHz'], num: 1024}
  matrix.rows: {range: [16, 1039], num: 1024}
  matrix.cols: {range: [16, 1039], num: 1024}
workloads:
  - {task: synthetic, function: zdt1, inputs: [matrix.clock, matrix.rows, matrix.cols]}
objectives:
  - {metric: f1, goal: min}
  - {metric: f2, goal: min}
search: {sampler: grid, batch: 256}
"""

SMALL = """
name: small
base: tigris-1
axes:
  matrix.rows: [64, 128]
workloads:
  - {task: prefill, model: llama3-8b, prompt_len: 128}
CONSTRAINTS
objectives:
  - {metric: tokens_per_s, goal: max}
"""


def tigris(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tigris", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(*args: str) -> subprocess.Popen[str]:
    """A tigris command in its own session, with SIGINT at its default (a shell may start
    background jobs ignoring it, and Python installs its handler only over the default)."""

    def reset() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        [sys.executable, "-m", "tigris", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=reset,
    )


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`."""
    return [child for child, (parent, _) in live_processes().items() if parent == pid]


def alive(pids: list[int]) -> list[int]:
    living = live_processes()
    return [pid for pid in pids if pid in living]


def wait_for_children(process: subprocess.Popen[str], count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = children(process.pid)
        if len(found) >= count:
            return found
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    raise AssertionError("the workers never started")


# ---------------------------------------------------------------------------- size


def test_a_huge_sweep_is_refused_with_its_cost(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, HUGE)
    db = tmp_path / "huge.duckdb"
    began = time.monotonic()
    result = tigris("explore", "run", str(sweep), "--db", str(db))
    assert time.monotonic() - began < 30
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 2
    assert "1,073,741,824 designs x 1 workload" in lines[0]
    assert " h " in lines[0] or "days" in lines[0]
    assert "GB of results" in lines[0]
    assert "--max-designs" in lines[0]
    assert not db.exists()


def test_a_part_of_a_huge_sweep_runs(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, HUGE)
    db = tmp_path / "huge.duckdb"
    result = tigris("explore", "run", str(sweep), "--db", str(db), "--samples", "300", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["designs"] == 300


def test_the_limit_is_an_option(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", ""))
    db = tmp_path / "small.duckdb"
    refused = tigris("explore", "run", str(sweep), "--db", str(db), "--max-designs", "1")
    assert refused.returncode == 2
    assert "2 designs x 1 workload" in refused.stderr
    assert not db.exists()
    allowed = tigris("explore", "run", str(sweep), "--db", str(db), "--max-designs", "2")
    assert allowed.returncode == 0, allowed.stderr


def test_the_grid_is_generated_lazily(tmp_path: Path) -> None:
    """A billion-design grid hands out its first batches at once, in order, holding none
    of the rest (the sampler is an iterator over the axes' product)."""
    sweep = load_sweep(write_sweep(tmp_path, HUGE))
    began = time.monotonic()
    sampler = GridSampler(sweep, set())
    first = sampler.ask(256)
    second = sampler.ask(256)
    assert time.monotonic() - began < 1
    assert len(first) == len(second) == 256
    assert first[0]["matrix.cols"] == 16 and first[1]["matrix.cols"] == 17
    assert second[0]["matrix.cols"] == 16 + 256
    held = [v for v in vars(sampler).values() if isinstance(v, (list, tuple, set, dict))]
    assert all(len(value) <= len(sweep.axes) for value in held)


# ---------------------------------------------------------------------------- processes


def explore_run(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    sweep = write_sweep(tmp_path, HUGE)
    return start(
        "explore",
        "run",
        str(sweep),
        "--db",
        str(tmp_path / "huge.duckdb"),
        "--samples",
        "500000",
        *extra,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.parametrize("command", ["explore", "compare"])
def test_workers_die_with_the_command(tmp_path: Path, command: str, sig: int) -> None:
    if command == "explore":
        process = explore_run(tmp_path, "--workers", "2")
    else:
        process = start("compare", "--quiet")  # as many workers as cores (2 tasks or more)
    try:
        workers = wait_for_children(process, 2 if command == "explore" else 1)
        process.send_signal(sig)
        process.wait(timeout=30)
        deadline = time.monotonic() + 5
        while alive(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {pid: Path(f"/proc/{pid}/stat").read_text()[:80] for pid in alive(workers)}
        assert not left, (
            f"workers left after {sig!r} to the {command} command: {left}; "
            f"exit {process.returncode}; stderr: {process.communicate()[1][-2000:]}"
        )
    finally:
        if process.poll() is None:
            process.kill()
        for pid in alive(children(process.pid)):
            os.kill(pid, signal.SIGKILL)
        process.communicate()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_keeps_the_rows_and_says_how_to_resume(
    tmp_path: Path, sig: int, code: int
) -> None:
    process = explore_run(tmp_path, "--workers", "2", "--json")
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if line.startswith("stored "):  # rows are in the file
                break
        workers = children(process.pid)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 2, stderr
    db = tmp_path / "huge.duckdb"
    sweep = load_sweep(tmp_path / "sweep.yaml")
    with Store(db, read_only=True) as store:
        stored = store.count(sweep.sweep_hash)
    assert stored > 0
    assert lines[0] == f"interrupted: {stored:,} designs of sweep huge stored in {db}"
    assert lines[1].startswith("resume with: tigris explore run ")
    resume = shlex.split(lines[1].removeprefix("resume with: "))
    assert resume[3:] == [
        str(tmp_path / "sweep.yaml"),
        "--db",
        str(db),
        "--samples",
        "500000",
        "--workers",
        "2",
        "--json",
    ]
    time.sleep(0.5)
    assert alive(workers) == []


def test_the_resume_command_finishes_the_run(tmp_path: Path) -> None:
    sweep_path = write_sweep(tmp_path, HUGE)
    db = tmp_path / "huge.duckdb"
    process = start(
        "explore", "run", str(sweep_path), "--db", str(db), "--samples", "30000", "--json"
    )
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if line.startswith("stored "):
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    resume = shlex.split(stderr.strip().splitlines()[-1].removeprefix("resume with: "))
    assert resume[:3] == ["tigris", "explore", "run"]
    finished = tigris(*resume[1:])
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["designs"] == 30000
    assert 0 < report["new"] < 30000


# ---------------------------------------------------------------------------- ray


def test_an_unreachable_ray_cluster_fails_fast(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra")
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", ""))
    db = tmp_path / "ray.duckdb"
    began = time.monotonic()
    result = tigris("explore", "run", str(sweep), "--db", str(db), "--ray", "127.0.0.1:1")
    assert time.monotonic() - began < 30
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "--ray" in result.stderr and "127.0.0.1:1" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert list(tmp_path.iterdir()) == [sweep]


# ---------------------------------------------------------------------------- files


def test_results_in_a_missing_folder(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", ""))
    db = tmp_path / "new" / "r.duckdb"
    result = tigris("explore", "run", str(sweep), "--db", str(db))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--db" in result.stderr and "--mkdir" in result.stderr
    assert not (tmp_path / "new").exists()
    made = tigris("explore", "run", str(sweep), "--db", str(db), "--mkdir", "--quiet")
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""
    assert db.is_file() and db.with_suffix(".pareto.html").is_file()


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_results_over_a_directory_or_fifo(tmp_path: Path, kind: str) -> None:
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", ""))
    db = tmp_path / "r.duckdb"
    if kind == "directory":
        db.mkdir()
    else:
        os.mkfifo(db)
    result = tigris("explore", "run", str(sweep), "--db", str(db), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "--db" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.duckdb", "sweep.yaml"]


def test_show_html_checks_its_path_first(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", ""))
    db = tmp_path / "r.duckdb"
    assert tigris("explore", "run", str(sweep), "--db", str(db), "--json").returncode == 0
    (tmp_path / "page").mkdir()
    refused = tigris("explore", "show", str(db), "--html", str(tmp_path / "page"))
    assert refused.returncode == 2
    assert "--html" in refused.stderr and "directory" in refused.stderr
    missing = tigris("explore", "show", str(db), "--html", str(tmp_path / "no" / "p.html"))
    assert missing.returncode == 2 and "--mkdir" in missing.stderr
    made = tigris("explore", "show", str(db), "--html", str(tmp_path / "no" / "p.html"), "--mkdir")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "no" / "p.html").is_file()


def test_progress_is_on_stderr_only(tmp_path: Path) -> None:
    """Not on a terminal: stdout holds the summary alone; stderr progress lines (if the
    run is long enough for one) and nothing with --quiet."""
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", ""))
    result = tigris("explore", "run", str(sweep), "--db", str(tmp_path / "r.duckdb"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "sweep small" in result.stdout


# ---------------------------------------------------------------------------- bad sweeps


def test_a_missing_base_chip_file(tmp_path: Path) -> None:
    text = SMALL.replace("CONSTRAINTS", "").replace("base: tigris-1", "base: chips/none.yaml")
    sweep = write_sweep(tmp_path, text)
    result = tigris("explore", "run", str(sweep), "--db", str(tmp_path / "r.duckdb"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert str(sweep) in first and "base" in first and "none.yaml" in first
    assert list(tmp_path.iterdir()) == [sweep]


def test_unknown_key_in_the_sweep(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, SMALL.replace("CONSTRAINTS", "objectivez: 1"))
    result = tigris("explore", "run", str(sweep), "--db", str(tmp_path / "r.duckdb"))
    assert result.returncode == 2
    assert "objectivez" in result.stderr and "Traceback" not in result.stderr


def test_a_sweep_whose_every_design_fails_says_why(tmp_path: Path) -> None:
    """A bound no design meets (known only after evaluation): the rows are kept, the
    command exits 3 with the most common reason in one line. `1e12` is a number even
    where YAML reads it as text."""
    text = SMALL.replace("CONSTRAINTS", "constraints:\n  - {metric: tokens_per_s, min: 1e12}")
    sweep = write_sweep(tmp_path, text)
    db = tmp_path / "r.duckdb"
    result = tigris("explore", "run", str(sweep), "--db", str(db))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "none of the 2 designs is feasible" in lines[0]
    assert "tokens_per_s < min 1e+12" in lines[0]
    assert db.is_file()
