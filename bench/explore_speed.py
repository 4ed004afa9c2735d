"""Speed of design-space exploration on the example sweep (examples/better-tigris-1.yaml).

Target (issue 12): at least 10,000 design x workload evaluations per second per core on the
example, and a 1 -> 2 worker speed-up of at least 1.8x. Both rates are printed: designs/s
counts every design (those cut by the area and power constraints stop before the training
model), training evals/s only the pairs that ran the training model.

Prints:
- per core, in one process, designs evaluated in the sweep's batches as a worker does
  (evaluate_batch), median of REPEATS passes over the same random designs and the first
  pass alone (its caches cold): designs/s (infeasible ones included: they stop at the area
  and power constraints), training-step evaluations/s (design x workload pairs that ran
  the training model), where the time of one feasible design goes (tigris.parallel's step
  model, tigris.cost's area/power/cost, and the rest: building and validating the chip),
  and the training model's own rate;
- per core, the whole example grid in the sampler's order, each run in a fresh process;
- the machinery alone: the same designs through a closed-form synthetic workload (so the
  sweep's own cost, without any model, is seen);
- the 1 -> 2 worker speed-up of `run_sweep` over the whole grid of the example with a finer
  clock axis (~3x the designs, so worker start-up does not hide the scaling), store writes
  included, each run in a fresh process as the CLI runs: wall clock (the median ratio of
  5 back-to-back pairs), and from CPU seconds, which other sessions on the machine barely
  change while they do cap the wall-clock speed-up (Linux shares CPU between sessions):
  the 1-worker run's CPU over the 2-worker run's critical path on 2 idle cores (its
  busiest worker, or all its CPU, the parent's included, spread over the 2 cores).
Run: .venv/bin/python bench/explore_speed.py
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from tigris.explore import Evaluator, Store, load_sweep, run_sweep
from tigris.explore.runners import InlineRunner

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "better-tigris-1.yaml"
REPEATS = 5
DESIGNS = 600
PAIRS = 5  # 1-worker and 2-worker runs of the scaling sweep


def designs(sweep, count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{axis.path: rng.choice(axis.values) for axis in sweep.axes} for _ in range(count)]


def warm_runner(sweep) -> InlineRunner:
    """The runner `--workers 1` uses (one Evaluator, its heap frozen after its first
    batch), past that first batch: the models, op graphs, clusters and the step model's
    sharded graph loaded, as a worker has them. The caller closes it."""
    runner = InlineRunner(sweep)
    runner.submit(designs(sweep, 50, seed=99))
    runner.finished()
    return runner


def in_batches(runner: InlineRunner, sweep, designs: list[dict]) -> list:
    """Evaluate as a worker does: the sweep's batches through the runner."""
    size = sweep.search.batch
    for first in range(0, len(designs), size):
        runner.submit(designs[first : first + size])
    return [row for rows in runner.finished() for row in rows]


def per_core(sweep, batch: list[dict]) -> tuple[list[float], list[float], int]:
    """Designs/s and training evaluations/s of one in-process Evaluator, pass by pass over
    the same designs (the first pass finds the chip-part and geometry caches cold)."""
    runner = warm_runner(sweep)
    design_rates, train_rates = [], []
    ran = 0
    for _ in range(REPEATS):
        start = time.process_time()  # CPU seconds of this process: per core, whatever the load
        rows = in_batches(runner, sweep, batch)
        seconds = time.process_time() - start
        ran = sum(1 for row in rows if row.metrics)  # the workload ran (not cut by a constraint)
        design_rates.append(len(batch) / seconds)
        train_rates.append(ran * len(sweep.workloads) / seconds)
    runner.close()
    return design_rates, train_rates, ran


GRID_RUN = """
import sys, time
sys.path.insert(0, {bench!r})
from explore_speed import EXAMPLE, in_batches, warm_runner
from tigris.explore import load_sweep
from tigris.explore.samplers import GridSampler
sweep = load_sweep(EXAMPLE)
grid = GridSampler(sweep, set()).ask(sweep.space.size)
runner = warm_runner(sweep)
start = time.process_time()
rows = in_batches(runner, sweep, grid)
seconds = time.process_time() - start
print(len(grid) / seconds, sum(1 for row in rows if row.metrics) / seconds)
"""


def grid_in_order() -> tuple[float, float]:
    """Median designs/s and training evaluations/s of the whole grid in the sampler's order,
    each run in a fresh process (every cache cold, as a new worker finds them)."""
    runs = []
    for _ in range(3):
        code = GRID_RUN.format(bench=str(Path(__file__).resolve().parent))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr)
        runs.append(tuple(float(x) for x in out.stdout.split()))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


SCALING_RUN = """
import json, sys
sys.path.insert(0, {bench!r})
from explore_speed import PAIRS, finer_sweep, sweep_seconds
scaling = finer_sweep()
runs = {{1: [], 2: []}}
for pair in range(PAIRS):  # interleaved, order alternating, so drifting load hits both
    for workers in (1, 2) if pair % 2 == 0 else (2, 1):
        runs[workers].append(sweep_seconds(scaling, workers))
print(json.dumps([scaling.space.size, runs]))
"""


def worker_scaling() -> tuple[int, dict[int, list[list[float]]]]:
    """(designs, [wall s, CPU s, critical-path CPU s] of each run by worker count) of
    PAIRS back-to-back runs of the finer sweep with 1 and 2 workers, in a fresh process as
    `tigris explore run` is (workers fork from it: a process grown by the measurements
    above costs them copy-on-write faults that a user's run does not pay)."""
    code = SCALING_RUN.format(bench=str(Path(__file__).resolve().parent))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    size, runs = json.loads(out.stdout)
    return size, {int(k): v for k, v in runs.items()}


def _timed(spent: dict, depth: dict, module, name: str, key: str):
    """Replace module.name by a wrapper adding its CPU time to spent[key]; the original."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        if depth[key]:
            return original(*args, **kwargs)
        depth[key] += 1
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - start
            depth[key] -= 1

    setattr(module, name, wrapper)
    return original


def time_split(sweep, batch: list[dict]) -> dict[str, float]:
    """CPU seconds per design that ran the workload: in the step model, the cost model and
    the rest (chip building and validation, constraints, designs cut by a constraint)."""
    import tigris.cost as cost
    import tigris.parallel.step as step

    spent = {"step": 0.0, "cost": 0.0}
    depth = {"step": 0, "cost": 0}  # a call inside another of its kind is counted once
    timed = partial(_timed, spent, depth)
    originals = [
        (step.StepModel, "evaluate", timed(step.StepModel, "evaluate", "step")),
        (step.StepMemo, "evaluate_many", timed(step.StepMemo, "evaluate_many", "step")),
        *[
            (cost, name, timed(cost, name, "cost"))
            for name in (
                "estimate_area",
                "full_load_power",
                "estimate_tdp",
                "estimate_cost",
                "typical_power_w",
                "tco",
                "energy_per_token",
                "usd_per_million_tokens",
            )
        ],
    ]
    runner = None
    try:
        runner = warm_runner(sweep)
        in_batches(runner, sweep, batch)  # the caches as a long sweep has them
        spent.update(step=0.0, cost=0.0)
        start = time.process_time()
        rows = in_batches(runner, sweep, batch)
        total = time.process_time() - start
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
        if runner is not None:
            runner.close()
    count = sum(1 for row in rows if row.metrics) or 1
    return {
        "step model": spent["step"] / count,
        "cost model": spent["cost"] / count,
        "rest": (total - spent["step"] - spent["cost"]) / count,
    }


def machinery_only(sweep_path: Path, batch: list[dict]) -> float:
    """Designs/s with the example's axes and derived values but a closed-form workload."""
    text = sweep_path.read_text()
    head = text[: text.index("constraints:")]
    synthetic = (
        head
        + "workloads:\n  - {task: synthetic, function: zdt1, "
        + "inputs: [matrix.rows, matrix.cols, matrix.clock]}\n"
        + "objectives:\n  - {metric: f1, goal: min}\n  - {metric: f2, goal: min}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.yaml"
        path.write_text(synthetic)
        sweep = load_sweep(path)
    evaluator = Evaluator(sweep)
    rates = []
    for _ in range(REPEATS):
        start = time.process_time()
        for params in batch:
            evaluator.evaluate(params)
        rates.append(len(batch) / (time.process_time() - start))
    return statistics.median(rates)


def finer_sweep():
    """The example with its clock in 62.5 MHz steps instead of 250 MHz: the same designs'
    kind, ~3x as many, so that starting the worker processes (each imports the models and
    builds its graphs) does not hide how the work itself scales."""
    text = EXAMPLE.read_text()
    coarse = "step: '0.25 GHz'"
    assert coarse in text, "the example's clock axis changed: update finer_sweep"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "finer.yaml"
        path.write_text(text.replace(coarse, "step: '0.0625 GHz'"))
        return load_sweep(path)


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used (Linux: /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sweep_seconds(sweep, workers: int) -> tuple[float, float, float]:
    """Wall seconds of the whole grid as `tigris explore run --workers` runs it (the runner
    started, every row stored, the runner closed), the CPU seconds of this process and its
    workers together, and the longest critical path those CPU seconds allow on `workers`
    idle cores: the busiest worker, or all the CPU (the parent's too) spread over the
    cores, whichever is longer (one worker: this process's CPU)."""
    from tigris.explore.runners import make_runner

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        own_start, start = _own_cpu(), time.perf_counter()
        runner = make_runner(sweep, workers, None, False)
        progress = run_sweep(sweep, store, workers=workers, runner=runner)
        processes = getattr(runner, "_processes", [])
        worker_cpu = [_process_cpu(process.pid) for process in processes]  # before they end
        runner.close()
        seconds, own = time.perf_counter() - start, _own_cpu() - own_start
        assert progress.new == sweep.space.size
    total = own + sum(worker_cpu)
    critical = max([own, *worker_cpu]) if workers == 1 else max([*worker_cpu, total / workers])
    return seconds, total, critical


def main() -> None:
    sweep = load_sweep(EXAMPLE)
    batch = designs(sweep, DESIGNS)
    load_before = os.getloadavg()[0]  # a shared machine: other sessions' load beside each rate
    design_rates, train_rates, ran = per_core(sweep, batch)
    load_after = os.getloadavg()[0]
    design_rate, train_rate = statistics.median(design_rates), statistics.median(train_rates)
    split = time_split(sweep, batch)
    machinery = machinery_only(EXAMPLE, batch)
    load_before = os.getloadavg()[0]
    grid_designs, grid_train = grid_in_order()
    grid_load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(
        f"example sweep: {sweep.name}, {sweep.space.size} designs, {len(sweep.workloads)} workload"
    )
    print(
        f"per core ({DESIGNS} random designs in batches of {sweep.search.batch}, {ran} ran the "
        f"training model, median of {REPEATS} passes; load average {load_before:.1f} before, "
        f"{load_after:.1f} after, {os.cpu_count()} cores):"
    )
    print(f"  designs/s                          {design_rate:10.0f}")
    print(f"  design x workload training evals/s {train_rate:10.0f}   (target 10000)")
    print(
        f"  first pass (chip-part and geometry caches cold): {design_rates[0]:.0f} designs/s, "
        f"{train_rates[0]:.0f} training evals/s; the quickest pass (the least disturbed by "
        f"other sessions): {max(design_rates):.0f} designs/s, {max(train_rates):.0f} training "
        f"evals/s ({1e6 / max(train_rates):.0f} us of CPU per training evaluation)"
    )
    print(
        "  CPU per design that ran it: "
        + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in split.items())
    )
    step_rate = 1.0 / split["step model"]
    print(f"  the training model alone: {step_rate:.0f} evaluations/s (its share of the above)")
    print(f"  machinery alone (synthetic workload) {machinery:8.0f} designs/s")
    print(
        f"per core, the whole grid in the sampler's order, fresh process (median of 3): "
        f"{grid_designs:.0f} designs/s, {grid_train:.0f} training evals/s   (target 10000; "
        f"{grid_load})"
    )

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    size, runs = worker_scaling()
    print(
        f"whole grid of the example with a 62.5 MHz clock step ({size} designs) "
        f"through run_sweep (store writes included), {cores} cores here, "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print_scaling(size, runs)


def print_scaling(size: int, runs: dict[int, list[list[float]]]) -> None:
    """Wall clock, CPU and the speed-up the CPU seconds allow on idle cores."""
    (one, cpu_one, path_one), (two, cpu_two, path_two) = (
        [statistics.median(run[i] for run in runs[workers]) for i in range(3)] for workers in (1, 2)
    )
    for workers, wall, cpu in ((1, one, cpu_one), (2, two, cpu_two)):
        print(
            f"  {workers} worker{'s' if workers > 1 else ' '} {wall:6.2f} s wall {cpu:6.2f} s CPU"
            f"  {size / wall:6.0f} designs/s wall, {size / cpu:6.0f} per CPU second"
        )
    walls = sorted(a[0] / b[0] for a, b in zip(runs[1], runs[2], strict=True))
    paths = sorted(a[2] / b[2] for a, b in zip(runs[1], runs[2], strict=True))
    print(
        f"  1 -> 2 worker speed-up (wall clock): {statistics.median(walls):.2f}x, the median of "
        f"{PAIRS} back-to-back pairs ({', '.join(f'{r:.2f}' for r in walls)})"
    )
    print(
        f"  on 2 idle cores (CPU seconds: 1 worker's over the 2-worker run's critical path, "
        f"the busiest worker or all CPU over 2 cores): {statistics.median(paths):.2f}x, median "
        f"of the pairs ({', '.join(f'{r:.2f}' for r in paths)}); CPU of 2 workers + parent "
        f"{cpu_two / cpu_one:.2f}x that of 1 worker. Other sessions' load caps the wall-clock "
        "gain: Linux shares CPU between sessions (autogroup), so a second worker adds no CPU "
        "share while the machine is busy."
    )


if __name__ == "__main__":
    main()
