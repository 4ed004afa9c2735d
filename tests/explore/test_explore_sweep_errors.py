"""A bad sweep file is a SpecError naming file and key, raised before any design is
evaluated; on the command line it exits 2 in one or two lines and writes no results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from explore_sweeps import ZDT1, write_sweep

from tigris.errors import SpecError
from tigris.explore import load_sweep

BASE = """
name: bad
base: tigris-1
axes:
  AXES
CONSTRAINTS
workloads:
  - {task: prefill, model: llama3-8b, prompt_len: 128}
objectives:
  - {metric: tokens_per_s, goal: max}
"""


def sweep_text(axes: str = "matrix.rows: [64, 128]", constraints: str = "") -> str:
    return BASE.replace("AXES", axes).replace("CONSTRAINTS", constraints)


CASES = [
    (sweep_text("matrix.rowz: [64, 128]"), ["axes.matrix.rowz", "unknown field", "rows"]),
    (
        sweep_text("memory.sram.7.capacity: ['1 MiB']"),
        ["axes.memory.sram.7.capacity", "unknown path"],
    ),
    (sweep_text("matrix.rows: []"), ["axes.matrix.rows", "empty axis"]),
    (sweep_text("matrix.rows: {range: [256, 64], step: 64}"), ["axes.matrix.rows", "empty range"]),
    (sweep_text("matrix.rows: [64, 0]"), ["axes.matrix.rows", "greater than 0"]),
    (sweep_text("matrix.clock: ['2 GB']"), ["axes.matrix.clock", "frequency"]),
    (
        sweep_text(constraints="constraints:\n  - {metric: die_area, max: 100 mm2}"),
        ["constraints[0]", "impossible constraint", "die_area"],
    ),
    (
        sweep_text(constraints="constraints:\n  - {expr: matrix.rows * 2, min: 1000}"),
        ["constraints[0]", "impossible constraint", "ranges 128 .. 256"],
    ),
    (
        sweep_text(constraints="constraints:\n  - {metric: tdp, min: 800 W, max: 700 W}"),
        ["constraints[0]", "min 800 exceeds max 700"],
    ),
    (
        sweep_text(constraints="constraints:\n  - {metric: tdp, max: 700 mm2}"),
        ["constraints[0].max", "power"],
    ),
    (
        sweep_text(constraints="constraints:\n  - {expr: matrix.rowz * 2, max: 1}"),
        ["unknown name 'matrix.rowz'"],
    ),
    (
        sweep_text().replace(
            "{metric: tokens_per_s, goal: max}", "{metric: p99_latency_s, goal: min}"
        ),
        ["objectives[0].metric", "no metric 'p99_latency_s'"],
    ),
    (sweep_text().replace("llama3-8b", "llama-9b"), ["workloads[0].model", "unknown model"]),
    (sweep_text().replace("base: tigris-1", "base: tigris-2"), ["base", "unknown chip"]),
    (sweep_text() + "derived: {pes: matrix.rows *}\n", ["derived.pes", "unexpected end"]),
]


@pytest.mark.parametrize(("text", "fragments"), CASES)
def test_load_rejects(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write_sweep(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_train_plan_that_cannot_split_the_model(tmp_path: Path) -> None:
    text = sweep_text().replace(
        "- {task: prefill, model: llama3-8b, prompt_len: 128}",
        "- {task: train, model: llama3-8b, num_chips: 6, global_batch: 6, seq_len: 1024, "
        "plan: {tp: 6, dp: 1}}",
    )
    with pytest.raises(SpecError) as caught:
        load_sweep(write_sweep(tmp_path, text))
    assert "workloads[0].plan" in str(caught.value)
    assert "tp=6" in str(caught.value)


def test_tpe_needs_one_objective(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, ZDT1, sampler="tpe", batch=8)
    with pytest.raises(SpecError, match="tpe optimises one objective"):
        load_sweep(path)


@pytest.mark.parametrize("case", [0, 2, 6])
def test_cli_exits_2_before_writing_results(tmp_path: Path, case: int) -> None:
    text, fragments = CASES[case]
    path = write_sweep(tmp_path, text)
    db = tmp_path / "results.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "tigris.cli.explore", "run", str(path), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 4
    assert fragments[0] in " ".join(result.stderr.split())
    assert not db.exists()
