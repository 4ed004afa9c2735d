"""Kill a running sweep with SIGKILL, run the same command again: it resumes, keeps every
row written before the kill unchanged, evaluates only what is missing, duplicates none."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from explore_sweeps import PREFILL, write_sweep

from tigris.explore import Store, load_sweep


def command(sweep: Path, db: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tigris.cli.explore",
        "run",
        str(sweep),
        "--db",
        str(db),
        "--json",
    ]


def rows_by_id(db: Path, sweep_hash: str) -> dict[str, tuple]:
    with Store(db, read_only=True) as store:
        rows = store.evaluations(sweep_hash)
        assert store.count(sweep_hash) == len(rows)
    by_id = {row.design_id: (row.params, row.status, row.reason, row.objectives) for row in rows}
    assert len(by_id) == len(rows), "duplicated design"
    return by_id


def test_sigkill_then_rerun_resumes(tmp_path: Path) -> None:
    sweep_path = write_sweep(tmp_path, PREFILL, num_bw=24, batch=16)
    sweep = load_sweep(sweep_path)
    total = sweep.space.size
    db = tmp_path / "results.duckdb"

    process = subprocess.Popen(
        command(sweep_path, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # with --json the run reports each commit on stderr once its rows are in the file: kill
    # it after the first (a WAL size is no such sign: a batch half written is not committed)
    for line in process.stderr:
        if line.startswith("stored "):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"

    before = rows_by_id(db, sweep.sweep_hash)
    assert 0 < len(before) < total

    rerun = subprocess.run(command(sweep_path, db), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    after = rows_by_id(db, sweep.sweep_hash)

    assert len(after) == total == report["designs"]
    assert report["new"] == total - len(before)
    for design, row in before.items():
        assert after[design] == row


def test_adding_rows_already_stored_keeps_one_of_each(tmp_path: Path) -> None:
    """Store.add tries the plain insert first; a batch overlapping stored rows falls back to
    skipping those, and still stores the new ones."""
    import random

    from tigris.explore import Evaluator
    from tigris.explore.evaluate import encode_rows

    sweep = load_sweep(write_sweep(tmp_path, PREFILL, batch=8, num_bw=3))
    rng = random.Random(1)
    designs = [{a.path: rng.choice(a.values) for a in sweep.axes} for _ in range(30)]
    rows = list({row.design_id: row for row in Evaluator(sweep).evaluate_batch(designs)}.values())
    rows = encode_rows(rows)
    assert len(rows) >= 6
    half = len(rows) // 2
    with Store(tmp_path / "results.duckdb") as store:
        store.register_sweep(sweep)
        store.add(sweep.sweep_hash, rows[:half], 0)
        store.add(sweep.sweep_hash, rows[half // 2 :], half)  # overlaps the first batch
        stored = {row.design_id for row in store.evaluations(sweep.sweep_hash)}
        assert store.count(sweep.sweep_hash) == len(rows)
    assert stored == {row.design_id for row in rows}
